"""Embedded KD chain speed: assembly + GFN2-xTB charges + crystal field, per complex.

Target (issue 3): <= 2 s per complex on one core. Runs N corpus ligands (seeded draw) in one
process (one core) and through the 2-worker process pool; prints figures, last line key=value.

Usage: .venv/bin/python benchmarks/kd_embedded.py [--n 40] [--relax]
"""

from __future__ import annotations

import argparse
import os
import platform
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402

from calculators.batch import run_many  # noqa: E402
from calculators.kd_embedded import EmbeddedKD  # noqa: E402
from gauss import corpus  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=40)
    parser.add_argument("--relax", action="store_true")
    args = parser.parse_args()
    df = corpus.load()
    rng = np.random.default_rng(0)
    smiles = df["smiles"].iloc[np.sort(rng.choice(len(df), args.n, replace=False))].tolist()
    calc = EmbeddedKD(relax=args.relax)
    calc.run(smiles[0])  # imports (molSimplify ~1 s) are a one-off per process
    start = time.perf_counter()
    rows = [calc.run(s) for s in smiles]
    serial = time.perf_counter() - start
    start = time.perf_counter()
    pooled = run_many(calc, smiles, workers=2, progress=False)
    parallel = time.perf_counter() - start
    ok = sum(r.ok for r in rows)
    walls = sorted(r.wall_seconds for r in rows)
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, relax={args.relax}")
    print(f"failed: {[r.reason for r in rows if not r.ok][:5]}")
    print(
        f"complexes={args.n} ok={ok} s_per_complex_1core={serial / args.n:.3f} "
        f"median_s={walls[len(walls) // 2]:.3f} max_s={walls[-1]:.3f} "
        f"complexes_per_s_2workers={args.n / parallel:.2f} "
        f"pool_ok={sum(r['status'] == 'ok' for r in pooled)}"
    )


if __name__ == "__main__":
    main()
