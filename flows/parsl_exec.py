"""Run calculations through Parsl: ParslExecutor.map for calculators, ParslLauncher for programs.

`ParslExecutor` implements campaigns.executors.Executor. Items travel in chunks (one Parsl
python app call runs `chunk_size` molecules; the calculator object is pickled to the worker), and
only a bounded window of chunks is in flight, so 10k molecules are a few hundred futures and the
orchestrator's memory does not grow with the round. Results are yielded as chunks complete.

Retry design: infrastructure failures are retried by Parsl itself. `parsl_config` sets
`retries=profile.infra_retries` and a `retry_handler` that charges one retry for a lost manager,
lost worker or executor in a bad state (walltime and `scancel` show up as ManagerLost) and an
infinite cost for anything else. Parsl then resubmits the *same* task (no new future, no
bookkeeping here) and the same rule covers `ParslLauncher`'s bash apps. Chemistry failures never
reach that handler: calculators return them as failed CalcResults inside the chunk, so they are
not retried here and spend nothing. When the infrastructure retries are exhausted, every molecule
of the chunk becomes a failed result with failure_kind "infrastructure" and the Parsl cause; the
round logic may try those keys again later without touching their chemistry budget. A chunk that
is resubmitted runs all its molecules again (calculations are keyed and deterministic).
Any other exception from a chunk (a bug in a calculator) is raised, as SerialExecutor does.

Lifetime: like `with parsl.load(cfg):`, but without Parsl's global default kernel: each executor
owns its DataFlowKernel for the span of its `with` block and cleans it up on exit, even on an
exception, so no interchange or worker pool outlives it, and two executors (or a test's own) can
be open at once.
"""

from __future__ import annotations

import json
import logging
import shlex
import shutil
import threading
import time
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import replace
from itertools import islice
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

from parsl.app.app import bash_app, python_app
from parsl.app.errors import BashExitFailure
from parsl.dataflow.dflow import DataFlowKernel
from parsl.jobs.states import JobState, JobStatus

from calculators.base import (
    CalcResult,
    CalculationFailed,
    Calculator,
    LaunchOutcome,
    Placement,
    key_for,
    placed,
)
from flows.profiles import (
    EXECUTOR_LABEL,
    INFRASTRUCTURE_ERRORS,
    LocalProfile,
    Profile,
    SlurmProfile,
    build_provider,
    infrastructure_retry_cost,
    parsl_config,
)
from flows.queue_check import BlockCannotStart, hopeless, slurm_pending_reasons

log = logging.getLogger(__name__)
T = TypeVar("T")
COMMAND_NOT_FOUND = 127  # bash's exit status when `exec` cannot find the program
PROGRAM_THREADS_MAX = 256  # orchestrator threads waiting on program runs, whatever the window
POLL_S = 2.0  # how often a wait for results looks at the scheduler's queue


# --- worker side ------------------------------------------------------------------------------

NOTES_DIR = "attempts"  # per-task notes of where each attempt started (shared file system)
# The same note line, written by a bash app before its program starts (job, node, UTC start).
SHELL_NOTE = (
    "printf '%s\\t%s\\t%s\\n' \"${SLURM_JOB_ID:-${PBS_JOBID:-}}\" "
    '"${SLURMD_NODENAME:-$(hostname)}" "$(date -u +%Y-%m-%dT%H:%M:%SZ)"'
)


def note_attempt(notes: Path) -> None:
    """Append where this attempt starts, so an attempt lost with its worker can be placed."""
    where = Placement.here()
    notes.parent.mkdir(parents=True, exist_ok=True)
    with open(notes, "a") as handle:
        handle.write(f"{where.job_id or ''}\t{where.node or ''}\t{where.started_at}\n")


def run_chunk(calc: Calculator, items: list[Any], notes: str | None = None) -> list[CalcResult]:
    """One Parsl task: run the calculator over a chunk of items on a worker."""
    if notes:
        note_attempt(Path(notes))
    return [calc.run(item) for item in items]


def shell_command(command: str, stdout: tuple[str, str] | None = None) -> str:
    """Bash app body: the command was built (and quoted) on the orchestrator."""
    return command


