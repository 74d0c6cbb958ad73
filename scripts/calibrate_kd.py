"""Retrain the calibrated embedded KD on CASSCF gaps (published or your own).

Input: a CSV/TSV with columns smiles, kd_1 .. kd_7 (cm-1, first seven KD gaps of
[Dy(H2O)5L2]) and, optionally, dist_1, dist_2 (DFT Dy-donor distances, A) to train the geometry
step. Stage 1 computes the per-ligand physics inputs once (molSimplify build, GFN2-xTB/ALPB
charges, free-ligand descriptors) into a JSON-lines cache; stage 2 fits the distance model and
the gap correction and writes the artifact directory (models/kd-calibration by default).

    .venv/bin/python scripts/calibrate_kd.py --data data/published/kd_casscf.tsv \
        --cache benchmarks/results/kd_physics_cache.jsonl --out models/kd-calibration
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from calculators import kd_calibration, kd_embedded  # noqa: E402


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--data", type=Path, required=True, help="CSV/TSV: smiles, kd_1..kd_7 [, dist_1, dist_2]"
    )
    parser.add_argument("--cache", type=Path, required=True, help="JSON-lines physics cache")
    parser.add_argument("--out", type=Path, default=None, help="artifact directory to write")
    parser.add_argument("--members", type=int, default=kd_calibration.DEFAULT_MEMBERS)
    parser.add_argument("--label", default=None, help="training-data name for the method string")
    args = parser.parse_args(argv)
    table = kd_calibration.read_training_table(args.data)
    kd_embedded.build_cache(table["smiles"].tolist(), args.cache, progress=True)
    if args.out is None:
        return
    label = args.label or args.data.name
    path = kd_calibration.train_and_save(table, args.cache, args.out, label, args.members)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
