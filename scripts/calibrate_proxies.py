"""Compare the xTB/D4 proxy descriptors with the only LoProp numbers we hold.

The references are OpenMolcas outputs in /work/shared/data/openmolcas: the NH3 and H2O test
inputs (geometry plus `#> LOPROP_MP` / `LOPROP_A` check lines) and an ethane LoProp log. None is
PBE/ANO-R2, so this checks orders of magnitude and orderings, not a calibration. Each molecule
is run at the reference geometry, not an RDKit conformer.

Usage: OMP_NUM_THREADS=1 .venv/bin/python scripts/calibrate_proxies.py [DATA_DIR]
"""

from __future__ import annotations

import argparse
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from calculators.proxy_xtb import BOHR_PER_ANGSTROM, d4_atomic, xtb_atomic

DATA = Path("/work/shared/data/openmolcas")
_SYMBOLS = {"H": 1, "C": 6, "N": 7, "O": 8}
_CHECK = re.compile(r'^#> (LOPROP_MP|LOPROP_A)\[\d+\]="([-0-9.eE+]+)"')
_ATOM = re.compile(
    r"^\s*([A-Z][a-z]?)\d*\s+([-0-9.]+)\s+([-0-9.]+)\s+([-0-9.]+)\s+/?angstrom", re.I
)


@dataclass
class Reference:
    """LoProp atomic values of one molecule; polarizabilities are NaN where not printed."""

    name: str
    numbers: np.ndarray
    positions: np.ndarray  # bohr
    charge: np.ndarray
    dipole: np.ndarray
    alpha_atom: np.ndarray  # atomic domain only
    alpha_half: np.ndarray  # atomic domain plus half of each bond domain


def _packed(i: int, j: int) -> int:
    """Index of domain (i, j) in LoProp's packed lower triangle (atoms on the diagonal)."""
    i, j = max(i, j), min(i, j)
    return i * (i + 1) // 2 + j


def _blocks(values: list[float], n_atoms: int) -> np.ndarray:
    """Split a flat check-line array into one row per component over all packed domains."""
    size = n_atoms * (n_atoms + 1) // 2
    return np.array(values).reshape(-1, size)


def _alphas(blocks: np.ndarray, n_atoms: int) -> tuple[np.ndarray, np.ndarray]:
    """Isotropic atomic and atom-plus-half-bond polarizabilities from xx,xy,yy,xz,yz,zz blocks."""
    iso = (blocks[0] + blocks[2] + blocks[5]) / 3.0
    atom = np.array([iso[_packed(i, i)] for i in range(n_atoms)])
    bonds = np.array(
        [sum(iso[_packed(i, j)] for j in range(n_atoms) if j != i) for i in range(n_atoms)]
    )
    return atom, atom + bonds / 2.0


def read_check_file(path: Path) -> Reference:
    """Geometry and LoProp check values of an OpenMolcas test input."""
    numbers, positions, arrays = [], [], {"LOPROP_MP": [], "LOPROP_A": []}
    for line in path.read_text().splitlines():
        if m := _ATOM.match(line):
            numbers.append(_SYMBOLS[m.group(1)])
            positions.append([float(v) for v in m.group(2, 3, 4)])
        elif m := _CHECK.match(line):
            arrays[m.group(1)].append(float(m.group(2)))
    z = np.array(numbers)
    mp = _blocks(arrays["LOPROP_MP"], len(z))
    diag = [_packed(i, i) for i in range(len(z))]
    nan = np.full(len(z), np.nan)
    atom, half = (
        _alphas(_blocks(arrays["LOPROP_A"], len(z)), len(z)) if arrays["LOPROP_A"] else (nan, nan)
    )
    return Reference(
        name=path.stem,
        numbers=z,
        positions=np.array(positions) * BOHR_PER_ANGSTROM,
        charge=z + mp[0, diag],
        dipole=np.linalg.norm(mp[1:4, diag], axis=0),
        alpha_atom=atom,
        alpha_half=half,
    )


