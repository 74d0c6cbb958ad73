"""Quality report of a trained GAUSS-II checkpoint: the paper's Fig. 2c checks plus our own.

(a) held-out reconstruction of corpus ligands the model never saw; (b) proxy-head R^2 on the
labelled rows of the training run's validation split, with a parity plot; (c) a Fig. 2c-style
LP sampling sweep from one seed (valid / novel / unique % per sigma, cumulative counts);
(d) a latent PCA map coloured by the donor charge proxy. The training table is rebuilt from the
corpus and labels exactly as `gauss model train` drew it, and checked against the checkpoint's
data hash, so "held-out" and "validation" mean what they say.

Usage: .venv/bin/python scripts/model_report.py --model models/gauss2-calibrated/model.pt \
           --out docs/figures [--threads 2]
Writes OUT/model_report.json, OUT/parity.png, OUT/sigma_sweep.png, OUT/latent_charge.png;
the last printed line is key=value figures.
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from gauss import chem, latent
from gauss.dataset import encodable, training_table
from gauss.model import LoadedModel, load_checkpoint
from gauss.sampling import (
    check_sample,
    decode_distinct,
    decode_ids,
    encode_smiles,
    predict_properties,
)
from gauss.train import data_hash, r2_scores, split_indices

plt = latent.plt  # gauss.latent has already selected the Agg backend

Check = tuple[bool, bool, str, str]  # (valid, donor_ok, canonical, ligand key), as check_sample
FIG2C_SIGMAS = tuple(round(0.05 * i, 2) for i in range(21))


@dataclass(frozen=True)
class ReportConfig:
    """Sizes of each part; the defaults run in a few minutes on 2 cores."""

    n_heldout: int = 5000
    n_map: int = 5000
    sigmas: tuple[float, ...] = FIG2C_SIGMAS
    n_batches: int = 50
    batch_size: int = 100
    seed: int = 0


@dataclass
class CheckCache:
    """RDKit verdicts per decoded string: at small sigma the same strings come back often."""

    verdicts: dict[str, Check] = field(default_factory=dict)
    seconds: float = 0.0

    def check(self, strings: list[str]) -> list[Check]:
        start = time.perf_counter()
        out = []
        for smi in strings:
            if smi not in self.verdicts:
                self.verdicts[smi] = check_sample(smi)
            out.append(self.verdicts[smi])
        self.seconds += time.perf_counter() - start
        return out


# --- the training run's data --------------------------------------------------------------


def ok_labels(labels: pd.DataFrame) -> pd.DataFrame:
    """Labelled ligands as training_table keeps them (status ok, one row per SMILES)."""
    return labels[labels["status"] == "ok"].drop_duplicates("smiles")


def rebuild_training_table(
    lm: LoadedModel, corpus: pd.DataFrame, labels: pd.DataFrame
) -> tuple[pd.DataFrame, bool]:
    """The exact table the checkpoint was trained on, and whether its data hash matches.

    The checkpoint stores row counts, not rows; n_unlabelled follows from them because
    `gauss model train` draws n_unlabelled corpus rows on top of the ok labels.
    """
    info = lm.info
    seed = int(info.get("train_config", {}).get("seed", 0))
    labelled = training_table(corpus, labels, 0, seed)  # training drops what it cannot encode
    n_labelled = int(encodable(lm.tokenizer, labelled["smiles"].tolist()).sum())
    n_unlabelled = int(info["n_train"]) + int(info["n_val"]) - n_labelled
    table = training_table(corpus, labels, max(n_unlabelled, 0), seed)
    table = table[encodable(lm.tokenizer, table["smiles"].tolist())].reset_index(drop=True)
    verified = data_hash(table, ["smiles", *lm.target_names]) == info.get("data_hash")
    return table, verified


def validation_rows(lm: LoadedModel, table: pd.DataFrame) -> pd.DataFrame:
    """The validation split of the training run (same seed and fraction as gauss.train)."""
    cfg = lm.info.get("train_config", {})
    _, val_idx = split_indices(len(table), float(cfg.get("val_fraction", 0.05)), cfg.get("seed", 0))
    return table.iloc[val_idx]


def draw(df: pd.DataFrame, n: int, seed: int) -> pd.DataFrame:
    """Seeded subset of at most n rows, in table order (reproducible between runs)."""
    if len(df) <= n:
        return df
    rng = np.random.default_rng(seed)
    return df.iloc[np.sort(rng.choice(len(df), n, replace=False))]


# --- (a) reconstruction ---------------------------------------------------------------------


def reconstruction(lm: LoadedModel, smiles: list[str], cache: CheckCache) -> dict:
    """Encode to mu, greedy-decode: whole-SMILES, token and validity rates."""
    tokens = lm.tokenizer.encode_batch(smiles)
    guess = decode_ids(lm, encode_smiles(lm, smiles))
    same = guess == tokens
    real = tokens != 0
    decoded = lm.tokenizer.decode_batch(guess)
    return {
        "n": len(smiles),
        "string_accuracy": float(same.all(axis=1).mean()),
        "token_accuracy": float(same.mean()),  # all positions, as gauss.train.evaluate
        "token_accuracy_nonpad": float(same[real].mean()),
        "valid": float(np.mean([v[0] for v in cache.check(decoded)])),
        "examples": [[s, d] for s, d in zip(smiles[:5], decoded[:5], strict=True)],
    }


def heldout_smiles(
    lm: LoadedModel, corpus: pd.DataFrame, table: pd.DataFrame, n: int, seed: int
) -> list[str]:
    """n corpus ligands outside the training table that the tokenizer can encode."""
    pool = corpus.loc[~corpus["smiles"].isin(table["smiles"]), ["smiles"]]
    picked = draw(pool, 2 * n, seed)["smiles"].tolist()  # spare rows for unencodable ones
    return [s for s, ok in zip(picked, encodable(lm.tokenizer, picked), strict=True) if ok][:n]


# --- (b) proxy head -----------------------------------------------------------------------


def proxy_r2(lm: LoadedModel, val: pd.DataFrame) -> tuple[dict, np.ndarray, np.ndarray]:
    """Per-target R^2 of head(mu) on labelled validation ligands, in original units."""
    names = lm.target_names
    val = val[val[names].notna().any(axis=1)]
    pred = predict_properties(lm, encode_smiles(lm, val["smiles"].tolist()))
    target = val[names].to_numpy(dtype=np.float64)
    scores = dict(zip(names, r2_scores(pred, target), strict=True))
    return {"n": len(val), "r2": scores}, pred, target


def published_rows(labels: pd.DataFrame) -> set[str]:
    """SMILES whose proxy labels are the published LoProp values (not calibrated xTB)."""
    if "source" not in labels.columns:
        return set()
    return set(labels.loc[labels["source"] == "published", "smiles"])


def plot_parity(names: list[str], pred: np.ndarray, target: np.ndarray, r2: dict, path: Path):
    """One panel per target: prediction against label, with the diagonal."""
    cols = 2 if len(names) > 1 else 1
    rows = -(-len(names) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 3.8 * rows), dpi=110, squeeze=False)
    for ax, j, name in zip(axes.flat, range(len(names)), names, strict=False):
        t, p = target[:, j], pred[:, j]
        mask = np.isfinite(t)
        ax.scatter(t[mask], p[mask], s=4, alpha=0.4, linewidths=0)
        lims = [
            np.nanmin([t[mask].min(), p[mask].min()]),
            np.nanmax([t[mask].max(), p[mask].max()]),
        ]
        ax.plot(lims, lims, "k--", lw=0.8)
        ax.set(xlabel=f"{name} (label)", ylabel=f"{name} (predicted)")
        ax.set_title(f"{name}: R$^2$ = {r2[name]:.3f} (n = {int(mask.sum())})", fontsize=9)
    for ax in list(axes.flat)[len(names) :]:
        ax.axis("off")
    fig.suptitle("proxy head on the validation split (head applied to mu)", fontsize=10)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


# --- (c) Fig. 2c sweep --------------------------------------------------------------------


def sweep_step(
    lm: LoadedModel, seed_z: np.ndarray, sigma: float, n: int, rng: np.random.Generator
) -> tuple[list[str], np.ndarray]:
    """n LP samples z' = z + sigma * eps, decoded; sigma 0 decodes the seed once."""
    if sigma == 0:
        strings, _ = decode_distinct(lm, seed_z[None, :])
        return strings, np.zeros(n, dtype=np.int64)
    z = seed_z[None, :] + np.float32(sigma) * rng.standard_normal((n, len(seed_z)), np.float32)
    return decode_distinct(lm, z)


