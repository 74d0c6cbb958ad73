"""Time complex assembly (molSimplify + checks) and assembly + GFN2-xTB/ALPB relaxation.

Usage: OMP_NUM_THREADS=1 .venv/bin/python benchmarks/assembly.py [--metal Dy] [--no-relax]
Runs in one process on one core; the one-off molSimplify import is timed separately.
Last line: key=value figures.
"""

from __future__ import annotations

import argparse
import os
import platform
import time

from calculators import assembly
from calculators.base import CalculationFailed

# Anionic O, neutral O, neutral N (amine, amide, pyridine, nitrile) donors of QM9-like size.
LIGANDS = (
    "[O-]CC",
    "[O-]C(C)(C)C",
    "[O-]c1ccccc1",
    "[O-]C(C)=O",
    "OC(=O)C#N",
    "O=C(C)C",
    "NC",
    "NC(C)=O",
    "n1ccccc1",
    "N#CC",
)


def _time_import() -> float:
    start = time.perf_counter()
    from molSimplify.Scripts.generator import startgen_pythonic  # noqa: F401

    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--metal", default="Dy", choices=sorted(assembly.METAL_MULTIPLICITY))
    parser.add_argument("--no-relax", action="store_true")
    args = parser.parse_args()
    import_s = _time_import()

    start = time.perf_counter()
    built = [assembly.assemble(smi, args.metal) for smi in LIGANDS]
    assemble_s = time.perf_counter() - start

    relax_s, failed = 0.0, 0
    if not args.no_relax:
        start = time.perf_counter()
        for cx in built:
            t0 = time.perf_counter()
            try:
                relaxed = assembly.relax(cx)
                f = relaxed.features()
                note = f"L-M-L {f['angle_lml']:.1f} M-D {f['dist_md_short']:.3f}"
            except CalculationFailed as exc:
                failed += 1
                note = f"FAILED {exc.reason}"
            print(f"{cx.ligand_smiles:16s} relax {time.perf_counter() - t0:5.2f} s  {note}")
        relax_s = time.perf_counter() - start

    n = len(LIGANDS)
    per_s_relaxed = n / (assemble_s + relax_s) if relax_s else 0.0
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, "
        f"python {platform.python_version()}, OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS')}"
    )
    print(
        f"metal={args.metal} ligands={n} import_s={import_s:.2f} assemble_s={assemble_s:.2f} "
        f"assemble_per_s={n / assemble_s:.2f} relax_s={relax_s:.2f} "
        f"assemble_relax_per_s={per_s_relaxed:.2f} relax_failed={failed}"
    )


if __name__ == "__main__":
    main()
