"""Time the embedded point-charge crystal-field model (target: about 1 ms per complex or less).

Usage: .venv/bin/python benchmarks/crystal_field.py [--complexes N] [--atoms N]
Each complex is a random pentagonal-bipyramid-like set of point charges (seven donors plus
outer atoms); timing covers B_k^q, diagonalisation, g-tensor and M_J weights.
Last line: key=value figures.
"""

from __future__ import annotations

import argparse
import os
import platform
import time

import numpy as np

from calculators import crystal_field as cf


def random_complex(rng: np.random.Generator, atoms: int) -> tuple[np.ndarray, np.ndarray]:
    """Seven donors at 2.2-2.5 A (five equatorial, two axial) plus outer atoms at 3-6 A."""
    angles = np.arange(5) * 2 * np.pi / 5 + rng.normal(0, 0.05, 5)
    ring = np.c_[np.cos(angles), np.sin(angles), rng.normal(0, 0.05, 5)]
    axis = np.array([[0, 0, 1.0], [0, 0, -1.0]]) + rng.normal(0, 0.05, (2, 3))
    donors = np.vstack([ring, axis])
    donors = donors / np.linalg.norm(donors, axis=1)[:, None] * rng.uniform(2.2, 2.5, (7, 1))
    outer = rng.normal(size=(atoms - 7, 3))
    outer = outer / np.linalg.norm(outer, axis=1)[:, None] * rng.uniform(3.0, 6.0, (atoms - 7, 1))
    charges = np.r_[rng.uniform(-1.0, -0.3, 7), rng.uniform(-0.3, 0.3, atoms - 7)]
    return np.vstack([donors, outer]), charges


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--complexes", type=int, default=2000)
    parser.add_argument("--atoms", type=int, default=42)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    inputs = [random_complex(rng, args.atoms) for _ in range(args.complexes)]

    start = time.perf_counter()
    cf.stevens_operators()  # one-off operator build, cached afterwards
    build_ms = (time.perf_counter() - start) * 1e3

    start = time.perf_counter()
    params = [cf.cf_parameter_vector(pos, chg) for pos, chg in inputs]
    bkq_s = time.perf_counter() - start
    start = time.perf_counter()
    spectra = [cf.kd_spectrum(b) for b in params]
    spectrum_s = time.perf_counter() - start
    total_s = bkq_s + spectrum_s

    gaps = np.array([s.gaps[0] for s in spectra])
    gz = np.array([s.g_principal[2] for s in spectra])
    axial = np.mean([s.mean_abs_mj[0] > 6.5 for s in spectra])
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, python {platform.python_version()}"
    )
    print(f"operator build (once): {build_ms:.1f} ms")
    print(
        f"per complex: B_kq {bkq_s / args.complexes * 1e6:.0f} us, "
        f"spectrum {spectrum_s / args.complexes * 1e6:.0f} us"
    )
    print(
        f"first gap cm^-1: median {np.median(gaps):.0f}, range {gaps.min():.0f}-{gaps.max():.0f}; "
        f"median gz {np.median(gz):.2f}; axial (<|M_J|> > 6.5) ground KD fraction {axial:.2f}"
    )
    print(
        f"complexes={args.complexes} atoms={args.atoms} "
        f"ms_per_complex={total_s / args.complexes * 1e3:.3f} "
        f"complexes_per_s={args.complexes / total_s:.0f} operator_build_ms={build_ms:.1f}"
    )


if __name__ == "__main__":
    main()
