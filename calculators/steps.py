"""Resumable chains of program steps, one subdirectory per step (ORCA and OpenMolcas KD).

A step whose output already parses as complete is reused; a failure names its step; the work
directory is claimed by one calculation key (MARKER), so two calculations never share steps;
where each step ran (batch job, node) and the workers lost before it are kept per step.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from calculators.base import (
    CalcResult,
    CalculationFailed,
    Launcher,
    LaunchOutcome,
    Placement,
    ProgramTemplate,
    placed,
)

MARKER = "calculation.json"  # records which calculation a work directory belongs to


class StepFailed(CalculationFailed):
    """A step's failure, its reason prefixed with the step so the row says where it broke."""

    def __init__(self, step: str, exc: CalculationFailed, outcome: LaunchOutcome | None = None):
        attempts = outcome.failed_attempts if outcome else exc.attempts
        super().__init__(f"{step}: {exc.reason}", exc.kind, attempts)
        self.step = step
        self.placement = outcome.placement if outcome else None


@dataclass
class StepRecord:
    """What a chain learned from one step: parsed values, program version, whether it ran now."""

    values: dict[str, Any]
    version: str | None
    launched: bool
    placement: Placement | None = None  # where the program ran, if it ran now
    attempts: tuple[dict, ...] = ()  # lost workers/blocks before that run


def completed(template: ProgramTemplate, stepdir: Path) -> dict[str, Any] | None:
    """Parsed values of a step whose output is already complete and usable, else None."""
    if not (stepdir / template.output_name()).is_file():
        return None
    try:
        return template.parse(stepdir)
    except CalculationFailed:
        return None


def launch_step(
    step: str,
    template: ProgramTemplate,
    job: Any,
    stepdir: Path,
    launcher: Launcher,
    version_of: Callable[[Path, ProgramTemplate], str | None] | None = None,
) -> StepRecord:
    """Write, launch, parse one step; any CalculationFailed comes back as StepFailed.

    `version_of` reads the program version from the step's output (recorded per step).
    """
    stepdir.mkdir(parents=True, exist_ok=True)
    outcome: LaunchOutcome | None = None
    try:
        args = template.write_inputs(job, stepdir)
        outcome = launcher.launch(template.program, args, stepdir, stepdir / template.output_name())
        try:
            values = template.parse(stepdir)
        except CalculationFailed as exc:
            if outcome.returncode != 0:
                reason = f"{template.program} exited {outcome.returncode}: {exc.reason}"
                raise CalculationFailed(reason, exc.kind) from exc
            raise
    except CalculationFailed as exc:
        raise StepFailed(step, exc, outcome) from exc
    version = version_of(stepdir, template) if version_of else None
    return StepRecord(values, version, True, outcome.placement, outcome.failed_attempts)


def chain_placed(
    result: CalcResult, records: dict[str, StepRecord], exc: CalculationFailed | None = None
) -> CalcResult:
    """`result` placed where the chain's last program ran (or the failing step, from `exc`),
    with every attempt lost before it, step by step."""
    lost = step_attempts(records)
    if exc is None:
        return placed(result, last_placement(records), lost)
    last = getattr(exc, "placement", None) or last_placement(records)
    return placed(result, last, [*lost, *exc.attempts])


def last_placement(records: dict[str, StepRecord]) -> Placement:
    """Where the last program of the chain that ran in this call ran (none: all reused)."""
    ran = [rec.placement for rec in records.values() if rec.placement is not None]
    return ran[-1] if ran else Placement()


def step_attempts(records: dict[str, StepRecord]) -> list[dict]:
    return [attempt for rec in records.values() for attempt in rec.attempts]


def build_job(step: str, job: Callable[[], Any]) -> Any:
    """The step's job, built only when the step must run (assembly is skipped on resume)."""
    try:
        return job()
    except StepFailed:
        raise
    except CalculationFailed as exc:
        raise StepFailed(step, exc) from exc


def claim_workdir(where: Path, key: str, name: str, calc_version: str) -> None:
    """Create the work directory, or refuse one that holds another calculation's steps."""
    where.mkdir(parents=True, exist_ok=True)
    marker = where / MARKER
    if marker.is_file():
        found = json.loads(marker.read_text()).get("key")
        if found != key:
            raise CalculationFailed(f"{where} holds calculation {found}, not {key}", "input")
        return
    marker.write_text(json.dumps({"key": key, "calculator": name, "version": calc_version}))
