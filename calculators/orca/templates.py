"""ORCA templates (write inputs, parse outputs for run_program) and the one-step Kramers
calculator on a given Dy geometry."""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from calculators.base import (
    CalcResult,
    Launcher,
    SubprocessLauncher,
    run_program,
)
from calculators.orca.inputs import (
    DY_BASIS,
    LIGHT_BASIS,
    PROGRAM,
    SAFE_NAME,
    CasscfJob,
    InputError,
    OptJob,
    casscf_soc_input,
    mult_blocks,
    opt_input,
)
from calculators.orca.outputs import (
    KRAMERS_TOL_CM,
    UNITS,
    BlockChoice,
    parse_casscf_soc,
    parse_opt_output,
    program_versions,
    read_output,
)

# --- templates and the Dy calculator ----------------------------------------------------------


def _write_input(workdir: Path, name: str, text: str) -> list[str]:
    if not SAFE_NAME.match(name):
        raise InputError(f"unsafe ORCA job name: {name!r}")
    (Path(workdir) / f"{name}.inp").write_text(text)
    return [f"{name}.inp"]


@dataclass(frozen=True)
class OptTemplate:
    """One optimisation step: constrained (step 1) or free from the step-1 geometry (step 2)."""

    constrained: bool = True
    name: str = "y_opt"
    program: str = PROGRAM

    def write_inputs(self, item: OptJob, workdir: Path) -> list[str]:
        return _write_input(workdir, self.name, opt_input(item, self.constrained))

    def output_name(self) -> str:
        return f"{self.name}.out"

    def parse(self, workdir: Path) -> dict[str, Any]:
        return parse_opt_output(read_output(workdir, self.output_name()))


@dataclass(frozen=True)
class CasscfSocTemplate:
    """CASSCF(9,7)+SOC input; parse returns the lowest n_doublets KDs from one QDPT block."""

    name: str = "dy_casscf_soc"
    sextets_only: bool = False
    maxiter: int = 200
    rijcosx: bool = False
    n_doublets: int = 8  # the 6H15/2 ground multiplet of Dy(III)
    block: BlockChoice = "CASSCF"
    tol_cm: float = KRAMERS_TOL_CM
    program: str = PROGRAM

    def write_inputs(self, item: CasscfJob, workdir: Path) -> list[str]:
        text = casscf_soc_input(item, self.sextets_only, self.maxiter, self.rijcosx)
        return _write_input(workdir, self.name, text)

    def output_name(self) -> str:
        return f"{self.name}.out"

    def parse(self, workdir: Path) -> dict[str, Any]:
        text = read_output(workdir, self.output_name())
        return parse_casscf_soc(text, self.n_doublets, self.block, self.tol_cm)


@dataclass(frozen=True)
class KramersCalculator:
    """Dy(III) Kramers-doublet gaps Delta E_0i from ORCA CASSCF/SOC-QDPT."""

    template: CasscfSocTemplate = CasscfSocTemplate()
    launcher: Launcher = field(default_factory=SubprocessLauncher)
    name: str = field(default="orca-kramers", init=False)
    version: str = field(default="1", init=False)

    @property
    def method(self) -> str:
        t = self.template
        mults = ",".join(str(m) for m, _ in mult_blocks(t.sextets_only))
        return (
            f"ORCA SA-CASSCF(9,7) mult {mults} + SOC-QDPT ({t.block} diagonal energies), "
            f"DKH2 picture change 2, {DY_BASIS}(Dy)/{LIGHT_BASIS}"
        )

    def canonical_input(self, item: CasscfJob) -> dict[str, Any]:
        """Geometry, charge and method settings; resources do not change the result."""
        t = self.template
        return {
            "elements": list(item.geometry.elements),
            "coords": [[round(v, 6) for v in xyz] for xyz in item.geometry.coords],
            "charge": item.charge,
            "sextets_only": t.sextets_only,
            "rijcosx": t.rijcosx,
            "n_doublets": t.n_doublets,
            "block": t.block,
        }

    def run(self, item: CasscfJob, workdir: Path | None = None) -> CalcResult:
        workdir = Path(workdir) if workdir else Path(tempfile.mkdtemp(prefix="orca_kramers_"))
        return run_program(
            self, self.template, item, workdir, self.launcher, UNITS, program_versions
        )