def sigma_sweep(
    lm: LoadedModel,
    seed_z: np.ndarray,
    known: set[str],
    cfg: ReportConfig,
    cache: CheckCache | None = None,
) -> pd.DataFrame:
    """Per sigma: valid / novel / unique fractions of n_batches * batch_size LP samples.

    novel = valid and canonical SMILES not in `known`; unique = novel and first of its
    canonical SMILES within the sigma step; cum_* accumulate over the sweep (the paper's right
    axis), cum_unique counting each novel molecule once over all steps.
    """
    cache = cache or CheckCache()
    rng = np.random.default_rng(cfg.seed)
    n = cfg.n_batches * cfg.batch_size
    seen: set[str] = set()
    rows, cum_novel = [], 0
    for sigma in cfg.sigmas:
        strings, inverse = sweep_step(lm, np.asarray(seed_z, np.float32), sigma, n, rng)
        verdicts = cache.check(strings)
        valid = np.array([v[0] for v in verdicts])
        novel = valid & np.array([v[2] not in known for v in verdicts])
        counts = np.bincount(inverse, minlength=len(strings))
        donor_ok = np.array([v[1] for v in verdicts])
        novel_canon = {verdicts[i][2] for i in np.flatnonzero(novel)}
        cum_novel += int(counts[novel].sum())
        seen |= novel_canon
        rows.append(
            {
                "sigma": float(sigma),
                "samples": n,
                "valid": float(counts[valid].sum() / n),
                "donor_ok": float(counts[donor_ok].sum() / n),
                "novel": float(counts[novel].sum() / n),
                "unique": len(novel_canon) / n,
                "cum_samples": n * (len(rows) + 1),
                "cum_novel": cum_novel,
                "cum_unique": len(seen),
            }
        )
    return pd.DataFrame(rows)


