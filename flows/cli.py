"""`gauss` command line: one verb group per stage of the workflow."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from flows.cli_calc import app as calc_app
from flows.cli_campaign import app as campaign_app
from flows.cli_errors import fail
from flows.cli_model import app as model_app
from flows.cli_server import server
from flows.settings import get_settings

app = typer.Typer(
    help="GAUSS campaign orchestrator: design Dy(III) single-molecule magnets with a "
    "proxy-trained SMILES VAE, round after round.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
corpus_app = typer.Typer(
    help="The ligand corpus: every N/O donor ligand derived from QM9.", no_args_is_help=True
)
app.add_typer(corpus_app, name="corpus")
app.add_typer(model_app, name="model")
app.add_typer(calc_app, name="calc")
app.add_typer(campaign_app, name="campaign")
app.command("server")(server)


@corpus_app.command("build")
def corpus_build(
    source: Annotated[
        Path | None, typer.Option(help="QM9 CSV(.gz) with index,smiles columns")
    ] = None,
    out: Annotated[Path | None, typer.Option(help="output Parquet path")] = None,
    workers: Annotated[int, typer.Option(help="worker processes (0 = all cores)")] = 0,
    force: Annotated[bool, typer.Option(help="rebuild even if the corpus is up to date")] = False,
) -> None:
    """Build the donor-first ligand corpus (Parquet + dataset card) from QM9.

    Neutral ligands (one row per N/O donor atom) and mono-anions (deprotonated N-H, O-H and
    C-H acids, charge placed on N/O by resonance). Skips the build when the existing card
    says it was made from the same source by the same builder, unless --force.
    """
    from gauss import corpus

    settings = get_settings()
    source = source or settings.corpus_source
    out = out or settings.corpus
    if not force and corpus.is_current(source, out):
        typer.echo(f"corpus up to date: {out} (use --force to rebuild)")
        return
    try:
        card = corpus.build(source, out, workers=workers or settings.workers or None)
    except corpus.CorpusError as exc:
        fail(str(exc))
    typer.echo(corpus.summary(card, out))


@corpus_app.command("info")
def corpus_info(
    path: Annotated[Path | None, typer.Argument(help="corpus Parquet path")] = None,
) -> None:
    """Print the dataset card of a built corpus (counts, source, build time)."""
    from gauss import corpus

    path = path or get_settings().corpus
    card_file = corpus.card_path(path)
    if not card_file.is_file():
        fail(f"no dataset card at {card_file}: run `gauss corpus build` first")
    card = json.loads(card_file.read_text())
    typer.echo(json.dumps({k: v for k, v in card.items() if k != "rejected"}, indent=2))


if __name__ == "__main__":
    app()
