"""Round metrics (pure functions): what a round proposed, what it found, and how it compares.

The seed-vs-sample R^2 is the paper's metric (Sec. II.C, 0.82 for GAUSS-II with CASSCF): the
KD gaps of each generated ligand compared against those of the seed it was sampled from.
"""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

import numpy as np
import pandas as pd


def seed_sample_r2(seed_gaps: np.ndarray, sample_gaps: np.ndarray) -> float:
    """The paper's seed-vs-sample R^2 (Sec. II.C): each sample's KD gaps "predicted" by its seed's.

    Per gap i: 1 - sum_j (sample_ji - seed_ji)^2 / sum_j (sample_ji - mean_j sample_ji)^2 over
    pairs where both are finite, then averaged over the gaps given (columns; the paper averages
    all seven). 1 means every sample has its seed's gaps; 0 means the seeds tell no more than
    the samples' own mean; it is negative when samples sit further from their seeds than from
    each other's mean (a systematic shift away from the seeds, or samples that barely differ
    among themselves). NaN with fewer than 2 pairs.
    """
    seed, sample = np.asarray(seed_gaps, float), np.asarray(sample_gaps, float)
    if seed.ndim == 1:
        seed, sample = seed[:, None], sample[:, None]
    scores = []
    for i in range(seed.shape[1]):
        s, t = seed[:, i], sample[:, i]
        ok = np.isfinite(s) & np.isfinite(t)
        if ok.sum() < 2:
            continue
        s, t = s[ok], t[ok]
        ss = ((t - t.mean()) ** 2).sum()
        if ss > 0:
            scores.append(1 - ((t - s) ** 2).sum() / ss)
    return float(np.mean(scores)) if scores else float("nan")


def seed_sample_pearson(seed_gap: np.ndarray, sample_gap: np.ndarray) -> float:
    """Pearson r of sample vs seed first gap: does a better seed give better samples?"""
    s, t = np.asarray(seed_gap, float), np.asarray(sample_gap, float)
    ok = np.isfinite(s) & np.isfinite(t)
    if ok.sum() < 3 or np.std(s[ok]) == 0 or np.std(t[ok]) == 0:
        return float("nan")
    return float(np.corrcoef(s[ok], t[ok])[0, 1])


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


def sampling_counts(samples: pd.DataFrame) -> dict[str, Any]:
    """Decoded samples, valid SMILES, donor-first, passing the structural rules, novel, unique
    novel; and how many donor-first samples each structural rule struck out."""
    counts: dict[str, Any] = {
        "sampled": int(len(samples)),
        "valid": int(samples["valid"].sum()),
        "donor_ok": int(samples["donor_ok"].sum()),
    }
    if "chem_ok" in samples.columns:
        counts["chem_ok"] = int(samples["chem_ok"].sum())
        struck = Counter(
            rule for text in samples["rejected_by"] if text for rule in str(text).split(",")
        )
        counts["rejected_by"] = dict(sorted(struck.items()))
    counts["novel"] = int(samples["novel"].sum())
    counts["unique"] = int(samples["unique"].sum())
    return counts


def lost_attempts(calcs: pd.DataFrame) -> int:
    """Attempts lost to infrastructure (workers, blocks, walltime) behind these calculations."""
    if "failed_attempts" not in calcs.columns:
        return 0
    return int(sum(len(json.loads(a)) for a in calcs["failed_attempts"] if isinstance(a, str)))


def method_counts(labels: pd.DataFrame) -> dict[str, int]:
    """Labelled ligands per method that produced their gaps (ok rows only)."""
    ok = labels[labels["status"] == "ok"]
    return dict(Counter(ok["method"].astype(str)))