# --- orchestrator side ------------------------------------------------------------------------


def chunked(items: Iterable[T], size: int) -> Iterator[list[T]]:
    """Consecutive lists of `size` items (the last may be shorter); consumes items lazily."""
    iterator = iter(items)
    while chunk := list(islice(iterator, size)):
        yield chunk


def bounded(
    submit: Callable[[T], Future],
    work: Iterable[T],
    window: int,
    poll: Callable[[], None] | None = None,
) -> Iterator[tuple[T, Future]]:
    """Submit work with at most `window` futures pending; yield (work, future) as each finishes.

    `poll` is called every POLL_S seconds while nothing finishes (it may raise to give up).
    """
    running: dict[Future, T] = {}
    for unit in work:
        running[submit(unit)] = unit
        while len(running) >= window:
            yield from _finished(running, poll)
    while running:
        yield from _finished(running, poll)


def _finished(
    running: dict[Future, T], poll: Callable[[], None] | None
) -> Iterator[tuple[T, Future]]:
    while True:
        done, _ = wait(list(running), timeout=POLL_S, return_when=FIRST_COMPLETED)
        if done:
            break
        if poll is not None:
            poll()
    for future in done:
        yield running.pop(future), future


def tries_of(future: Future) -> int:
    """How many times Parsl ran the task (its own record), 1 if unknown."""
    record = getattr(future, "task_record", None) or {}
    return int(record.get("fail_count", 0)) or 1


def read_attempts(notes: Path) -> list[Placement]:
    """The notes attempts wrote when they started, oldest first."""
    try:
        lines = notes.read_text().splitlines()
    except OSError:
        return []
    placements = []
    for line in lines:
        job, node, started = ([*line.split("\t"), "", "", ""])[:3]
        placements.append(Placement(job or None, node or None, started or None))
    return placements


def pair_attempts(
    causes: list[str], notes: list[Placement], came_back: bool
) -> tuple[Placement, list[dict]]:
    """Where the final attempt ran, and each failed attempt's cause with where it had started.

    Parsl forgets causes on retry, so they come from AttemptLog; places come from the notes.
    When the task came back, its last note is the attempt that counted. An attempt lost
    before any worker started it wrote no note: causes beyond the notes stay unplaced.
    """
    final = Placement()
    if came_back and notes:
        final, notes = notes[-1], notes[:-1]
    failed = [
        (notes[i] if i < len(notes) else Placement()).attempt(cause)
        for i, cause in enumerate(causes)
    ]
    return final, failed


class AttemptLog:
    """Parsl retry handler that also notes each lost attempt's cause, per Parsl task id."""

    def __init__(self) -> None:
        self._causes: dict[int, list[str]] = defaultdict(list)
        self._lock = threading.Lock()

    def retry_cost(self, exc: Exception, task_record: Any) -> float:
        if isinstance(exc, INFRASTRUCTURE_ERRORS):
            with self._lock:
                self._causes[task_record["id"]].append(f"{type(exc).__name__}: {exc}")
        return infrastructure_retry_cost(exc, task_record)

    def pop(self, future: Future) -> list[str]:
        """Causes noted for a finished task (forgotten here once read)."""
        with self._lock:
            return self._causes.pop(getattr(future, "tid", None), [])


def infrastructure_failure(
    calc: Calculator, item: Any, exc: BaseException, tries: int, where: str = "", logs: str = ""
) -> CalcResult:
    """The row for a molecule whose chunk never came back: its cause, not a chemistry verdict.

    `where` names the scheduler jobs of the executor's blocks and `logs` their log directory,
    so a user can look the failure up in the batch system.
    """
    context = f"; {where}" if where else ""
    reason = f"{type(exc).__name__}: {exc} (gave up after {tries} tries){context}"
    return CalcResult.failure(calc, key_for(calc, item), reason, "infrastructure", workdir=logs)


BLOCKS_FILE = "blocks.json"  # scheduler jobs of the open executor; removed on a clean exit
ACTIVE_STATES = ("PENDING", "RUNNING", "HELD")