def plot_sweep(curve: pd.DataFrame, path: Path, seed_smiles: str) -> None:
    """Fig. 2c layout: percentages on the left axis, cumulative counts on the right."""
    fig, ax = plt.subplots(figsize=(7.2, 4.6), dpi=120)
    for key, colour in (("valid", "C0"), ("novel", "C1"), ("unique", "C2")):
        ax.plot(curve["sigma"], 100 * curve[key], "o-", ms=3, color=colour, label=f"{key} %")
    ax.set(xlabel="sigma (std of the LP noise)", ylabel="% of samples", ylim=(-2, 102))
    right = ax.twinx()
    right.plot(curve["sigma"], curve["cum_novel"], "--", color="C1", label="cumulative novel")
    right.plot(curve["sigma"], curve["cum_unique"], "--", color="C2", label="cumulative unique")
    right.set_ylabel(f"cumulative count ({int(curve['cum_samples'].iloc[-1])} samples)")
    handles = ax.get_legend_handles_labels()[0] + right.get_legend_handles_labels()[0]
    ax.legend(handles=handles, loc="upper center", bbox_to_anchor=(0.5, -0.14), ncol=5, fontsize=7)
    ax.set_title(
        f"LP sampling around {seed_smiles}\npaper Fig. 2c: valid 100% at sigma 0, bell-shaped "
        "decline to ~0 at sigma 1; novel/unique peak near 0.3",
        fontsize=9,
    )
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def default_seed(labels: pd.DataFrame, min_heavy: int = 8) -> str:
    """First labelled ligand of typical QM9 size: a 2-atom seed says little about novelty."""
    for smi in ok_labels(labels)["smiles"]:
        if chem.parse(smi).GetNumHeavyAtoms() >= min_heavy:
            return smi
    return str(ok_labels(labels)["smiles"].iloc[0])


# --- (d) latent map -------------------------------------------------------------------------


def charge_map(lm: LoadedModel, labelled: pd.DataFrame, path: Path) -> dict:
    """PCA of latent means coloured by the donor-charge proxy (paper Figs. 4, 7, 9)."""
    labelled = labelled[labelled["charge"].notna()]
    lmap = latent.fit_map(encode_smiles(lm, labelled["smiles"].tolist()))
    latent.plot_map(
        lmap,
        labelled["charge"].to_numpy(),
        path,
        "donor charge proxy (e)",
        f"latent means of {len(labelled)} labelled ligands, PCA",
    )
    pc1 = np.corrcoef(lmap.coords[:, 0], labelled["charge"])[0, 1] if len(labelled) > 2 else 0.0
    return {"n": len(labelled), "explained": list(lmap.explained), "pc1_charge_corr": float(pc1)}


# --- the whole report ---------------------------------------------------------------------