def read_loprop_log(path: Path) -> Reference:
    """Per-domain charge, dipole and isotropic polarizability from a printed LoProp log."""
    atoms: dict[str, dict] = {}
    bonds: list[tuple[str, str, float]] = []
    current: dict | None = None
    for line in path.read_text().splitlines():
        if m := re.match(r"\s*ATOMIC DOMAIN:\s*(\w+)", line):
            current = atoms.setdefault(m.group(1), {"bond": None})
        elif m := re.match(r"\s*BOND DOMAIN:\s*(\w+)\s*,\s*(\w+)", line):
            current = {"bond": (m.group(1), m.group(2))}
        elif current is None:
            continue
        elif m := re.match(r"\s*Domain center:\s*:\s*(\S+)\s+(\S+)\s+(\S+)", line):
            current["xyz"] = [float(v) for v in m.groups()]
        elif m := re.match(r"\s*Total charge\s*:\s*(\S+)", line):
            current["q"] = float(m.group(1))
        elif m := re.match(r"Dipole magnitude:\s*(\S+)", line):
            current["mu"] = float(m.group(1))
        elif m := re.match(r"Isotropic Polarizability:\s*(\S+)", line):
            current["alpha"] = float(m.group(1))
            if current["bond"]:
                bonds.append((*current["bond"], current["alpha"]))
    labels = list(atoms)
    half = {label: atoms[label]["alpha"] for label in labels}
    for a, b, alpha in bonds:
        half[a] += alpha / 2.0
        half[b] += alpha / 2.0
    return Reference(
        name=path.stem,
        numbers=np.array([_SYMBOLS[re.match(r"[A-Z][a-z]?", x).group()] for x in labels]),
        positions=np.array([atoms[x]["xyz"] for x in labels]),
        charge=np.array([atoms[x]["q"] for x in labels]),
        dipole=np.array([atoms[x]["mu"] for x in labels]),
        alpha_atom=np.array([atoms[x]["alpha"] for x in labels]),
        alpha_half=np.array([half[x] for x in labels]),
    )


def compare(ref: Reference) -> list[dict[str, float]]:
    """One row per symmetry-distinct atom: LoProp values next to each proxy variant."""
    q, mu = xtb_atomic(ref.numbers, ref.positions, 0, ref.name)
    alpha, eeq = d4_atomic(ref.numbers, ref.positions, 0, ref.name)
    rows, seen = [], set()
    for i, z in enumerate(ref.numbers):
        key = (int(z), round(float(ref.charge[i]), 3))
        if key not in seen:
            seen.add(key)
            rows.append(
                dict(
                    Z=int(z),
                    q_loprop=ref.charge[i],
                    q_gfn2=q[i],
                    q_eeq=eeq[i],
                    mu_loprop=ref.dipole[i],
                    mu_gfn2=mu[i],
                    alpha_loprop_atom=ref.alpha_atom[i],
                    alpha_loprop_half=ref.alpha_half[i],
                    alpha_d4=alpha[i],
                )
            )
    return rows


def _fit(rows: list[dict[str, float]], target: str, proxy: str) -> str:
    """Pearson r and the least-squares slope of target on proxy through the origin."""
    x = np.array([r[proxy] for r in rows])
    y = np.array([r[target] for r in rows])
    ok = np.isfinite(x) & np.isfinite(y)
    x, y = x[ok], y[ok]
    r, slope = np.corrcoef(x, y)[0, 1], x @ y / (x @ x)
    return f"{target} ~ {proxy}: r={r:.3f} slope={slope:.2f} (n={ok.sum()})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("data", type=Path, nargs="?", default=DATA)
    args = parser.parse_args()
    refs = [
        read_check_file(args.data / "test_standard_014.input"),
        read_check_file(args.data / "test_standard_071.input"),
        read_loprop_log(args.data / "iochembd_molcas_dynamic_loprop_ethane_excerpt.log"),
    ]
    rows = []
    for ref in refs:
        assert abs(ref.charge.sum()) < 1e-3, f"{ref.name}: LoProp charges do not sum to zero"
        for row in compare(ref):
            rows.append(row)
            print(ref.name, " ".join(f"{k}={v:.3f}" for k, v in row.items()))
    print(_fit(rows, "q_loprop", "q_gfn2"), "|", _fit(rows, "q_loprop", "q_eeq"))
    print(_fit(rows, "mu_loprop", "mu_gfn2"))
    print(
        _fit(rows, "alpha_loprop_atom", "alpha_d4"),
        "|",
        _fit(rows, "alpha_loprop_half", "alpha_d4"),
    )


if __name__ == "__main__":
    main()
