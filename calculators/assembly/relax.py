"""GFN2-xTB relaxation (ASE + tblite) of an assembled complex, equatorial O kept in plane."""

from __future__ import annotations

import dataclasses

import numpy as np

from calculators import structure
from calculators.assembly.checks import check_geometry
from calculators.assembly.complex import Complex
from calculators.assembly.identify import complex_from_geometry
from calculators.base import CalculationFailed


def relax(
    cx: Complex,
    solvent: str | None = "water",
    fmax: float = 0.05,
    steps: int = 400,
) -> Complex:
    """GFN2-xTB relaxation in ALPB implicit solvent, the equatorial O kept in their plane.

    Constraints: the metal is fixed and each water O may move only within the equatorial
    plane (FixedPlane), so M-O(water) distances and the axial ligands relax while MPP/SDP stay
    0 by construction. Gas phase (solvent=None) is available but bends anionic complexes and
    moves protons from water to alkoxides. GFN2 keeps Dy's 4f shell in the core, so the
    valence system is closed shell for Dy and Y alike: multiplicity 1 here. The returned
    Complex carries the GFN2 total energy (solvation included) in energy_ev. Poor donors
    (amide N, carboxylic-acid OH) dissociate and carboxylates turn bidentate: both fail.
    """
    from ase import Atoms
    from ase.calculators.calculator import CalculatorError
    from ase.constraints import FixAtoms, FixedPlane
    from ase.optimize import BFGS
    from tblite.ase import TBLite

    atoms = Atoms(cx.elements, positions=np.array(cx.coordinates))
    _, normal = structure.fit_plane(cx.coordinates[[cx.metal, *cx.waters]])
    atoms.set_constraint([FixAtoms([cx.metal]), FixedPlane(list(cx.waters), normal)])
    atoms.calc = TBLite(
        method="GFN2-xTB",
        charge=cx.charge,
        multiplicity=1,
        solvation=("alpb", solvent) if solvent else None,
        verbosity=0,
    )
    try:
        converged = BFGS(atoms, logfile=None).run(fmax=fmax, steps=steps)
        energy = float(atoms.get_potential_energy())
    except CalculatorError as exc:
        raise CalculationFailed(f"GFN2-xTB failed for L={cx.ligand_smiles!r}: {exc}") from exc
    if not converged:
        raise CalculationFailed(f"GFN2-xTB relaxation not converged in {steps} steps")
    method = f"gfn2-xtb/alpb({solvent})" if solvent else "gfn2-xtb/gas"
    # Shape checks against the known labelling first (they name the atoms that went wrong),
    # then re-identify from scratch to prove every bond and fragment survived.
    check_geometry(dataclasses.replace(cx, coordinates=atoms.positions))
    relaxed = complex_from_geometry(
        cx.ligand_smiles, cx.metal_symbol, cx.elements, atoms.positions, method, energy
    )
    if (relaxed.waters, relaxed.donors, relaxed.fragments) != (
        cx.waters,
        cx.donors,
        cx.fragments,
    ):
        raise CalculationFailed("relaxation changed which atoms bind the metal")
    return relaxed