def run_report(
    lm: LoadedModel,
    corpus: pd.DataFrame,
    labels: pd.DataFrame,
    out: Path,
    cfg: ReportConfig = ReportConfig(),
    seed_smiles: str | None = None,
) -> dict:
    """All four parts; writes the PNGs and model_report.json under `out`, returns the dict."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    start, cache = time.perf_counter(), CheckCache()
    table, verified = rebuild_training_table(lm, corpus, labels)
    held = heldout_smiles(lm, corpus, table, cfg.n_heldout, cfg.seed)
    val = validation_rows(lm, table)
    r2, pred, target = proxy_r2(lm, val)
    published = published_rows(labels)
    plot_parity(lm.target_names, pred, target, r2["r2"], out / "parity.png")
    seed_smiles = seed_smiles or default_seed(labels)
    seed_z = encode_smiles(lm, [seed_smiles])[0]
    seed_decoded = lm.tokenizer.decode_batch(decode_ids(lm, seed_z[None, :]))[0]
    curve = sigma_sweep(lm, seed_z, set(corpus["canonical_smiles"]), cfg, cache)
    plot_sweep(curve, out / "sigma_sweep.png", seed_smiles)
    report = {
        "checkpoint": {k: lm.info.get(k) for k in ("run_id", "data_hash", "epoch", "n_train")},
        "training_table": {"rows": len(table), "hash_verified": bool(verified)},
        "heldout_reconstruction": reconstruction(lm, held, cache),
        "proxy_r2": {**r2, "checkpoint_val_r2": lm.info.get("val", {}).get("r2")},
        # against the real published LoProp values (labels whose source is "published")
        "proxy_r2_published_validation": proxy_r2(lm, val[val["smiles"].isin(published)])[0]
        if published
        else None,
        "proxy_r2_published_all": proxy_r2(lm, table[table["smiles"].isin(published)])[0]
        if published
        else None,
        "sigma_sweep": {
            "seed": seed_smiles,
            "seed_decoded": seed_decoded,
            "seed_decoded_valid": bool(cache.check([seed_decoded])[0][0]),
            "config": asdict(cfg),
            "curve": curve.to_dict(orient="records"),
        },
        "latent_map": charge_map(
            lm, draw(ok_labels(labels), cfg.n_map, cfg.seed), out / "latent_charge.png"
        ),
        "figures": ["parity.png", "sigma_sweep.png", "latent_charge.png"],
    }
    report["seconds"] = round(time.perf_counter() - start, 1)
    (out / "model_report.json").write_text(json.dumps(report, indent=2) + "\n")
    return report


def summary_line(report: dict) -> str:
    """The key=value figures of the last printed line."""
    rec, curve = report["heldout_reconstruction"], report["sigma_sweep"]["curve"]
    peak = max(curve, key=lambda r: r["unique"])
    figures = {
        "heldout_string_acc": rec["string_accuracy"],
        "heldout_token_acc": rec["token_accuracy_nonpad"],
        **{f"r2_{k}": v for k, v in report["proxy_r2"]["r2"].items()},
        **{
            f"r2_published_val_{k}": v
            for k, v in (report.get("proxy_r2_published_validation") or {}).get("r2", {}).items()
        },
        "valid_sigma0": curve[0]["valid"],
        "valid_sigma_max": curve[-1]["valid"],
        "unique_peak_sigma": peak["sigma"],
        "cum_unique": curve[-1]["cum_unique"],
        "hash_verified": report["training_table"]["hash_verified"],
    }
    return " ".join(
        f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in figures.items()
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", type=Path, default=Path("models/gauss2-calibrated/model.pt"))
    parser.add_argument("--out", type=Path, default=Path("docs/figures"))
    parser.add_argument("--corpus", type=Path, default=Path("data/ligands.parquet"))
    parser.add_argument("--labels", type=Path, default=Path("data/proxy_labels.parquet"))
    parser.add_argument("--seed-smiles", default=None, help="LP seed (default: see default_seed)")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch default)")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    lm = load_checkpoint(args.model)
    corpus, labels = pd.read_parquet(args.corpus), pd.read_parquet(args.labels)
    report = run_report(lm, corpus, labels, args.out, seed_smiles=args.seed_smiles)
    rec = report["heldout_reconstruction"]
    print(f"checkpoint {args.model} epoch {report['checkpoint']['epoch']}; {report['seconds']} s")
    print(f"training table rebuilt: {report['training_table']}")
    print(f"held-out reconstruction (n={rec['n']}): {json.dumps(rec['examples'][:3])}")
    print(f"proxy R2 (n={report['proxy_r2']['n']}): {report['proxy_r2']['r2']}")
    for part in ("validation", "all"):
        found = report.get(f"proxy_r2_published_{part}")
        if found:
            print(f"proxy R2 vs published LoProp, {part} (n={found['n']}): {found['r2']}")
    print(pd.DataFrame(report["sigma_sweep"]["curve"]).round(4).to_string(index=False))
    print(f"latent map: {report['latent_map']}")
    print(summary_line(report))


if __name__ == "__main__":
    main()
