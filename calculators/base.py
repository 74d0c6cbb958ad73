"""The calculator interface: name + version + template (pure) + launcher (how a program runs).

Follows the ASE/quacc split. A *template* writes input files and parses output files and is
pure and deterministic; a *launcher* runs the program (local subprocess here, a Parsl bash app
on a cluster in flows/). Tests replace only the launcher, replaying real program output.
Embedded calculators (xTB, crystal field) run in-process and return the same result schema.
Every result says which method produced it, so numbers from different methods never mix.
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
import subprocess
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal, Protocol

from storage.canonical import canonical_json

Status = Literal["ok", "failed"]
FailureKind = Literal["chemistry", "infrastructure", "input"]


class CalculationFailed(Exception):
    """A calculation ran but its result is unusable (not converged, truncated, wrong states).

    `kind` separates chemistry failures (count against the retry budget) from infrastructure
    failures (worker lost, walltime: retried for free) and bad input (never retried).
    """

    def __init__(
        self, reason: str, kind: FailureKind = "chemistry", attempts: tuple[dict, ...] = ()
    ):
        super().__init__(reason)
        self.reason = reason
        self.kind = kind
        self.attempts = tuple(attempts)  # failed attempts before this verdict (see Placement)


def _row_of(
    calc: Calculator,
    key: str,
    method: str | None,
    program_versions: Mapping[str, str] | None,
    seconds: float,
    workdir: str | Path | None,
) -> dict[str, Any]:
    """The fields every row of `calc` carries, whatever its outcome."""
    return dict(
        key=key,
        calculator=calc.name,
        version=calc.version,
        method=method or calc.method,
        program_versions=dict(program_versions or {}),
        wall_seconds=seconds,
        workdir=str(workdir) if workdir else None,
    )


def utc_now() -> str:
    """ISO-8601 UTC timestamp to the second, as stored in results."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class Placement:
    """Where and when one attempt ran: batch job id (Slurm or PBS), node, start time (UTC).

    Read from the environment the batch system gives every process of a job, so it names the
    job a worker really ran in, not the one the orchestrator thinks it submitted.
    """

    job_id: str | None = None
    node: str | None = None
    started_at: str | None = None

    @classmethod
    def here(cls) -> Placement:
        job = os.environ.get("SLURM_JOB_ID") or os.environ.get("PBS_JOBID") or None
        node = os.environ.get("SLURMD_NODENAME") or socket.gethostname()
        return cls(job, node, utc_now())

    def attempt(self, cause: str) -> dict[str, str | None]:
        """A failed attempt as stored in CalcResult.failed_attempts."""
        return {"cause": cause, **asdict(self)}


@dataclass(frozen=True)
class CalcResult:
    """One calculation's outcome; the row that lands in the calculations table."""

    key: str
    calculator: str
    version: str
    method: str
    status: Status
    values: dict[str, Any] = field(default_factory=dict)
    units: dict[str, str] = field(default_factory=dict)
    reason: str | None = None
    failure_kind: FailureKind | None = None
    program_versions: dict[str, str] = field(default_factory=dict)
    wall_seconds: float = 0.0
    workdir: str | None = None
    job_id: str | None = None  # batch job of the attempt that produced this result
    node: str | None = None
    started_at: str | None = None
    failed_attempts: list[dict] = field(default_factory=list)  # Placement.attempt() each

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    @classmethod
    def success(
        cls,
        calc: Calculator,
        key: str,
        values: Mapping[str, Any],
        units: Mapping[str, str],
        *,
        seconds: float,
        workdir: str | Path | None = None,
        program_versions: Mapping[str, str] | None = None,
        method: str | None = None,
    ) -> CalcResult:
        """An ok row of `calc` (its name, version and method unless `method` says otherwise)."""
        return cls(
            **_row_of(calc, key, method, program_versions, seconds, workdir),
            status="ok",
            values=dict(values),
            units=dict(units),
        )

    @classmethod
    def failure(
        cls,
        calc: Calculator,
        key: str,
        reason: str,
        kind: FailureKind,
        *,
        seconds: float = 0.0,
        workdir: str | Path | None = None,
        program_versions: Mapping[str, str] | None = None,
        method: str | None = None,
    ) -> CalcResult:
        """A failed row of `calc` with its cause; no values, so nothing is mistaken for data."""
        return cls(
            **_row_of(calc, key, method, program_versions, seconds, workdir),
            status="failed",
            reason=reason,
            failure_kind=kind,
        )

    def to_record(self) -> dict[str, Any]:
        """Flat, JSON-encoded record for Parquet storage."""
        rec = asdict(self)
        for name in ("values", "units", "program_versions", "failed_attempts"):
            rec[name] = json.dumps(rec[name], sort_keys=True)
        return rec


def calculation_key(name: str, version: str, canonical_input: Mapping[str, Any]) -> str:
    """Content hash of (calculator name, version, canonical input).

    Bumping a calculator's version changes every key (invalidates its cache); refactoring code
    without changing the version or inputs does not.
    """
    payload = canonical_json(
        {"name": name, "version": version, "input": canonical_input}, f"input of {name}"
    )
    return hashlib.sha256(payload.encode()).hexdigest()


