"""The value contracts every KD and proxy calculator fills, and their units (one place).

KD: the eight Kramers doublets of the Dy(III) 6H15/2 ground multiplet, as energies above the
ground doublet (`kd_energies`, cm-1, first = 0), and the seven gaps `gap_i` = energy of doublet
i+1 (the paper's "first KD gap" is `gap_1`). Proxy: the coordinating atom's charge, dipole
magnitude and isotropic polarizability in LoProp's atomic units, plus its atomic number.
The round logic, the store's column hints, the CLI and history all read these names.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

N_DOUBLETS = 8  # 2J + 1 = 16 states of J = 15/2, in Kramers pairs
GAPS: tuple[str, ...] = tuple(f"gap_{i}" for i in range(1, N_DOUBLETS))
KD_UNITS: dict[str, str] = {g: "cm-1" for g in GAPS} | {"kd_energies": "cm-1", "g_ground": "1"}

# the six structural features of a [M(H2O)5L2] complex (calculators.structure.FEATURE_NAMES)
FEATURE_UNITS: dict[str, str] = {
    "donor_z": "1",
    "mpp": "angstrom",
    "sdp": "angstrom",
    "angle_lml": "degree",
    "dist_md_short": "angstrom",
    "dist_md_long": "angstrom",
}

PROXY_VALUES: tuple[str, ...] = ("charge", "dipole", "polarizability", "atomic_number")
PROXY_UNITS: dict[str, str] = {
    "charge": "e",
    "dipole": "e*bohr",
    "polarizability": "bohr^3",
    "atomic_number": "1",
}


def kd_values(doublet_energies_cm: Sequence[float], n_doublets: int = N_DOUBLETS) -> dict[str, Any]:
    """`kd_energies` (relative to the lowest, cm-1) and `gap_1`..`gap_{n-1}` from doublet
    energies: gap_i is doublet i+1 above the ground one (Delta E_0i), never a difference of
    neighbours. Every KD calculator builds its gaps here.

    Raises ValueError naming the count when there are not exactly `n_doublets` doublets.
    """
    energies = sorted(float(e) for e in doublet_energies_cm)
    if len(energies) != n_doublets or n_doublets < 2:
        raise ValueError(f"expected {n_doublets} Kramers doublets, got {len(energies)}")
    relative = [e - energies[0] for e in energies]
    gaps = {f"gap_{i}": relative[i] for i in range(1, n_doublets)}
    return {"kd_energies": relative, **gaps}
