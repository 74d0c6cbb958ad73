"""Embedded KD calculator: molSimplify complex -> GFN2-xTB charges -> point-charge crystal field.

The laptop stand-in for ORCA CASSCF/QDPT. Chain: assemble [Dy(H2O)5L2] (optionally relax it
with GFN2-xTB in implicit water), take GFN2-xTB (ALPB water) partial charges of every atom of
the complex, and diagonalise the point-charge crystal field of the Dy(III) J = 15/2 multiplet
(calculators.crystal_field) built from all those charges. Charges on all atoms rank complexes
far better than charges on the seven donors alone (NOTES.md). Every result says it came from
this model: it is not CASSCF, and its gaps are not mixed with CASSCF gaps.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path
from typing import Any

import numpy as np
from rdkit import Chem

from calculators import assembly, crystal_field
from calculators.base import CalcResult, CalculationFailed, run_embedded
from gauss import chem

UNITS = {f"gap_{i}": "cm-1" for i in range(1, 8)} | {
    "kd_energies": "cm-1",
    "g_ground": "1",
    "dy_donor_distances": "angstrom",
}


def complex_charges(cx: assembly.Complex, solvent: str | None = "water") -> np.ndarray:
    """GFN2-xTB partial charges (e) of every atom of the complex (4f shell in the core)."""
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    from tblite.interface import Calculator

    from calculators.proxy_xtb import BOHR_PER_ANGSTROM

    numbers = np.array([Chem.GetPeriodicTable().GetAtomicNumber(e) for e in cx.elements])
    calc = Calculator(
        "GFN2-xTB",
        numbers,
        np.asarray(cx.coordinates) * BOHR_PER_ANGSTROM,
        charge=float(cx.charge),
        uhf=0,
    )
    calc.set("verbosity", 0)
    if solvent:
        calc.add("alpb-solvation", solvent)
    try:
        res = calc.singlepoint()
    except RuntimeError as exc:
        raise CalculationFailed(f"GFN2-xTB single point on the complex failed: {exc}") from exc
    return np.asarray(res.get("charges"), dtype=float)


def kd_values(cx: assembly.Complex, charges: np.ndarray) -> dict[str, Any]:
    """Crystal-field spectrum from all atoms' charges, relative to the metal."""
    xyz = np.asarray(cx.coordinates)
    ligand_atoms = [i for i in range(cx.n_atoms) if i != cx.metal]
    positions = xyz[ligand_atoms] - xyz[cx.metal]
    spectrum = crystal_field.kd_spectrum_from_geometry(positions, charges[ligand_atoms])
    gaps = [float(g) for g in spectrum.gaps]
    values: dict[str, Any] = {f"gap_{i + 1}": g for i, g in enumerate(gaps)}
    values["kd_energies"] = [float(e) for e in spectrum.kd_energies]
    values["g_ground"] = [float(g) for g in spectrum.g_principal]
    values["dy_donor_distances"] = [
        float(np.linalg.norm(xyz[d] - xyz[cx.metal])) for d in cx.donors
    ]
    values["donor_charges"] = [float(charges[d]) for d in cx.donors]
    values.update(cx.features())  # the six structural descriptors of the paper
    return values


@dataclass(frozen=True)
class EmbeddedKD:
    """KD gaps of [Dy(H2O)5L2] from the embedded chain (name, version, method as required)."""

    relax: bool = False
    solvent: str = "water"
    name: str = "kd-crystal-field"
    version: str = "1"

    @property
    def method(self) -> str:
        geometry = "GFN2-xTB/ALPB-relaxed" if self.relax else "molSimplify (M-L 2.40 A)"
        return (
            f"embedded point-charge crystal field (Dy3+ J=15/2, Stevens) on {geometry} geometry "
            f"with GFN2-xTB/ALPB({self.solvent}) charges on all atoms; not CASSCF"
        )

    def canonical_input(self, smiles: str) -> dict[str, Any]:
        return {
            "ligand": chem.ligand(smiles).smiles,
            "metal": "Dy",
            "relax": self.relax,
            "solvent": self.solvent,
        }

    def _compute(self, smiles: str) -> dict[str, Any]:
        cx = assembly.assemble(smiles, "Dy")
        if self.relax:
            cx = assembly.relax(cx, solvent=self.solvent)
        return kd_values(cx, complex_charges(cx, self.solvent))

    def run(self, smiles: str, workdir: Path | None = None) -> CalcResult:
        """Gaps in cm-1; invalid SMILES raise LigandError, chemistry failures give a failed row."""
        self.canonical_input(smiles)  # validate first: bad input is an error, not a row
        versions = {
            "molSimplify": version("molSimplify"),
            "tblite": version("tblite"),
        }
        return run_embedded(self, smiles, self._compute, UNITS, versions, workdir)
