"""HPC proxy calculator: OpenMolcas PBE + LoProp labels of a ligand's donor atom.

The production counterpart of XtbProxyCalculator (paper, Methods, "LoProp evaluation"): same
item (a donor-first SMILES), same value keys (charge, dipole, polarizability, atomic_number of
the donor). The free ligand gets the xTB proxy's seeded RDKit conformer, donor at index 0, so
both proxies see the same geometry; OpenMolcas runs through the injected launcher. The work
directory is named by the calculation key, never by the SMILES.
"""

from __future__ import annotations

import dataclasses
import tempfile
import time
from dataclasses import dataclass, field
from importlib.metadata import version
from pathlib import Path
from typing import Any

from ase.data import chemical_symbols

from calculators.base import CalcResult, CalculationFailed, Launcher, SubprocessLauncher, key_for
from calculators.openmolcas import UNITS, LoPropJob, LoPropSettings, OpenMolcasLoProp
from calculators.proxy_xtb import BOHR_PER_ANGSTROM, EMBED_SEED, FF_MAX_ITERS, ligand_geometry
from gauss import chem

RDKIT_VERSION = version("rdkit")


def ligand_job(lig: chem.Ligand) -> LoPropJob:
    """The free ligand's conformer in Angstrom, closed shell at its net charge, donor first."""
    numbers, positions = ligand_geometry(lig)
    symbols = tuple(chemical_symbols[int(z)] for z in numbers)
    coords = tuple(tuple(float(v) / BOHR_PER_ANGSTROM for v in row) for row in positions)
    return LoPropJob(symbols, coords, charge=lig.charge, multiplicity=1, donor_index=0)


@dataclass(frozen=True)
class MolcasProxy:
    """Donor-atom LoProp proxies of a donor-first ligand SMILES, computed by OpenMolcas."""

    settings: LoPropSettings = field(default_factory=LoPropSettings)
    launcher: Launcher = field(default_factory=SubprocessLauncher)
    scratch_root: Path = field(
        default_factory=lambda: Path(tempfile.gettempdir()) / "gauss-proxy-molcas"
    )
    name: str = "proxy-openmolcas-loprop"
    version: str = "1"

    @property
    def program(self) -> OpenMolcasLoProp:
        return OpenMolcasLoProp(self.settings, self.launcher)

    @property
    def method(self) -> str:
        return f"{self.program.method} on the free ligand, RDKit ETKDGv3/MMFF94 geometry"

    def canonical_input(self, smiles: str) -> dict[str, Any]:
        """Canonical ligand, its charge, the conformer recipe and every LoProp setting."""
        lig = chem.ligand(smiles)
        return {
            "ligand": lig.smiles,
            "charge": lig.charge,
            "conformer": {
                "embed": "ETKDGv3|ETDG|ETDG-random",
                "seed": EMBED_SEED,
                "cleanup": "MMFF94|UFF",
                "ff_max_iters": FF_MAX_ITERS,
                "rdkit": RDKIT_VERSION,
            },
            "settings": dataclasses.asdict(self.settings),
        }

    def run(self, smiles: str, workdir: Path | None = None) -> CalcResult:
        """Label one ligand; invalid SMILES raise LigandError, failures give a failed row."""
        lig = chem.ligand(smiles)  # bad input is an error, not a row
        key = key_for(self, smiles)
        where = Path(workdir) if workdir else self.scratch_root / key
        own = dict(key=key, calculator=self.name, version=self.version, method=self.method)
        start = time.perf_counter()
        try:
            job = ligand_job(lig)
        except CalculationFailed as exc:
            return CalcResult(
                **own,
                status="failed",
                reason=f"ligand geometry: {exc.reason}",
                failure_kind=exc.kind,
                wall_seconds=time.perf_counter() - start,
                workdir=str(where),
            )
        result = self.program.run(job, where)
        return dataclasses.replace(
            result,
            **own,
            units=dict(UNITS) if result.ok else {},
            program_versions=result.program_versions | {"rdkit": RDKIT_VERSION},
            wall_seconds=time.perf_counter() - start,
        )
