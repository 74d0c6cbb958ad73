"""HPC KD calculator: the paper's ORCA chain for one ligand, with the call shape of EmbeddedKD.

Steps (paper, Methods, "Electronics structure simulations"), each in its own subdirectory of
the work directory so a crash leaves inspectable, resumable state:

1-opt-constrained  assemble [Y(H2O)5L2], BP86-D3(BJ)/DKH2 optimisation, water O pentagon locked
2-opt-free         the same optimisation, unconstrained, from the step-1 geometry
3-casscf           Y -> Dy, SA-CASSCF(9,7) + SOC-QDPT: the Kramers-doublet energies

Y replaces Dy in the DFT steps because DFT cannot describe the open 4f9 shell. A step whose
output already parses as complete is reused, unless an earlier step ran again; so a rerun after
a crash or a failed step resumes at the first unfinished step. The SMILES never reaches a file
name or an argument list: the work directory is named by the calculation key.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib.metadata import version
from pathlib import Path
from typing import Any

from calculators import assembly
from calculators.base import (
    CalcResult,
    CalculationFailed,
    Launcher,
    ProgramTemplate,
    SubprocessLauncher,
    key_for,
)
from calculators.orca import (
    DY_BASIS,
    EQUATORIAL_ANGLE,
    LIGHT_BASIS,
    Y_BASIS,
    CasscfJob,
    CasscfSocTemplate,
    Geometry,
    OptJob,
    OptTemplate,
    Resources,
    mult_blocks,
    orca_version,
    swap_metal,
)
from calculators.steps import (
    StepFailed,
    StepRecord,
    build_job,
    chain_placed,
    claim_workdir,
    completed,
    launch_step,
)
from calculators.structure import FEATURE_NAMES
from calculators.values import FEATURE_UNITS, kd_values
from gauss import chem

STEP_CONSTRAINED = "1-opt-constrained"
STEP_FREE = "2-opt-free"
STEP_CASSCF = "3-casscf"


def output_version(stepdir: Path, template: ProgramTemplate) -> str | None:
    """ORCA version from the header of a step's output (None before it ran)."""
    path = stepdir / template.output_name()
    if not path.is_file():
        return None
    with open(path, encoding="utf-8", errors="replace") as handle:
        return orca_version(handle.read(20000))


def optimised_complex(ligand_smiles: str, values: dict[str, Any]) -> assembly.Complex:
    """Re-identify M, waters and donors in an optimised Y geometry (fails if bonds changed)."""
    return assembly.complex_from_geometry(
        ligand_smiles, "Y", values["elements"], values["coords"], "orca-bp86-d3bj-dkh2-opt"
    )


def _geometry(values: dict[str, Any]) -> Geometry:
    return Geometry.of(values["elements"], values["coords"])


def _orca_versions(records: dict[str, StepRecord]) -> dict[str, str]:
    """One 'orca' entry when every step ran the same ORCA, else one entry per step."""
    found = {step: rec.version for step, rec in records.items() if rec.version}
    if len(set(found.values())) == 1:
        return {"orca": next(iter(found.values()))}
    return {f"orca[{step}]": v for step, v in found.items()}


