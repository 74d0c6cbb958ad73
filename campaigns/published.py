"""Published CASSCF KD gaps as a campaign's initial labels (the paper's 1k-labelled latent map).

`data/published/kd_casscf.tsv` holds real values of the seed paper (provenance in
`data/published/README.md`): KD gaps of [Dy(H2O)5L2]+ from SA-CASSCF(9,7) + spin-orbit coupling
on BP86-D3(BJ) geometries (ORCA 5). A campaign started from them labels round 0 with these
numbers, stores their method as such, and runs no calculation for them.
"""

from __future__ import annotations

import hashlib
from functools import cache
from pathlib import Path

import numpy as np
import pandas as pd

from calculators import values
from gauss import chem
from gauss.corpus import file_sha256

REPO_ROOT = Path(__file__).resolve().parents[1]
PUBLISHED_KD = REPO_ROOT / "data" / "published" / "kd_casscf.tsv"
PUBLISHED_METHOD = (
    "published CASSCF (GAUSS-II paper: ORCA 5 SA-CASSCF(9,7)+SOC on BP86-D3(BJ)/DKH-def2-TZVPP "
    "Y-analogue geometry)"
)
PUBLISHED_CALCULATOR = "published-casscf"
GAPS = list(values.GAPS)


class PublishedDataError(ValueError):
    """The published table is missing or unreadable; the message names the file."""


@cache
def published_kd(path: Path = PUBLISHED_KD) -> pd.DataFrame:
    """Rows with a usable ligand: smiles (project's donor-first form), gap_1..gap_7, class.

    The authors' SMILES are re-rooted at their first atom (their donor) by `gauss.chem`, so
    they compare equal to corpus and sampled ligands; rows RDKit cannot read are dropped and
    counted in ``attrs["dropped"]``; duplicates keep their first row.
    """
    path = Path(path)
    if not path.is_file():
        raise PublishedDataError(f"published KD table not found: {path}")
    raw = pd.read_csv(path, sep="\t")
    missing = {"smiles", "class", *(f"kd_{i}" for i in range(1, 8))} - set(raw.columns)
    if missing:
        raise PublishedDataError(f"{path} lacks columns {sorted(missing)}")
    rows, dropped = [], 0
    for rec in raw.itertuples(index=False):
        try:
            lig = chem.ligand(str(rec.smiles))
        except chem.LigandError:
            dropped += 1
            continue
        gaps = [float(getattr(rec, f"kd_{i}")) for i in range(1, 8)]
        if not all(np.isfinite(gaps)):
            dropped += 1
            continue
        gap_values = dict(zip(GAPS, gaps, strict=True))
        rows.append({"smiles": lig.smiles, "class": int(rec[1]), **gap_values})
    table = pd.DataFrame(rows).drop_duplicates("smiles").reset_index(drop=True)
    table.attrs["dropped"] = dropped
    table.attrs["sha256"] = file_sha256(path)
    return table


def draw(n: int, rng_seed: int, path: Path = PUBLISHED_KD) -> pd.DataFrame:
    """A seeded draw of n published rows (all of them when n exceeds the table)."""
    table = published_kd(path)
    n = min(n, len(table))
    rows = np.sort(np.random.default_rng(rng_seed).choice(len(table), n, replace=False))
    return table.iloc[rows].reset_index(drop=True)


def label_rows(table: pd.DataFrame, source_sha256: str) -> pd.DataFrame:
    """Label rows (the store's `labels` columns) for published values: no calculation behind."""
    keys = [
        hashlib.sha256(f"{PUBLISHED_CALCULATOR}|{source_sha256}|{s}".encode()).hexdigest()
        for s in table["smiles"]
    ]
    return pd.DataFrame(
        {
            "smiles": table["smiles"],
            "key": keys,
            "status": "ok",
            "method": PUBLISHED_METHOD,
            "reason": "",
            **{g: table[g].astype(float) for g in GAPS},
            "gap_1_std": float("nan"),  # the published values carry no per-row uncertainty
        }
    )
