"""Reading a campaign back: round table, one round in detail, exports, plots (store only)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd

from calculators import values
from campaigns import plots
from storage.store import CampaignStore

GAP_UNITS = values.KD_UNITS


# column -> (unit, definition): what `gauss campaign history` prints, in --help and the README
HISTORY_COLUMNS: dict[str, tuple[str, str]] = {
    "round": ("", "round number; 0 is the initial labelled set"),
    "committed_at": ("UTC", "when the round was committed to the store"),
    "seeds": ("", "labelled ligands the round sampled around"),
    "candidates": ("", "unique, novel, rule-passing ligands sent to the KD calculator"),
    "calculations": ("", "KD calculations the round stored (candidates + recomputed seeds)"),
    "failed": ("", "calculations that failed; `show` gives each reason"),
    "lost_attempts": ("", "attempts lost to infrastructure (worker, walltime) and retried"),
    "median_gap_1": ("cm-1", "median first KD gap (KD2 - KD1) of the round's new ligands"),
    "max_gap_1": ("cm-1", "largest first KD gap among the round's new ligands"),
    "best_gap_1": ("cm-1", "largest first KD gap of every ligand labelled so far"),
    "seed_sample_r2": (
        "",
        "paper's seed-vs-sample R2: samples' 7 KD gaps 'predicted' by their seed's, averaged "
        "over gaps, seeds computed by the round's own method; < 0 when samples sit further "
        "from their seeds than from their own mean",
    ),
    "seed_sample_pearson": ("", "Pearson r of sample vs seed first gap (same method)"),
    "surrogate_cv_r2": ("", "5-fold CV R2 of the latent-space GP surrogate of gap_1"),
    "calculator": ("", "calculator that labelled the round's new ligands"),
    "label_methods": ("", "distinct methods among all labels so far (>1: mixed, see show)"),
}
MISSING = "n/a"  # printed for a metric that is undefined (e.g. R2 of fewer than 2 pairs)


def history(store: CampaignStore) -> pd.DataFrame:
    """One row per committed round with its headline metrics (units in HISTORY_COLUMNS)."""
    rows = []
    for r in store.rounds():
        m = r.manifest.get("metrics", {})
        new = m.get("new") or m.get("initial") or {}
        rows.append(
            {
                "round": r.round,
                "committed_at": r.committed_at,
                "seeds": len(r.manifest.get("seeds", [])),
                "candidates": m.get("candidates", 0),
                "calculations": m.get("calculations", 0),
                "failed": m.get("failed", 0),
                "lost_attempts": m.get("lost_attempts", 0),
                "median_gap_1": new.get("median"),
                "max_gap_1": new.get("max"),
                "best_gap_1": m.get("best_gap_1"),
                "seed_sample_r2": m.get("seed_sample_r2"),
                "seed_sample_pearson": m.get("seed_sample_pearson"),
                "surrogate_cv_r2": m.get("surrogate_cv_r2"),
                "calculator": r.manifest.get("calculator", {}).get("name"),
                "label_methods": len(m.get("label_methods") or {}) or None,
            }
        )
    table = pd.DataFrame(rows, columns=list(HISTORY_COLUMNS))
    table.attrs["units"] = units_of(table.columns)
    return table


def units_of(columns) -> dict[str, str]:
    """Units of the columns that have one (gaps in cm-1)."""
    known = {**{c: u for c, (u, _) in HISTORY_COLUMNS.items()}, **GAP_UNITS}
    return {c: known[c] for c in columns if known.get(c)}


def with_units(table: pd.DataFrame) -> pd.DataFrame:
    """Column labels with their unit, e.g. `median_gap_1 [cm-1]`, for printed tables."""
    units = units_of(table.columns)
    return table.rename(columns={c: f"{c} [{u}]" for c, u in units.items()})


def definitions() -> str:
    """Each history column, its unit and what it means (for --help and the README)."""
    return "\n".join(
        f"{name}{f' [{unit}]' if unit else ''}: {text}"
        for name, (unit, text) in HISTORY_COLUMNS.items()
    )


WHERE = ("job_id", "node", "started_at")


def where_it_ran(store: CampaignStore, k: int) -> dict[str, dict[str, Any]]:
    """Per calculation key (as of round k): batch job, node, start and every failed attempt.

    Rows stored before placements were recorded read as None / no attempts. An ok row wins
    over a failed one of the same key (a retried calculation).
    """
    calcs = store.read("calculations", round=k)
    if not len(calcs):
        return {}
    calcs = calcs.sort_values("status", key=lambda s: s != "ok", kind="stable")
    out = {}
    for row in calcs.drop_duplicates("key").to_dict("records"):
        attempts = row.get("failed_attempts")
        out[row["key"]] = {
            **{name: _text(row.get(name)) for name in WHERE},
            "failed_attempts": json.loads(attempts) if isinstance(attempts, str) else [],
        }
    return out


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def show(store: CampaignStore, k: int) -> dict[str, Any]:
    """Seeds, candidates and results of round k, as committed, with where each one ran."""
    rounds = {r.round: r for r in store.rounds()}
    if k not in rounds:
        raise ValueError(f"campaign {store.name!r} has no committed round {k}")
    labels = store.read("labels", round=k)
    labels = labels[labels["round"] == k]
    cands = store.read("candidates", round=k)
    cands = cands[cands["round"] == k] if "round" in cands.columns else cands
    where = where_it_ran(store, k)
    return {
        "round": k,
        "manifest": rounds[k].manifest,
        "seeds": rounds[k].manifest.get("seeds", []),
        "candidates": cands.drop(columns=["round"], errors="ignore").to_dict("records"),
        "results": [
            {**row, **where.get(row["key"], {"failed_attempts": []})}
            for row in labels.drop(columns=["round"], errors="ignore").to_dict("records")
        ],
    }


def export(store: CampaignStore, k: int, out: Path) -> Path:
    """Labels of every ligand known as of round k (with origin and seed) to Parquet."""
    if not Path(out).parent.is_dir():
        raise ValueError(f"export: directory {Path(out).parent} does not exist (create it first)")
    labels = store.read("labels", round=k)
    ligands = store.read("ligands", round=k)[["smiles", "origin", "seed", "canonical_smiles"]]
    table = labels.merge(ligands.drop_duplicates("smiles"), on="smiles", how="left")
    table.attrs["units"] = units_of(table.columns)  # kept in the Parquet's pandas metadata
    out = Path(out)
    table.to_parquet(out, index=False)
    return out


def round_plots(store: CampaignStore, k: int) -> list[Path]:
    """Write the latent map and KD-shift PNGs of round k into the campaign's plots/ folder."""
    info = show(store, k)
    out = store.path / "plots"
    method = info["manifest"].get("calculator", {}).get("method", "")
    paths = []
    lat = store.read("latent", round=k)
    labels = store.read("labels", round=k)
    methods = "; ".join(f"{m} ({n})" for m, n in labels["method"].value_counts().items())
    if "round" in lat.columns and (lat["round"] == k).any():
        paths.append(
            plots.latent_plot(
                lat[lat["round"] == k],
                out / f"round-{k:03d}-latent.png",
                f"{store.name} round {k}: latent map (first KD gap)",
                methods,
            )
        )
    initial = store.read("labels", round=0)
    seeds = labels[labels["smiles"].isin(info["seeds"])].drop_duplicates("smiles")
    new = pd.DataFrame(info["results"]) if k > 0 else labels.iloc[:0]
    groups = [
        ("initial set", initial["gap_1"].to_numpy(dtype=float), _one_method(initial)),
        ("seeds", seeds["gap_1"].to_numpy(dtype=float), _one_method(seeds)),
        ("new ligands", new["gap_1"].to_numpy(dtype=float), _one_method(new)),
    ]
    paths.append(
        plots.kd_shift_plot(
            groups, out / f"round-{k:03d}-kd.png", f"{store.name} round {k}: first KD gap", method
        )
    )
    return paths


def _one_method(rows: pd.DataFrame) -> str:
    """The method of a group of labels ('mixed' when they come from more than one)."""
    found = rows["method"].dropna().unique() if "method" in rows else []
    return found[0] if len(found) == 1 else ("mixed" if len(found) else "")