def reconcile_stale_blocks(profile: Profile, path: Path) -> dict[str, list[str]]:
    """Settle the blocks a crashed orchestrator left behind, before submitting new ones.

    Their interchange died with the orchestrator, so whatever they still run can never report
    back: jobs still pending or running are cancelled (not waited for, not resubmitted
    blindly); finished or vanished ones are only noted. Program outputs they wrote stay in
    their scratch directories, where the calculators' step resume finds them.
    """
    if not path.exists():
        return {}
    try:
        jobs = [str(j) for j in json.loads(path.read_text()).get("jobs", [])]
    except (OSError, ValueError):
        jobs = []
    outcome: dict[str, list[str]] = {"cancelled": [], "gone": []}
    if jobs and not isinstance(profile, LocalProfile):
        provider = build_provider(profile)
        for job in jobs:  # adopt them, so the provider's own squeue/qstat and cancel apply
            provider.resources[job] = {
                "job_id": job,
                "status": JobStatus(JobState.UNKNOWN),
                "job_stdout_path": None,
                "job_stderr_path": None,
            }
        states = provider.status(jobs)
        active = [j for j, st in zip(jobs, states, strict=True) if st.state.name in ACTIVE_STATES]
        if active:
            provider.cancel(active)
        outcome = {"cancelled": active, "gone": [j for j in jobs if j not in active]}
    elif jobs:  # local blocks are process trees that died with the orchestrator
        outcome["gone"] = jobs
    path.unlink(missing_ok=True)
    log.warning("reconciled blocks of a previous run in %s: %s", path.parent, outcome)
    return outcome


