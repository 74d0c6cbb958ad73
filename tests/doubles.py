"""Test doubles shared by the test modules.

ReplayLauncher stands in for an external program (pymolcas, ORCA): it replays an output stored
under tests/fixtures/ instead of running the program, so the calculators' templates, parsers,
step bookkeeping and geometry checks all run for real on it. The OpenMolcas outputs there are
real runs; the ORCA folder holds one real run and documented synthetic outputs. Each fixture
folder's README says which file is which and how it was made.

h2o_job and H2O_SETTINGS are the input of the stored real H2O LoProp runs, shared by the replay
tests and the real-program tests.

Not for Parsl workers: they import test modules with tests/ on PYTHONPATH, where a `tests`
package in site-packages shadows this one.
"""

from __future__ import annotations

import shutil
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

from calculators.base import CalculationFailed, LaunchOutcome
from calculators.openmolcas import LoPropJob, LoPropSettings

Replay = str | Path | CalculationFailed
"""What one launch gives: a stored output (its text, or the file that holds it), or the
CalculationFailed the launcher itself raises (a missing executable, a lost worker)."""


class Launch(NamedTuple):
    """One launch as the calculator asked for it."""

    program: str
    args: list[str]
    workdir: Path
    files: list[str]  # the names in workdir when the program was launched


@dataclass
class ReplayLauncher:
    """Replays stored real or documented synthetic outputs (tests/fixtures/) for every launch.

    Each launch writes `output` to the stdout path and returns `returncode`, unless its step
    directory (the work directory's name) has its own (output, returncode) in `per_step`.
    Before that it checks that the last argument names the input file written in the work
    directory, and records the launch in `calls`.
    """

    output: Replay | None = None
    returncode: int = 0
    per_step: Mapping[str, tuple[Replay, int]] = field(default_factory=dict)
    calls: list[Launch] = field(default_factory=list)

    def launch(self, program: str, args: list[str], workdir: Path, stdout: Path) -> LaunchOutcome:
        files = sorted(p.name for p in workdir.iterdir())
        self.calls.append(Launch(program, list(args), workdir, files))
        assert args and (workdir / args[-1]).is_file(), "the input must be written before launch"
        replay, returncode = self.per_step.get(workdir.name, (self.output, self.returncode))
        if replay is None:
            raise AssertionError(f"no stored output for step {workdir.name!r}")
        if isinstance(replay, CalculationFailed):
            raise replay
        if isinstance(replay, Path):
            shutil.copyfile(replay, stdout)
        else:
            stdout.write_text(replay)
        return LaunchOutcome(returncode, 0.0, stdout)

    @property
    def steps(self) -> list[str]:
        """The step directories launched in, in launch order."""
        return [call.workdir.name for call in self.calls]


H2O_SETTINGS = LoPropSettings(basis="ANO-R0")  # what real_h2o_pbe_ano-r0_loprop.input used


def h2o_job(**changes) -> LoPropJob:
    """The geometry of tests/fixtures/openmolcas/real_h2o.xyz (Angstrom), the H2O runs' input."""
    fields = dict(
        elements=("O", "H", "H"),
        coordinates=((0.0, 0.0, 0.117), (0.0, 0.757, -0.467), (0.0, -0.757, -0.467)),
    )
    fields.update(changes)
    return LoPropJob(**fields)