@dataclass(frozen=True)
class OrcaKD:
    """KD gaps of [Dy(H2O)5L2] from ORCA (two Y optimisations, then Dy CASSCF/SOC-QDPT)."""

    casscf: CasscfSocTemplate = CasscfSocTemplate()
    resources: Resources = Resources()
    launcher: Launcher = field(default_factory=SubprocessLauncher)
    scratch_root: Path = field(
        default_factory=lambda: Path(tempfile.gettempdir()) / "gauss-kd-orca"
    )
    name: str = field(default="kd-orca-casscf", init=False)
    version: str = field(default="1", init=False)

    @property
    def method(self) -> str:
        t = self.casscf
        mults = ",".join(str(m) for m, _ in mult_blocks(t.sextets_only))
        return (
            "ORCA BP86-D3(BJ)/DKH2 Y-analogue optimisation (constrained, then free) + "
            f"SA-CASSCF(9,7)+SOC-QDPT on Dy (mult {mults}, {t.block} diagonal energies; "
            f"{LIGHT_BASIS}, {Y_BASIS}(Y), {DY_BASIS}(Dy))"
        )

    @property
    def units(self) -> dict[str, str]:
        gaps = {f"gap_{i}": "cm-1" for i in range(1, self.casscf.n_doublets)}
        energies = {"kd_energies": "cm-1", "opt_energy_eh": "Eh", "lowest_so_energy_eh": "Eh"}
        return gaps | energies | {"so_states": "count"} | FEATURE_UNITS

    def canonical_input(self, smiles: str) -> dict[str, Any]:
        """Canonical ligand plus every setting that changes the numbers (not resources)."""
        t = self.casscf
        return {
            "ligand": chem.ligand(smiles).smiles,
            "dft_metal": "Y",
            "opt": {
                "method": "BP86 D3BJ DKH2 picturechange 2 TightSCF",
                "basis": LIGHT_BASIS,
                "metal_basis": Y_BASIS,
                "equatorial_angle": EQUATORIAL_ANGLE,
            },
            "casscf": {
                "metal_basis": DY_BASIS,
                "sextets_only": t.sextets_only,
                "rijcosx": t.rijcosx,
                "n_doublets": t.n_doublets,
                "block": t.block,
                "kramers_tol_cm": t.tol_cm,
            },
        }

    def run(self, smiles: str, workdir: Path | None = None) -> CalcResult:
        """Run (or resume) the chain; invalid SMILES raise LigandError, failures give a row."""
        lig = chem.ligand(smiles)  # bad input is an error, not a row
        key = key_for(self, smiles)
        where = Path(workdir) if workdir else self.scratch_root / key
        records: dict[str, StepRecord] = {}
        start = time.perf_counter()
        try:
            claim_workdir(where, key, self.name, self.version)
            values = self._chain(lig, where, records)
        except CalculationFailed as exc:
            result = CalcResult.failure(
                self,
                key,
                exc.reason,
                exc.kind,
                seconds=time.perf_counter() - start,
                workdir=where,
                program_versions=_orca_versions(records),
            )
            return chain_placed(result, records, exc)
        result = CalcResult.success(
            self,
            key,
            values,
            self.units,
            seconds=time.perf_counter() - start,
            workdir=where,
            program_versions=_orca_versions(records) | {"molSimplify": version("molSimplify")},
        )
        return chain_placed(result, records)

    def _chain(
        self, lig: chem.Ligand, where: Path, records: dict[str, StepRecord]
    ) -> dict[str, Any]:
        charge = assembly.METAL_OXSTATE + 2 * lig.charge
        constrained = OptTemplate(constrained=True)
        first = self.run_step(
            STEP_CONSTRAINED, constrained, lambda: self.assembled_job(lig), where, records
        )
        free = OptTemplate(constrained=False)
        second = self.run_step(
            STEP_FREE,
            free,
            lambda: OptJob(_geometry(first), charge, resources=self.resources),
            where,
            records,
        )
        try:
            cx = optimised_complex(lig.smiles, second)
        except CalculationFailed as exc:
            reason = f"optimised geometry is not [Y(H2O)5L2]: {exc.reason}"
            raise StepFailed(STEP_FREE, CalculationFailed(reason, exc.kind)) from exc
        dy = swap_metal(_geometry(second), "Y", "Dy")
        kds = self.run_step(
            STEP_CASSCF, self.casscf, lambda: CasscfJob(dy, charge, self.resources), where, records
        )
        return chain_values(kds, second, cx)

    def assembled_job(self, lig: chem.Ligand) -> OptJob:
        """Step-1 job: the molSimplify complex with Y, its five water O held in the pentagon."""
        try:
            cx = assembly.assemble(lig.smiles, "Y")
        except CalculationFailed as exc:
            raise CalculationFailed(f"assembly failed: {exc.reason}", exc.kind) from exc
        geometry = Geometry.of(cx.elements, cx.coordinates)
        return OptJob(geometry, cx.charge, cx.multiplicity, cx.waters, self.resources)

    def run_step(
        self,
        step: str,
        template: ProgramTemplate,
        job: Callable[[], Any],
        where: Path,
        records: dict[str, StepRecord],
    ) -> dict[str, Any]:
        """Reuse a complete step if nothing before it ran again now; otherwise launch it."""
        stepdir = where / step
        rerun_upstream = any(rec.launched for rec in records.values())
        done = None if rerun_upstream else completed(template, stepdir)
        if done is not None:
            records[step] = StepRecord(done, output_version(stepdir, template), False)
        else:
            built = build_job(step, job)
            records[step] = launch_step(
                step, template, built, stepdir, self.launcher, output_version
            )
        return records[step].values


def chain_values(kds: dict[str, Any], opt: dict[str, Any], cx: assembly.Complex) -> dict[str, Any]:
    """EmbeddedKD's keys (gap_i, kd_energies, the six features) plus ORCA's energies."""
    energies = kds["kd_energies_cm"]
    values = kd_values(energies, len(energies))
    values["so_states"] = kds["so_states"]
    values["qdpt_block"] = kds["qdpt_block"]
    values["lowest_so_energy_eh"] = kds["lowest_so_energy_eh"]
    values["opt_energy_eh"] = opt["energy_eh"]
    features = cx.features()
    values.update({name: features[name] for name in FEATURE_NAMES})
    return values