class ParslExecutor:
    """Executor over a Parsl profile; use as `with ParslExecutor(profile, run_dir) as ex:`.

    Calculators that run in-process (embedded) are shipped to workers in chunks. A calculator
    whose `launcher` is a ParslLauncher runs its template on the orchestrator (writes inputs to
    `run_dir/scratch/<key>`, parses outputs there) and only the program goes to a worker, so
    `run_dir` must be on a file system the workers share. Scratch directories are never deleted.
    """

    def __init__(
        self,
        profile: Profile | None = None,
        run_dir: Path = Path("runinfo"),
        chunk_size: int = 32,
        max_chunks_in_flight: int | None = None,
    ):
        if chunk_size < 1:
            raise ValueError(f"chunk_size must be >= 1, got {chunk_size}")
        if max_chunks_in_flight is not None and max_chunks_in_flight < 1:
            raise ValueError(f"max_chunks_in_flight must be >= 1, got {max_chunks_in_flight}")
        self.profile: Profile = profile or LocalProfile()
        self.run_dir = Path(run_dir).resolve()
        self.chunk_size = chunk_size
        self.window = max_chunks_in_flight or max(2, 2 * self.profile.worker_slots())
        self._dfk: DataFlowKernel | None = None
        self._apps: tuple[Any, Any] | None = None  # (chunk python app, command bash app)
        self._recorded: list[str] = []
        self.reconciled: dict[str, list[str]] = {}
        self.attempts = AttemptLog()
        self.refused: str | None = None  # why a block can never start (see queue_check)
        self._last_queue_check = 0.0

    def __enter__(self) -> ParslExecutor:
        if self._dfk is not None:
            raise RuntimeError("this ParslExecutor is already open")
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.reconciled = reconcile_stale_blocks(self.profile, self.run_dir / BLOCKS_FILE)
        if self.reconciled:  # a crashed run's attempt notes: nobody will read them now
            shutil.rmtree(self.run_dir / NOTES_DIR, ignore_errors=True)
        config = parsl_config(self.profile, self.run_dir, self.attempts.retry_cost)
        self._dfk = dfk = DataFlowKernel(config)
        on = dict(data_flow_kernel=dfk, executors=[EXECUTOR_LABEL])
        self._apps = (python_app(run_chunk, **on), bash_app(shell_command, **on))
        self._record_blocks()
        return self

    def _record_blocks(self) -> None:
        """Note the scheduler jobs of our blocks, so a restart after a crash can find them."""
        htex = self.dfk.executors[EXECUTOR_LABEL]
        jobs = self.block_jobs()
        if jobs != self._recorded:
            path = self.run_dir / BLOCKS_FILE
            tmp = path.with_suffix(".tmp")
            tmp.write_text(json.dumps({"provider": htex.provider.label, "jobs": jobs}))
            tmp.replace(path)
            self._recorded = jobs

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        dfk, self._dfk, self._apps = self._dfk, None, None
        if dfk is not None:
            dfk.cleanup()  # cancels our blocks: nothing left to reconcile
            (self.run_dir / BLOCKS_FILE).unlink(missing_ok=True)

    @property
    def dfk(self) -> DataFlowKernel:
        """The open DataFlowKernel (its task_count is Parsl's own record of submitted tasks)."""
        if self._dfk is None:
            raise RuntimeError("ParslExecutor is not open: use `with ParslExecutor(...) as ex:`")
        return self._dfk

    def _open_apps(self) -> tuple[Any, Any]:
        if self._apps is None:
            raise RuntimeError("ParslExecutor is not open: use `with ParslExecutor(...) as ex:`")
        return self._apps

    def scratch_dir(self, calc: Calculator, item: Any) -> Path:
        """Work directory of one program calculation, named by its content key."""
        return self.run_dir / "scratch" / calc.name / key_for(calc, item)

    def notes_path(self) -> Path:
        """A fresh file for one task's attempt notes."""
        return self.run_dir / NOTES_DIR / f"{uuid.uuid4().hex}.tsv"

    def submit_command(self, command: str, stdout: Path) -> Future:
        """Run a prepared bash command on a worker, its output captured in `stdout`."""
        return self._open_apps()[1](command, stdout=(str(stdout), "w"))

    def map(self, calc: Calculator, items: Iterable[Any]) -> Iterator[CalcResult]:
        """Yield one result per item, in completion order; see the module docstring for retries."""
        if isinstance(getattr(calc, "launcher", None), ParslLauncher):
            yield from self._map_programs(calc, items)
            return
        app = self._open_apps()[0]
        work = ((chunk, self.notes_path()) for chunk in chunked(items, self.chunk_size))
        for (chunk, notes), future in bounded(
            lambda unit: app(calc, unit[0], str(unit[1])), work, self.window, self.check_queue
        ):
            self._record_blocks()
            yield from self._chunk_results(calc, chunk, notes, future)

    def _chunk_results(
        self, calc: Calculator, chunk: list[Any], notes: Path, future: Future
    ) -> list[CalcResult]:
        """The chunk's results, each with the attempts its chunk lost before (and their places)."""
        exc = future.exception()  # the future is done: this does not wait
        _, failed = self.settle_attempts(future, notes, came_back=exc is None)
        if isinstance(exc, INFRASTRUCTURE_ERRORS):
            tries = tries_of(future)
            where, logs = self.scheduler_context()
            lost = [infrastructure_failure(calc, item, exc, tries, where, logs) for item in chunk]
            return [placed(r, Placement(), failed) for r in lost]
        results = future.result()  # any other exception (a calculator bug) is raised here
        return [replace(r, failed_attempts=[*failed, *r.failed_attempts]) for r in results]

    def settle_attempts(
        self, future: Future, notes: Path, came_back: bool
    ) -> tuple[Placement, list[dict]]:
        """For a finished task: where its last attempt ran and its lost attempts (notes removed)."""
        causes, started = self.attempts.pop(future), read_attempts(notes)
        notes.unlink(missing_ok=True)
        return pair_attempts(causes, started, came_back)

    def block_jobs(self) -> list[str]:
        """Scheduler job ids of this executor's blocks (as submitted)."""
        htex = self.dfk.executors[EXECUTOR_LABEL]
        return sorted({str(j) for j in getattr(htex, "blocks_to_job_id", {}).values()})

    def check_queue(self) -> None:
        """Give up, naming the job and reason, if a Slurm block can never start (rate-limited).

        Sets `refused` first, so launcher threads waiting on that block stop waiting too.
        """
        if not isinstance(self.profile, SlurmProfile):
            return
        now = time.monotonic()
        if now - self._last_queue_check < self.profile.queue_check_period:
            return
        self._last_queue_check = now
        message = hopeless(slurm_pending_reasons(self.block_jobs()))
        if message:
            self.refused = message
            log.error(message)
            raise BlockCannotStart(message)

    def scheduler_context(self) -> tuple[str, str]:
        """Scheduler job ids of this executor's blocks and the directory of their logs."""
        htex = self.dfk.executors[EXECUTOR_LABEL]
        jobs = self.block_jobs()
        logs = str(getattr(htex.provider, "script_dir", "") or "")
        return (f"{htex.provider.label} jobs {', '.join(jobs)}" if jobs else ""), logs

    def _map_programs(self, calc: Calculator, items: Iterable[Any]) -> Iterator[CalcResult]:
        """Templates run here, in threads; each thread waits on one program run on a worker."""
        self._open_apps()  # fail before any template writes files
        threads = min(self.window, PROGRAM_THREADS_MAX)
        with ThreadPoolExecutor(threads, thread_name_prefix="gauss-launch") as pool:

            def submit(item: Any) -> Future:
                return pool.submit(calc.run, item, self.scratch_dir(calc, item))

            for _, future in bounded(submit, items, threads, self.check_queue):
                yield future.result()


