"""Round metrics (pure functions): what a round proposed, what it found, and how it compares.

The seed-vs-sample R^2 is the paper's metric (Sec. II.C, 0.82 for GAUSS-II with CASSCF): the
KD gap of each generated ligand compared against the gap of the seed it was sampled from.
"""

from __future__ import annotations

import json
from collections import Counter

import numpy as np
import pandas as pd


def seed_sample_r2(seed_gap: np.ndarray, sample_gap: np.ndarray) -> float:
    """1 - sum (sample - seed)^2 / sum (sample - mean(sample))^2 over finite pairs."""
    seed_gap, sample_gap = np.asarray(seed_gap, float), np.asarray(sample_gap, float)
    ok = np.isfinite(seed_gap) & np.isfinite(sample_gap)
    if ok.sum() < 2:
        return float("nan")
    s, t = seed_gap[ok], sample_gap[ok]
    ss = ((t - t.mean()) ** 2).sum()
    return float(1 - ((t - s) ** 2).sum() / ss) if ss > 0 else float("nan")


def distribution(values: np.ndarray) -> dict[str, float]:
    """Summary of a gap distribution (count, mean, quartiles, max)."""
    v = np.asarray(values, float)
    v = v[np.isfinite(v)]
    if len(v) == 0:
        return {"n": 0}
    q = np.percentile(v, [25, 50, 75])
    return {
        "n": int(len(v)),
        "mean": float(v.mean()),
        "q25": float(q[0]),
        "median": float(q[1]),
        "q75": float(q[2]),
        "max": float(v.max()),
    }


def failures_by_reason(calcs: pd.DataFrame) -> dict[str, int]:
    """Count failed calculations by the first line of their reason."""
    failed = calcs[calcs["status"] == "failed"]
    reasons = failed["reason"].fillna("unknown").map(lambda r: str(r).splitlines()[0][:120])
    return dict(Counter(reasons))


def sampling_counts(samples: pd.DataFrame) -> dict[str, int]:
    """Decoded samples, valid SMILES, donor-first ligands, novel, unique novel."""
    return {
        "sampled": int(len(samples)),
        "valid": int(samples["valid"].sum()),
        "donor_ok": int(samples["donor_ok"].sum()),
        "novel": int(samples["novel"].sum()),
        "unique": int(samples["unique"].sum()),
    }


def lost_attempts(calcs: pd.DataFrame) -> int:
    """Attempts lost to infrastructure (workers, blocks, walltime) behind these calculations."""
    if "failed_attempts" not in calcs.columns:
        return 0
    return int(sum(len(json.loads(a)) for a in calcs["failed_attempts"] if isinstance(a, str)))