class Calculator(Protocol):
    """What the orchestrator needs from any calculator, embedded or HPC."""

    name: str
    version: str
    method: str

    def canonical_input(self, item: Any) -> dict[str, Any]: ...

    def run(self, item: Any, workdir: Path | None = None) -> CalcResult: ...


def key_for(calc: Calculator, item: Any) -> str:
    return calculation_key(calc.name, calc.version, calc.canonical_input(item))


# --- programs run as separate processes (ORCA, OpenMolcas) -------------------------------


class ProgramTemplate(Protocol):
    """Pure part of an external-program calculator."""

    program: str  # executable name, resolved by the launcher

    def write_inputs(self, item: Any, workdir: Path) -> list[str]:
        """Write input files into workdir; return the argument list (no shell, no SMILES)."""
        ...

    def output_name(self) -> str:
        """File (in workdir) where the program's standard output is captured."""
        ...

    def parse(self, workdir: Path) -> dict[str, Any]:
        """Parse outputs into values; raise CalculationFailed with a clear reason."""
        ...


@dataclass(frozen=True)
class LaunchOutcome:
    returncode: int
    wall_seconds: float
    stdout_path: Path
    placement: Placement = field(default_factory=Placement)
    failed_attempts: tuple[dict, ...] = ()  # lost workers/blocks before the run that counted


def placed(
    result: CalcResult, placement: Placement, attempts: tuple[dict, ...] | list[dict] = ()
) -> CalcResult:
    """The result with where it ran and the failed attempts before it."""
    return replace(
        result,
        job_id=placement.job_id,
        node=placement.node,
        started_at=placement.started_at,
        failed_attempts=[*attempts, *result.failed_attempts],
    )


class Launcher(Protocol):
    """How a program is run: locally, through Parsl, or replayed in a test."""

    def launch(
        self, program: str, args: list[str], workdir: Path, stdout: Path
    ) -> LaunchOutcome: ...


@dataclass(frozen=True)
class SubprocessLauncher:
    """Run the program locally with an argument list (never a shell string)."""

    executables: Mapping[str, str] = field(default_factory=dict)  # program -> path override
    timeout_s: float | None = None

    def launch(self, program: str, args: list[str], workdir: Path, stdout: Path) -> LaunchOutcome:
        exe = self.executables.get(program, program)
        start, where = time.perf_counter(), Placement.here()
        with open(stdout, "wb") as out:
            try:
                proc = subprocess.run(  # argument list, never a shell
                    [exe, *args],
                    cwd=workdir,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    timeout=self.timeout_s,
                    check=False,
                )
            except FileNotFoundError as exc:
                raise CalculationFailed(f"{program} executable not found: {exe}", "input") from exc
            except subprocess.TimeoutExpired as exc:
                raise CalculationFailed(
                    f"{program} exceeded {self.timeout_s} s", "infrastructure"
                ) from exc
        return LaunchOutcome(proc.returncode, time.perf_counter() - start, stdout, where)


def run_program(
    calc: Calculator,
    template: ProgramTemplate,
    item: Any,
    workdir: Path,
    launcher: Launcher,
    units: Mapping[str, str],
    program_versions: Callable[[Path], dict[str, str]] | None = None,
) -> CalcResult:
    """Write inputs, launch, parse: a failed step becomes a failed result with its cause.

    The work directory is kept either way, so a failed run can be inspected. The result says
    where the program ran and which attempts were lost before (from the launcher).
    """
    key = key_for(calc, item)
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    outcome: LaunchOutcome | None = None
    try:
        args = template.write_inputs(item, workdir)
        outcome = launcher.launch(template.program, args, workdir, workdir / template.output_name())
        versions = program_versions(workdir) if program_versions else {}
        try:
            values = template.parse(workdir)
        except CalculationFailed as exc:
            if outcome.returncode != 0:
                raise CalculationFailed(
                    f"{template.program} exited {outcome.returncode}: {exc.reason}", exc.kind
                ) from exc
            raise
    except CalculationFailed as exc:
        seconds = time.perf_counter() - start
        result = CalcResult.failure(
            calc, key, exc.reason, exc.kind, seconds=seconds, workdir=workdir
        )
        if outcome is None:
            return placed(result, Placement(), exc.attempts)
        return placed(result, outcome.placement, outcome.failed_attempts)
    result = CalcResult.success(
        calc,
        key,
        values,
        units,
        seconds=time.perf_counter() - start,
        workdir=workdir,
        program_versions=versions,
    )
    return placed(result, outcome.placement, outcome.failed_attempts)


def run_embedded(
    calc: Calculator,
    item: Any,
    compute: Callable[[Any], dict[str, Any]],
    units: Mapping[str, str],
    program_versions: Mapping[str, str],
    workdir: Path | None = None,
) -> CalcResult:
    """Run an in-process calculation; CalculationFailed becomes a failed result."""
    start, where, key = time.perf_counter(), Placement.here(), key_for(calc, item)
    try:
        values = compute(item)
    except CalculationFailed as exc:
        seconds = time.perf_counter() - start
        result = CalcResult.failure(
            calc, key, exc.reason, exc.kind, seconds=seconds, workdir=workdir
        )
        return placed(result, where)
    result = CalcResult.success(
        calc,
        key,
        values,
        units,
        seconds=time.perf_counter() - start,
        workdir=workdir,
        program_versions=program_versions,
    )
    return placed(result, where)