class ParslLauncher:
    """calculators.base Launcher that runs `[program, *args]` as a Parsl bash app.

    The command is `cd <workdir> && exec <program> <args> 2>&1`, every part quoted with
    shlex (templates pass file names, never SMILES). A non-zero exit is returned as the
    returncode so the template's parser decides between chemistry and truncation; a program
    that cannot be found is bad input; a lost worker or block (after Parsl's infrastructure
    retries) raises CalculationFailed(kind="infrastructure") with Parsl's exception text.
    Nothing is deleted: the work directory of a failed run stays for inspection.
    """

    def __init__(self, executor: ParslExecutor, executables: Mapping[str, str] | None = None):
        self.executor = executor
        self.executables = dict(executables or {})  # program name -> path on the workers

    def command(
        self, program: str, args: list[str], workdir: Path, notes: Path | None = None
    ) -> str:
        """The bash line; with `notes`, each attempt first appends where it starts there."""
        exe = self.executables.get(program, program)
        run = f"cd {shlex.quote(str(workdir))} && exec {shlex.join([exe, *args])} 2>&1"
        return f"{SHELL_NOTE} >> {shlex.quote(str(notes))} && {run}" if notes else run

    def launch(self, program: str, args: list[str], workdir: Path, stdout: Path) -> LaunchOutcome:
        workdir, stdout = Path(workdir).resolve(), Path(stdout).resolve()
        notes = self.executor.notes_path()
        notes.parent.mkdir(parents=True, exist_ok=True)
        start = time.perf_counter()
        future = self.executor.submit_command(self.command(program, args, workdir, notes), stdout)
        while not future.done():  # stop waiting if the executor learnt its block cannot start
            if self.executor.refused:
                raise CalculationFailed(self.executor.refused, "infrastructure")
            wait([future], timeout=POLL_S)
        try:
            future.result()
            returncode = 0
        except BashExitFailure as exc:
            returncode = exc.exitcode
        except INFRASTRUCTURE_ERRORS as exc:
            _, failed = self.executor.settle_attempts(future, notes, came_back=False)
            where, logs = self.executor.scheduler_context()
            raise CalculationFailed(
                f"{program} lost its worker after {tries_of(future)} tries: "
                f"{type(exc).__name__}: {exc}" + (f"; {where}; block logs {logs}" if where else ""),
                "infrastructure",
                tuple(failed),
            ) from exc
        final, failed = self.executor.settle_attempts(future, notes, came_back=True)
        if returncode == COMMAND_NOT_FOUND:
            exe = self.executables.get(program, program)
            raise CalculationFailed(
                f"{program} executable not found on the worker: {exe}", "input", tuple(failed)
            )
        return LaunchOutcome(returncode, time.perf_counter() - start, stdout, final, tuple(failed))
