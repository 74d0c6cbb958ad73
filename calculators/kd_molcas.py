"""HPC KD calculator: Kramers doublets of [Dy(H2O)5L2] from OpenMolcas CASSCF/RASSI-SO.

A second CASSCF route beside ORCA (calculators.orca.chain), with the same call shape as
EmbeddedKD/OrcaKD: `canonical_input(smiles)`, `run(smiles, workdir) -> CalcResult`, plus
`run_geometry(...)` for a user-given structure. The geometry step is a setting:

embedded  molSimplify complex relaxed with GFN2-xTB in ALPB water (calculators.assembly)
orca      the paper's ORCA BP86-D3(BJ)/DKH2 Y-analogue optimisation, constrained then free
          (orca.chain's chain steps), Y then replaced by Dy
xyz       a user-given structure: `run_geometry` / `read_xyz`

The CASSCF step (calculators.openmolcas.casscf) runs in the `casscf` subdirectory of the work
directory, which is named by the calculation key and kept after failures. A step whose output
already parses as complete is reused (a rerun after a crash resumes). The SMILES never reaches
a file name or an argument list.
"""

from __future__ import annotations

import tempfile
import time
from dataclasses import asdict, dataclass, field, replace
from importlib.metadata import version
from pathlib import Path
from typing import Any, Literal

import numpy as np

from calculators import assembly
from calculators import xyz as xyz_file
from calculators.base import (
    CalcResult,
    CalculationFailed,
    Launcher,
    SubprocessLauncher,
    calculation_key,
    key_for,
)
from calculators.openmolcas.casscf import (
    CasscfJob,
    CasscfSettings,
    CasscfTemplate,
    MolcasInputError,
    validate_job,
)
from calculators.openmolcas.program import (
    ENV_PROGRAM,
    PROGRAM,
    MolcasResources,
    installed_versions,
    openmolcas_label,
)
from calculators.orca import Geometry, OptJob, OptTemplate, Resources, swap_metal
from calculators.orca.chain import STEP_CONSTRAINED, STEP_FREE, OrcaKD, optimised_complex
from calculators.steps import (
    StepFailed,
    StepRecord,
    chain_placed,
    claim_workdir,
    completed,
    launch_step,
)
from calculators.structure import FEATURE_NAMES
from calculators.values import FEATURE_UNITS, KD_UNITS
from gauss import chem

GeometryRecipe = Literal["embedded", "orca"]
STEP_CASSCF = "casscf"
GEOMETRY_FILE = "geometry.xyz"  # the embedded geometry step's result, reused on a rerun
DONOR_CUTOFF = assembly.METAL_DONOR_RANGE[1]  # angstrom: non-H atoms this close to Dy bind it
GEOMETRY_METHODS = {
    "embedded": "molSimplify + GFN2-xTB/ALPB(water) relaxation, water O kept in plane",
    "orca": "ORCA BP86-D3(BJ)/DKH2 Y-analogue optimisation (constrained, then free), Y -> Dy",
    "xyz": "user-given XYZ",
}
UNITS = (
    KD_UNITS
    | {"g_doublets": "1", "spin_free_energies": "cm-1"}
    | {"lowest_so_energy_eh": "Eh", "lowest_sextet_energy_eh": "Eh", "so_states": "count"}
    | {"dy_donor_distances": "angstrom", "active_f_character": "1"}
    | FEATURE_UNITS
)


class XYZError(MolcasInputError):
    """An XYZ file that cannot be read as one Dy complex (the message names the value)."""


def read_xyz(path: str | Path) -> tuple[tuple[str, ...], np.ndarray]:
    """Elements and coordinates (angstrom) of a plain XYZ file holding a Dy atom."""
    try:
        elements, xyz = xyz_file.read_xyz(path)
    except xyz_file.XYZError as exc:
        raise XYZError(str(exc)) from None
    if "Dy" not in elements:
        raise XYZError(f"{path}: no Dy atom; this calculator computes Dy(III) Kramers doublets")
    return elements, xyz


def donor_atoms(elements: tuple[str, ...], xyz: np.ndarray) -> tuple[int, ...]:
    """Non-H atoms within DONOR_CUTOFF of Dy: the atoms that get the donor basis."""
    metal = elements.index("Dy")
    dist = np.linalg.norm(np.asarray(xyz) - np.asarray(xyz)[metal], axis=1)
    return tuple(
        i for i, e in enumerate(elements) if i != metal and e != "H" and dist[i] < DONOR_CUTOFF
    )


def make_job(
    elements: tuple[str, ...], xyz: np.ndarray, charge: int, donors: tuple[int, ...] | None = None
) -> CasscfJob:
    """A validated CasscfJob (MolcasInputError names what is wrong)."""
    job = CasscfJob(
        elements=tuple(elements),
        coordinates=tuple(tuple(float(v) for v in row) for row in np.asarray(xyz, dtype=float)),
        charge=int(charge),
        donors=tuple(int(d) for d in (donors if donors is not None else ())),
    )
    validate_job(job)  # before donor_atoms: it needs exactly one Dy
    if donors is None:
        job = replace(job, donors=donor_atoms(job.elements, np.asarray(job.coordinates)))
    return job


