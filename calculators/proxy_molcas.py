"""HPC proxy calculator: OpenMolcas PBE + LoProp labels of a ligand's donor atom.

The production counterpart of XtbProxyCalculator (paper, Methods, "LoProp evaluation"): same
item (a donor-first SMILES), same value keys (charge, dipole, polarizability, atomic_number of
the donor; LoProp units e, e*bohr, bohr^3). OpenMolcas runs through the injected launcher; the
work directory is named by the calculation key, never by the SMILES.

Geometry recipe (fixed per class, part of name and key): the xTB proxy's seeded RDKit
ETKDGv3/MMFF94 conformer (donor at index 0), then optimised with GFN2-xTB in the gas phase;
an optimisation that changes the bonding (a proton moving onto an anionic donor) is a failed
row. It was chosen over the bare RDKit/MMFF94 conformer by what reproduces the paper's
published LoProp values on the same ligands (docs/openmolcas.md, "Geometry";
`benchmarks/loprop_published.py compare`): mainly anions, where MMFF94 geometries put the
donor charge off by up to 0.05 e and the polarizability by up to 7 %.
`MolcasProxyRdkitGeometry` keeps the other recipe available under its own name.
"""

from __future__ import annotations

import dataclasses
import os
import tempfile
import time
from dataclasses import dataclass, field
from importlib.metadata import version
from pathlib import Path
from typing import Any

import numpy as np
from ase.data import chemical_symbols

from calculators.base import CalcResult, CalculationFailed, Launcher, SubprocessLauncher, key_for
from calculators.openmolcas import (
    UNITS,
    LoPropJob,
    LoPropSettings,
    MolcasResources,
    OpenMolcasLoProp,
)
from calculators.proxy_xtb import BOHR_PER_ANGSTROM, EMBED_SEED, FF_MAX_ITERS, ligand_geometry
from gauss import chem

RDKIT_VERSION = version("rdkit")
TBLITE_VERSION = version("tblite")
XTB_FMAX = 0.01  # eV/Angstrom, BFGS convergence of the GFN2-xTB optimisation
XTB_STEPS = 500
DEFAULT_SCRATCH = Path(tempfile.gettempdir()) / "gauss-proxy-molcas"


def _conformer_recipe() -> dict[str, Any]:
    return {
        "embed": "ETKDGv3|ETDG|ETDG-random",
        "seed": EMBED_SEED,
        "cleanup": "MMFF94|UFF",
        "ff_max_iters": FF_MAX_ITERS,
        "rdkit": RDKIT_VERSION,
    }


def rdkit_geometry(lig: chem.Ligand) -> tuple[np.ndarray, np.ndarray]:
    """Atomic numbers and positions (Angstrom): seeded ETKDGv3 + MMFF94, donor first."""
    numbers, positions = ligand_geometry(lig)
    return numbers, np.asarray(positions) / BOHR_PER_ANGSTROM


BOND_SCALE = 1.25  # bonded when closer than 1.25 x the sum of covalent radii


def _bond_change(lig: chem.Ligand, numbers: np.ndarray, positions: np.ndarray) -> str | None:
    """How the bonds at `positions` differ from the ligand's graph; None when they do not.

    A gas-phase optimisation of an anion can move a proton onto the donor (seen: the OH
    proton of '[N-]1C(C1C)CO' moved to N-): the result is another molecule, not this ligand.
    """
    from ase.data import covalent_radii
    from rdkit import Chem

    mol = Chem.AddHs(chem.parse(lig.smiles))  # same atom order as ligand_geometry
    graph = {tuple(sorted((b.GetBeginAtomIdx(), b.GetEndAtomIdx()))) for b in mol.GetBonds()}
    radii = covalent_radii[np.asarray(numbers)]
    dist = np.linalg.norm(positions[:, None] - positions[None], axis=2)
    n = len(numbers)
    found = {
        (i, j)
        for i in range(n)
        for j in range(i + 1, n)
        if dist[i, j] < BOND_SCALE * (radii[i] + radii[j])
    }
    if found == graph:
        return None

    def name(pair: tuple[int, int]) -> str:
        return "-".join(f"{chemical_symbols[int(numbers[k])]}{k + 1}" for k in pair)

    new = ", ".join(name(b) for b in sorted(found - graph)) or "none"
    lost = ", ".join(name(b) for b in sorted(graph - found)) or "none"
    return f"new bonds {new}; lost bonds {lost}"


def xtb_geometry(lig: chem.Ligand) -> tuple[np.ndarray, np.ndarray]:
    """The RDKit conformer relaxed with GFN2-xTB in the gas phase (ASE BFGS, tblite).

    Fails (chemistry) when the optimisation changed the bonding, e.g. moved a proton.
    """
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    from ase import Atoms
    from ase.calculators.calculator import CalculatorError
    from ase.optimize import BFGS
    from tblite.ase import TBLite

    numbers, positions = rdkit_geometry(lig)
    atoms = Atoms(numbers=numbers, positions=positions)
    atoms.calc = TBLite(method="GFN2-xTB", charge=lig.charge, multiplicity=1, verbosity=0)
    try:
        converged = BFGS(atoms, logfile=None).run(fmax=XTB_FMAX, steps=XTB_STEPS)
    except CalculatorError as exc:
        raise CalculationFailed(f"GFN2-xTB optimisation failed: {exc}") from exc
    if not converged:
        raise CalculationFailed(f"GFN2-xTB optimisation not converged in {XTB_STEPS} steps")
    change = _bond_change(lig, numbers, atoms.positions)
    if change:
        raise CalculationFailed(f"GFN2-xTB optimisation changed the bonding ({change})")
    return numbers, atoms.positions.copy()


