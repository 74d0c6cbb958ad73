"""`gauss model …`: train the GAUSS-II VAE, sample around seeds, draw latent maps."""

from __future__ import annotations

import json
import shlex
import sys
from pathlib import Path
from typing import Annotated

import typer

from flows.cli_errors import fail
from flows.settings import get_settings

app = typer.Typer(help="The GAUSS-II model: train, sample, map.", no_args_is_help=True)


@app.command("train")
def train_cmd(
    labels: Annotated[Path, typer.Option(help="proxy-label Parquet (gauss calc proxy output)")],
    out: Annotated[Path, typer.Option(help="output directory (model.pt, metrics.jsonl)")],
    corpus: Annotated[Path | None, typer.Option(help="ligand corpus Parquet")] = None,
    n_unlabelled: Annotated[int, typer.Option(help="unlabelled corpus ligands to add")] = 20000,
    max_epochs: Annotated[
        int, typer.Option(help="epoch cap (early stopping may end sooner)")
    ] = 100,
    seed: Annotated[int, typer.Option(help="seed of the data draw, split and training")] = 0,
    tokenizer: Annotated[str, typer.Option(help="regex (whole atoms) or char (paper)")] = "regex",
    device: Annotated[str, typer.Option(help="auto, cpu or cuda")] = "auto",
    init_from: Annotated[
        Path | None,
        typer.Option(help="warm start from this checkpoint's weights (same tokenizer)"),
    ] = None,
) -> None:
    """Train semi-supervised: all rows train the VAE, labelled rows also the proxy head.

    Resumes from OUT/resume.pt when the data and settings are unchanged, so a killed run (or a
    higher --max-epochs) continues where it stopped.
    """
    import pandas as pd

    from gauss import corpus as corpus_mod
    from gauss.dataset import train_from_corpus
    from gauss.train import TrainConfig

    corpus = corpus or get_settings().corpus
    try:
        corpus_df = corpus_mod.load(corpus)
    except corpus_mod.CorpusError as exc:
        fail(str(exc))
    if not labels.is_file():
        fail(f"proxy labels not found: {labels}")
    if init_from is not None and not init_from.is_file():
        fail(f"--init-from checkpoint not found: {init_from}")
    cfg = TrainConfig(
        max_epochs=max_epochs,
        seed=seed,
        tokenizer_mode=tokenizer,
        device=device,
        init_from=str(init_from) if init_from else None,
    )
    summary, table = train_from_corpus(corpus_df, pd.read_parquet(labels), out, n_unlabelled, cfg)
    record = {
        "command": shlex.join(["gauss", *sys.argv[1:]]),
        "corpus": str(corpus),
        "corpus_sha256": corpus_mod.file_sha256(corpus),
        "labels": str(labels),
        "labels_sha256": corpus_mod.file_sha256(labels),
        "rows": len(table),
        "labelled_rows": int(table["charge"].notna().sum()),
        **summary,
    }
    (Path(out) / "training.json").write_text(json.dumps(record, indent=2, default=str) + "\n")
    typer.echo(json.dumps(record["best"], indent=2, default=str))


@app.command("sample")
def sample_cmd(
    seeds: Annotated[list[str], typer.Argument(help="donor-first seed SMILES")],
    model: Annotated[Path | None, typer.Option(help="checkpoint (default: shipped model)")] = None,
    n: Annotated[int, typer.Option(help="unique novel ligands wanted per seed")] = 10,
    sigma: Annotated[list[float] | None, typer.Option(help="sigma schedule (repeatable)")] = None,
    steps: Annotated[int, typer.Option(help="batches per sigma")] = 40,
    seed: Annotated[int, typer.Option(help="random seed")] = 0,
    out: Annotated[Path | None, typer.Option(help="write all samples to this Parquet")] = None,
) -> None:
    """LP-sample new ligands around seed ligands (z' = z + sigma * eps), novel vs the corpus."""
    from gauss import chem, corpus, sampling
    from gauss.model import load_checkpoint
    from gauss.tokenizer import TokenizerError

    try:
        lm = load_checkpoint(model or get_settings().model)
        ligs = [chem.ligand(s).smiles for s in seeds]
        z = sampling.encode_smiles(lm, ligs)
    except (chem.LigandError, TokenizerError, FileNotFoundError) as exc:
        fail(str(exc))
    known = set(corpus.load(get_settings().corpus)["canonical_smiles"])
    plan = sampling.SamplingPlan(n, tuple(sigma or (0.1, 0.2, 0.3)), steps, seed=seed)
    samples = sampling.lp_sample(lm, z, known, plan, seed_ids=ligs)
    if out:
        samples.to_parquet(out, index=False)
    chosen = samples[samples["unique"]]
    for row in chosen.itertuples():
        typer.echo(f"{row.seed_id}\t{row.sigma}\t{row.ligand}")
    typer.echo(json.dumps(sampling.sample_stats(samples)), err=True)


@app.command("map")
def map_cmd(
    table: Annotated[Path, typer.Argument(help="Parquet/CSV with `smiles` and the colour column")],
    color: Annotated[str, typer.Option(help="column to colour by, e.g. gap_1 or charge")],
    out: Annotated[Path, typer.Option(help="PNG to write")],
    model: Annotated[Path | None, typer.Option(help="checkpoint (default: shipped model)")] = None,
) -> None:
    """Encode a ligand table, project the latent means to 2-D (PCA), plot coloured by a column."""
    import pandas as pd

    from gauss import latent, sampling
    from gauss.model import load_checkpoint

    df = pd.read_parquet(table) if table.suffix == ".parquet" else pd.read_csv(table)
    if color not in df.columns:
        fail(f"column {color!r} not in {table}; columns: {list(df.columns)}")
    df = df[df[color].notna()]
    lm = load_checkpoint(model or get_settings().model)
    z = sampling.encode_smiles(lm, df["smiles"].tolist())
    lmap = latent.fit_map(z)
    latent.plot_map(lmap, df[color].to_numpy(), out, color)
    typer.echo(f"wrote {out} ({len(df)} ligands; PC1/PC2 explain {lmap.explained})")
