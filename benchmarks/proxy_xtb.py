"""Throughput of the xTB/D4 proxy labeller on a seeded sample of corpus ligands.

Target: 35k labels in under 30 minutes on 2 cores (the paper's LoProp set size), i.e. at least
19.4 labels/s. The pool figure includes worker start-up, so the projection is conservative.
Also times each stage in-process on one core, and compares Mulliken with EEQ donor charges.

Usage: .venv/bin/python benchmarks/proxy_xtb.py [--corpus /tmp/lig2.parquet] [--n 300]
Last line: key=value figures.
"""

from __future__ import annotations

import os

os.environ["OMP_NUM_THREADS"] = "1"  # the in-process stage timing loads tblite here

import argparse  # noqa: E402
import platform  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from collections import Counter  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from scipy.stats import spearmanr  # noqa: E402

from calculators import proxy_xtb  # noqa: E402
from calculators.base import CalculationFailed  # noqa: E402
from gauss import chem  # noqa: E402

TARGET_LABELS, TARGET_MINUTES = 35_000, 30.0


def stage_seconds(smiles: list[str]) -> dict[str, float]:
    """Mean seconds per ligand of each stage, run in this process on one core."""
    totals: Counter[str] = Counter()
    done = 0
    for smi in smiles:
        lig = chem.ligand(smi)
        t0 = time.perf_counter()
        try:
            numbers, positions = proxy_xtb.ligand_geometry(lig)
            t1 = time.perf_counter()
            proxy_xtb.xtb_atomic(numbers, positions, lig.charge, lig.smiles)
            t2 = time.perf_counter()
            proxy_xtb.d4_atomic(numbers, positions, lig.charge, lig.smiles)
        except CalculationFailed:
            continue
        t3 = time.perf_counter()
        totals.update(geometry=t1 - t0, xtb=t2 - t1, d4=t3 - t2)
        done += 1
    return {name: seconds / done for name, seconds in totals.items()}


def charge_agreement(table: pd.DataFrame) -> str:
    """Spearman rank correlation of Mulliken and EEQ donor charges, per donor element."""
    ok = table[table.status == "ok"]
    parts = []
    for z, group in ok.groupby("atomic_number"):
        rho = spearmanr(group.charge, group.charge_eeq).statistic
        parts.append(f"Z={z}: rho={rho:.2f} (n={len(group)})")
    return ", ".join(parts)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--corpus", type=Path, default=Path("/tmp/lig2.parquet"))
    parser.add_argument("--n", type=int, default=300)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--stage-sample", type=int, default=100)
    args = parser.parse_args()

    _, smiles = proxy_xtb.sample_corpus(args.corpus, args.stage_sample, args.seed + 1)
    stages = stage_seconds(smiles)
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        table = proxy_xtb.label_corpus_sample(
            args.corpus, args.n, Path(tmp) / "labels.parquet", args.seed, args.workers, False
        )
        seconds = time.perf_counter() - start
    rate = len(table) / seconds
    minutes_35k = TARGET_LABELS / rate / 60.0
    failures = Counter(r.split(" for ")[0] for r in table.reason.dropna())
    heavy = pd.Series([chem.ligand(s).heavy_atoms for s in table.smiles])

    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, load {os.getloadavg()[0]:.2f}")
    print(
        "in-process ms/ligand: "
        + ", ".join(f"{k} {v * 1e3:.1f}" for k, v in stages.items())
        + f" (total {sum(stages.values()) * 1e3:.1f}, {len(smiles)} ligands)"
    )
    print(
        f"sample: {len(table)} ligands, heavy atoms median {heavy.median():.0f}, max {heavy.max()}"
    )
    print(f"failures: {dict(failures) or 'none'}")
    print(f"Mulliken vs EEQ donor charge: {charge_agreement(table)}")
    verdict = "meets" if minutes_35k < TARGET_MINUTES else "MISSES"
    print(
        f"35k labels projected at {minutes_35k:.1f} min: {verdict} the "
        f"{TARGET_MINUTES:.0f} min goal"
    )
    print(
        f"labels_per_s={rate:.1f} wall_s={seconds:.1f} n={len(table)} workers={args.workers} "
        f"ok={int((table.status == 'ok').sum())} minutes_for_35k={minutes_35k:.1f} "
        f"meets_target={minutes_35k < TARGET_MINUTES} "
        f"ms_per_ligand_1core={sum(stages.values()) * 1e3:.1f} "
        f"mean_donor_charge={np.nanmean(table.charge):.3f}"
    )


if __name__ == "__main__":
    main()