def ligand_job(lig: chem.Ligand, geometry=rdkit_geometry) -> LoPropJob:
    """The free ligand in Angstrom, closed shell at its net charge, donor first."""
    numbers, positions = geometry(lig)
    symbols = tuple(chemical_symbols[int(z)] for z in numbers)
    coords = tuple(tuple(float(v) for v in row) for row in positions)
    return LoPropJob(symbols, coords, charge=lig.charge, multiplicity=1, donor_index=0)


@dataclass(frozen=True)
class MolcasProxy:
    """Donor-atom LoProp proxies of a donor-first ligand SMILES, computed by OpenMolcas.

    settings: the LoProp method (basis, functional, RICD, ...); part of the key.
    launcher: how pymolcas runs (SubprocessLauncher here, ParslLauncher on a cluster); its
        ``executables["pymolcas"]`` overrides the script's path.
    resources: MOLCAS_MEM and threads per task; not part of the key.
    scratch_root: parent of the per-key work directories (used when run() gets none).
    """

    settings: LoPropSettings = field(default_factory=LoPropSettings)
    launcher: Launcher = field(default_factory=SubprocessLauncher)
    resources: MolcasResources = field(default_factory=MolcasResources)
    scratch_root: Path = DEFAULT_SCRATCH
    name: str = field(default="proxy-openmolcas-loprop", init=False)
    version: str = field(default="2", init=False)
    geometry_recipe: str = field(
        default="RDKit ETKDGv3/MMFF94 then GFN2-xTB gas-phase optimised", init=False
    )

    def geometry(self, lig: chem.Ligand) -> tuple[np.ndarray, np.ndarray]:
        return xtb_geometry(lig)

    def geometry_input(self) -> dict[str, Any]:
        return {
            "recipe": self.geometry_recipe,
            **_conformer_recipe(),
            "optimiser": {"method": "GFN2-xTB", "fmax": XTB_FMAX, "steps": XTB_STEPS},
            "bond_check": BOND_SCALE,
            "tblite": TBLITE_VERSION,
        }

    def program_versions_extra(self) -> dict[str, str]:
        return {"rdkit": RDKIT_VERSION, "tblite": TBLITE_VERSION}

    @property
    def program(self) -> OpenMolcasLoProp:
        return OpenMolcasLoProp(self.settings, self.launcher, self.resources)

    def method_for(self, program_method: str) -> str:
        return f"{program_method} on the free ligand, {self.geometry_recipe} geometry"

    @property
    def method(self) -> str:
        return self.method_for(self.program.method)

    def canonical_input(self, smiles: str) -> dict[str, Any]:
        """Canonical ligand, its charge, the geometry recipe and every LoProp setting."""
        lig = chem.ligand(smiles)
        return {
            "ligand": lig.smiles,
            "charge": lig.charge,
            "conformer": self.geometry_input(),
            "settings": dataclasses.asdict(self.settings),
        }

    def run(self, smiles: str, workdir: Path | None = None) -> CalcResult:
        """Label one ligand; invalid SMILES raise LigandError, failures give a failed row."""
        lig = chem.ligand(smiles)  # bad input is an error, not a row
        key = key_for(self, smiles)
        where = Path(workdir) if workdir else Path(self.scratch_root) / key
        start = time.perf_counter()
        try:
            job = ligand_job(lig, self.geometry)
        except CalculationFailed as exc:
            reason = f"ligand geometry: {exc.reason}"
            seconds = time.perf_counter() - start
            return CalcResult.failure(self, key, reason, exc.kind, seconds=seconds, workdir=where)
        result = self.program.run(job, where)
        return dataclasses.replace(
            result,
            key=key,
            calculator=self.name,
            version=self.version,
            method=self.method_for(result.method),
            units=dict(UNITS) if result.ok else {},
            program_versions=result.program_versions | self.program_versions_extra(),
            wall_seconds=time.perf_counter() - start,
        )


@dataclass(frozen=True)
class MolcasProxyRdkitGeometry(MolcasProxy):
    """The same LoProp proxies on the bare RDKit ETKDGv3/MMFF94 conformer (no optimisation)."""

    name: str = field(default="proxy-openmolcas-loprop-rdkitgeom", init=False)
    version: str = field(default="1", init=False)
    geometry_recipe: str = field(default="RDKit ETKDGv3/MMFF94", init=False)

    def geometry(self, lig: chem.Ligand) -> tuple[np.ndarray, np.ndarray]:
        return rdkit_geometry(lig)

    def geometry_input(self) -> dict[str, Any]:
        return {"recipe": self.geometry_recipe, **_conformer_recipe()}

    def program_versions_extra(self) -> dict[str, str]:
        return {"rdkit": RDKIT_VERSION}