def _pymolcas_override(launcher: Launcher) -> str | None:
    """A launcher's ``executables["pymolcas"]`` (the script's path where it runs), if any."""
    return dict(getattr(launcher, "executables", None) or {}).get(PROGRAM)


@dataclass(frozen=True)
class MolcasKD:
    """KD gaps of [Dy(H2O)5L2] from OpenMolcas SA-CASSCF(9,7) + RASSI-SO + SINGLE_ANISO."""

    settings: CasscfSettings = field(default_factory=CasscfSettings)
    geometry: GeometryRecipe = "embedded"
    resources: MolcasResources = field(default_factory=MolcasResources)
    orca_resources: Resources = field(default_factory=Resources)  # geometry="orca" only
    launcher: Launcher = field(default_factory=SubprocessLauncher)
    scratch_root: Path = field(
        default_factory=lambda: Path(tempfile.gettempdir()) / "gauss-kd-molcas"
    )
    name: str = field(default="kd-openmolcas-casscf", init=False)
    version: str = field(default="1", init=False)

    def __post_init__(self) -> None:
        if self.geometry not in ("embedded", "orca"):
            raise ValueError(f"geometry must be 'embedded' or 'orca', got {self.geometry!r}")

    def method_for(self, versions: dict[str, str], recipe: str | None = None) -> str:
        s = self.settings
        ricd = ", RICD" if s.ricd else ""
        return (
            f"{openmolcas_label(versions)} SA-CASSCF(9,7) ({s.roots_label}) + RASSI-SO "
            f"(AMFI, DKH2) + SINGLE_ANISO; {s.dy_basis}(Dy)/{s.donor_basis}(donor atoms: "
            f"2 axial + 5 water O)/{s.other_basis}(other atoms){ricd}; geometry: "
            f"{GEOMETRY_METHODS[recipe or self.geometry]}"
        )

    @property
    def method(self) -> str:
        return self.method_for(installed_versions(_pymolcas_override(self.launcher)))

    @property
    def template(self) -> CasscfTemplate:
        return CasscfTemplate(
            self.settings, self.resources, pymolcas=_pymolcas_override(self.launcher)
        )

    def canonical_input(self, smiles: str) -> dict[str, Any]:
        """Canonical ligand plus every setting that changes the numbers (not resources)."""
        return {
            "ligand": chem.ligand(smiles).smiles,
            "metal": "Dy",
            "geometry": self.geometry,
            "casscf": asdict(self.settings),
        }

    def geometry_input(self, job: CasscfJob) -> dict[str, Any]:
        """Canonical input of a given geometry: atoms, coordinates to 1e-6 A, roles, settings."""
        return {
            "elements": list(job.elements),
            "coordinates": [[round(v, 6) for v in row] for row in job.coordinates],
            "charge": job.charge,
            "donors": list(job.donors),
            "casscf": asdict(self.settings),
        }

    # --- running ------------------------------------------------------------------------

    def run(self, smiles: str, workdir: Path | None = None) -> CalcResult:
        """Geometry step, then CASSCF; invalid SMILES raise LigandError, failures give a row."""
        lig = chem.ligand(smiles)  # bad input is an error, not a row
        key = key_for(self, smiles)
        where = Path(workdir) if workdir else self.scratch_root / key
        records: dict[str, StepRecord] = {}
        start = time.perf_counter()
        try:
            claim_workdir(where, key, self.name, self.version)
            cx = self._complex(lig, where, records)
            job = make_job(cx.elements, cx.coordinates, cx.charge, tuple(cx.waters + cx.donors))
            values = self._casscf(job, where, records)
        except CalculationFailed as exc:
            return self._failed(key, where, exc, records, start)
        values.update({n: cx.features()[n] for n in FEATURE_NAMES})
        extra = {"molSimplify": version("molSimplify")}
        if self.geometry == "embedded":
            extra["tblite"] = version("tblite")
        return self._ok(key, where, values, records, start, extra)

    def run_geometry(
        self,
        elements: tuple[str, ...],
        positions: np.ndarray,
        charge: int,
        workdir: Path | None = None,
        donors: tuple[int, ...] | None = None,
    ) -> CalcResult:
        """CASSCF on a given Dy geometry; bad input raises MolcasInputError before any run.

        Donor atoms (donor basis) default to the non-H atoms within DONOR_CUTOFF of Dy.
        """
        job = make_job(tuple(elements), np.asarray(positions), charge, donors)
        key = calculation_key(self.name, self.version, self.geometry_input(job))
        where = Path(workdir) if workdir else self.scratch_root / key
        records: dict[str, StepRecord] = {}
        start = time.perf_counter()
        try:
            claim_workdir(where, key, self.name, self.version)
            values = self._casscf(job, where, records)
        except CalculationFailed as exc:
            return self._failed(key, where, exc, records, start, "xyz")
        return self._ok(key, where, values, records, start, {}, "xyz")

    def _complex(self, lig: chem.Ligand, where: Path, records: dict) -> assembly.Complex:
        if self.geometry == "embedded":
            stored = where / GEOMETRY_FILE
            if stored.is_file():  # resume on the geometry the CASSCF step was written for
                elements, xyz = read_xyz(stored)  # (molSimplify builds are not reproducible)
                return assembly.complex_from_geometry(
                    lig.smiles, "Dy", elements, xyz, "gfn2-xtb/alpb(water)"
                )
            try:
                cx = assembly.relax(assembly.assemble(lig.smiles, "Dy"))
            except CalculationFailed as exc:
                raise CalculationFailed(f"geometry: {exc.reason}", exc.kind) from exc
            cx.write_xyz(stored)
            return cx
        return self._orca_complex(lig, where, records)

    def _orca_complex(self, lig: chem.Ligand, where: Path, records: dict) -> assembly.Complex:
        """orca.chain's two Y optimisations (same steps, same resume rule), then Y -> Dy."""
        orca = OrcaKD(launcher=self.launcher, resources=self.orca_resources)
        charge = assembly.METAL_OXSTATE + 2 * lig.charge
        first = orca.run_step(
            STEP_CONSTRAINED,
            OptTemplate(constrained=True),
            lambda: orca.assembled_job(lig),
            where,
            records,
        )
        second = orca.run_step(
            STEP_FREE,
            OptTemplate(constrained=False),
            lambda: OptJob(_orca_geometry(first), charge, resources=self.orca_resources),
            where,
            records,
        )
        try:
            optimised_complex(lig.smiles, second)
        except CalculationFailed as exc:
            reason = f"optimised geometry is not [Y(H2O)5L2]: {exc.reason}"
            raise StepFailed(STEP_FREE, CalculationFailed(reason, exc.kind)) from exc
        dy = swap_metal(_orca_geometry(second), "Y", "Dy")
        return assembly.complex_from_geometry(
            lig.smiles, "Dy", dy.elements, dy.positions(), "orca-bp86-d3bj-dkh2-opt(Y->Dy)"
        )

    def _casscf(self, job: CasscfJob, where: Path, records: dict) -> dict[str, Any]:
        """Reuse a complete CASSCF step unless an earlier step ran now; else launch it."""
        stepdir = where / STEP_CASSCF
        template = self.template
        rerun = any(rec.launched for rec in records.values())
        done = None if rerun else completed(template, stepdir)
        if done is not None:
            records[STEP_CASSCF] = StepRecord(done, None, False)
        else:
            records[STEP_CASSCF] = launch_step(STEP_CASSCF, template, job, stepdir, self.launcher)
        values = dict(records[STEP_CASSCF].values)
        xyz = np.asarray(job.coordinates)
        values["dy_donor_distances"] = [
            float(np.linalg.norm(xyz[d] - xyz[job.metal])) for d in job.donors
        ]
        return values

    # --- results ------------------------------------------------------------------------

    def _versions(self, where: Path) -> dict[str, str]:
        return self.template.program_versions(where / STEP_CASSCF)

    def _failed(self, key, where, exc, records, start, recipe=None) -> CalcResult:
        reason = exc.reason
        if f"{ENV_PROGRAM} exited" in reason:  # the launcher ran `env ... pymolcas`
            reason = reason.replace(f"{ENV_PROGRAM} exited", f"{PROGRAM} exited")
        versions = self._versions(where)
        result = CalcResult.failure(
            self,
            key,
            reason,
            exc.kind,
            seconds=time.perf_counter() - start,
            workdir=where,
            program_versions=versions,
            method=self.method_for(versions, recipe) if versions else None,
        )
        return chain_placed(result, records, exc)

    def _ok(self, key, where, values, records, start, extra, recipe=None) -> CalcResult:
        versions = self._versions(where)
        orca = {
            f"orca[{s}]": r.version for s, r in records.items() if s != STEP_CASSCF and r.version
        }
        result = CalcResult.success(
            self,
            key,
            values,
            UNITS,
            seconds=time.perf_counter() - start,
            workdir=where,
            program_versions=versions | orca | extra,
            method=self.method_for(versions, recipe),
        )
        return chain_placed(result, records)


def _orca_geometry(values: dict[str, Any]) -> Geometry:
    return Geometry.of(values["elements"], values["coords"])


__all__ = ["MolcasInputError", "MolcasKD", "XYZError", "donor_atoms", "make_job", "read_xyz"]
