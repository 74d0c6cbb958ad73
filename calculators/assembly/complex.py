"""The Complex type: one [M(H2O)5L2]^(3+2q) structure with its atoms named by index."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from calculators import structure
from calculators.xyz import write_xyz, xyz_text

# Spin multiplicity of the M(III) ion: Dy(III) is 4f9 (S = 5/2), Y(III) is closed shell.
METAL_MULTIPLICITY = {"Dy": 6, "Y": 1}
METAL_OXSTATE = 3
N_WATERS = 5
XYZ_WIDTH = 14  # coordinate columns of the geometry.xyz files written so far


@dataclass(frozen=True, eq=False)
class Complex:
    """One [M(H2O)5L2] structure with the atoms that matter named by index."""

    ligand_smiles: str  # donor-first canonical SMILES of L (chem.ligand)
    metal_symbol: str
    elements: tuple[str, ...]
    coordinates: np.ndarray  # (n, 3) angstrom, read-only
    metal: int
    waters: tuple[int, ...]  # the five equatorial water O
    donors: tuple[int, int]  # coordinating atom of each L
    fragments: tuple[tuple[int, ...], ...]  # 5 waters then the 2 ligands (metal excluded)
    charge: int  # 3 + 2q
    multiplicity: int
    method: str
    energy_ev: float | None = None  # total energy when a method computed one

    def __post_init__(self) -> None:
        xyz = np.array(self.coordinates, dtype=float)
        xyz.setflags(write=False)
        object.__setattr__(self, "coordinates", xyz)

    @property
    def n_atoms(self) -> int:
        return len(self.elements)

    def features(self) -> dict[str, float]:
        """The six paper descriptors (structure.FEATURE_NAMES order)."""
        return structure.features(
            self.elements, self.coordinates, self.metal, self.waters, self.donors
        )

    def _comment(self, comment: str | None) -> str:
        """The given comment, or what the file cannot hold otherwise: charge, spin, L, method."""
        if comment is not None:
            return comment
        return (
            f"[{self.metal_symbol}(H2O)5L2] L={self.ligand_smiles} charge={self.charge} "
            f"multiplicity={self.multiplicity} method={self.method}"
        )

    def to_xyz(self, comment: str | None = None) -> str:
        return xyz_text(self.elements, self.coordinates, self._comment(comment), XYZ_WIDTH)

    def write_xyz(self, path: str | Path, comment: str | None = None) -> Path:
        return write_xyz(path, self.elements, self.coordinates, self._comment(comment), XYZ_WIDTH)
