"""Execution profiles (local | slurm | pbs): one typed object per site, one Parsl Config each.

A profile is plain data (pydantic, `extra="forbid"`), so it can live in a YAML file next to the
campaign spec and be validated before anything is submitted. `parsl_config(profile, run_dir)` is
the only place that turns a profile into Parsl objects. Scheduler names (partition, account,
queue) end up in `#SBATCH` lines and, for PBS, on the `qsub` command line that Parsl runs through
a shell, so they are checked against a strict pattern; `worker_init`, `scheduler_options` and
`select_options` are site-admin shell text by design and are passed through as written.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from parsl.config import Config
from parsl.dataflow.taskrecord import TaskRecord
from parsl.executors import HighThroughputExecutor
from parsl.executors.errors import BadStateException
from parsl.executors.high_throughput.errors import ManagerLost, WorkerLost
from parsl.launchers import MpiExecLauncher, SimpleLauncher, SrunLauncher
from parsl.launchers.base import Launcher
from parsl.providers import LocalProvider, PBSProProvider, SlurmProvider
from parsl.providers.base import ExecutionProvider
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from calculators.batch import THREAD_VARS

EXECUTOR_LABEL = "gauss_htex"
SCHEDULER_NAME = r"^[A-Za-z0-9_.+-]+$"  # partition / account / queue / qos: no spaces, no shell
WALLTIME = r"^\d+:[0-5]\d:[0-5]\d$"  # HH:MM:SS, as both sbatch and qsub take it

# A lost manager (node died, block cancelled or past its walltime), a lost worker process
# (killed, out of memory) or an executor that stopped accepting work: none says anything about
# the molecule, so these are retried without spending the chemistry budget.
INFRASTRUCTURE_ERRORS: tuple[type[BaseException], ...] = (
    ManagerLost,
    WorkerLost,
    BadStateException,
)


class ProfileError(ValueError):
    """A profile that cannot be used; the message names the offending field."""


class _Common(BaseModel):
    """Settings every profile shares: retries, heartbeats, worker environment."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    infra_retries: int = Field(
        2, ge=0, le=20, description="resubmissions of a task whose worker/block was lost"
    )
    threads_per_worker: int = Field(
        1, ge=1, description="OMP/BLAS threads per worker process (exported in worker_init)"
    )
    worker_init: str = Field(
        "", description="shell lines run before the workers start (module load, venv activate)"
    )
    heartbeat_period: int = Field(5, ge=1, description="seconds between manager heartbeats")
    heartbeat_threshold: int = Field(
        20, ge=2, description="seconds without a heartbeat before a manager counts as lost"
    )
    strategy_period: float = Field(
        1.0, gt=0, description="seconds between block-scaling decisions (Parsl default 5)"
    )
    max_idletime: float = Field(
        120.0, ge=0, description="seconds an idle block is kept before it is released"
    )

    def full_worker_init(self) -> str:
        """The user's worker_init after pinning thread counts (workers share the cores)."""
        pins = "\n".join(f"export {name}={self.threads_per_worker}" for name in THREAD_VARS)
        return f"{pins}\n{self.worker_init}".rstrip("\n")


class LocalProfile(_Common):
    """Workers on this machine (HighThroughputExecutor + LocalProvider): the default."""

    kind: Literal["local"] = "local"
    cores: int | None = Field(None, ge=1, description="worker processes; None = all cores")
    heartbeat_period: int = Field(2, ge=1, description="seconds between manager heartbeats")
    heartbeat_threshold: int = Field(
        10, ge=2, description="seconds without a heartbeat before a manager counts as lost"
    )

    def worker_count(self) -> int:
        return self.cores or os.cpu_count() or 1

    def worker_slots(self) -> int:
        return self.worker_count()


class _Batch(_Common):
    """Settings of profiles whose blocks are batch jobs with a walltime."""

    walltime: str = Field("01:00:00", pattern=WALLTIME, description="per block, HH:MM:SS")
    drain_before_walltime: int = Field(
        300,
        ge=0,
        description="seconds before the walltime when a block stops taking new tasks, so no "
        "calculation starts on a block about to expire (0 = never drain)",
    )

    queue_check_period: float = Field(
        30.0,
        gt=0,
        description="seconds between checks of pending blocks for reasons waiting cannot clear "
        "(walltime over the partition limit, bad account...): the round then fails with the reason",
    )

    def drain_period(self) -> int | None:
        """Seconds after a block starts when its workers drain (Parsl HTEX drain_period)."""
        h, m, sec = (int(x) for x in self.walltime.split(":"))
        total = 3600 * h + 60 * m + sec
        if not self.drain_before_walltime or total <= self.drain_before_walltime:
            return None
        return total - self.drain_before_walltime


class SlurmProfile(_Batch):
    """Blocks of nodes from Slurm (sbatch); workers are started on every node with srun."""

    kind: Literal["slurm"] = "slurm"
    partition: str | None = Field(None, pattern=SCHEDULER_NAME, description="#SBATCH --partition")
    account: str | None = Field(None, pattern=SCHEDULER_NAME, description="#SBATCH --account")
    qos: str | None = Field(None, pattern=SCHEDULER_NAME, description="#SBATCH --qos")
    nodes_per_block: int = Field(1, ge=1, description="nodes in one Slurm job")
    cores_per_node: int | None = Field(
        None, ge=1, description="cores requested per node (--cpus-per-task); None = whole node"
    )
    max_workers_per_node: int | None = Field(
        None, ge=1, description="worker processes per node; None = cores_per_node or all cores"
    )
    mem_per_node: int | None = Field(None, ge=1, description="GB per node (--mem); None = default")
    init_blocks: int = Field(1, ge=0, description="blocks submitted at start")
    min_blocks: int = Field(0, ge=0, description="blocks kept even when idle")
    max_blocks: int = Field(1, ge=1, description="most blocks at once")
    exclusive: bool = Field(True, description="#SBATCH --exclusive")
    scheduler_options: str = Field("", description="extra '#SBATCH ...' lines, verbatim")
    srun_overrides: str = Field("", description="extra srun arguments for the worker launch")
    address: str | None = Field(
        None, description="interchange address workers connect to; None = Parsl probes"
    )

    def worker_slots(self) -> int:
        per_node = self.max_workers_per_node or self.cores_per_node or os.cpu_count() or 1
        return self.max_blocks * self.nodes_per_block * per_node


class PbsProfile(_Batch):
    """Blocks of nodes from PBS Pro (qsub); one worker pool per node."""

    kind: Literal["pbs"] = "pbs"
    queue: str | None = Field(None, pattern=SCHEDULER_NAME, description="qsub -q")
    account: str | None = Field(None, pattern=SCHEDULER_NAME, description="qsub -A")
    nodes_per_block: int = Field(1, ge=1, description="chunks in '#PBS -l select=N:...'")
    cpus_per_node: int = Field(1, ge=1, description="ncpus in the select statement")
    select_options: str = Field("", description="appended to select, e.g. 'mem=64gb:ngpus=1'")
    max_workers_per_node: int | None = Field(
        None, ge=1, description="worker processes per node; None = cpus_per_node"
    )
    init_blocks: int = Field(1, ge=0, description="blocks submitted at start")
    min_blocks: int = Field(0, ge=0, description="blocks kept even when idle")
    max_blocks: int = Field(1, ge=1, description="most blocks at once")
    launcher: Literal["auto", "simple", "mpiexec"] = Field(
        "auto",
        description="how the worker pool starts on the nodes: auto = simple for one node, "
        "mpiexec (one pool per node of $PBS_NODEFILE) for several",
    )
    scheduler_options: str = Field("", description="extra '#PBS ...' lines, verbatim")
    address: str | None = Field(
        None, description="interchange address workers connect to; None = Parsl probes"
    )

    def worker_slots(self) -> int:
        per_node = self.max_workers_per_node or self.cpus_per_node
        return self.max_blocks * self.nodes_per_block * per_node

    def parsl_launcher(self) -> Launcher:
        """SimpleLauncher needs nothing on the node; more than one node needs mpiexec to fan out."""
        choice = self.launcher
        if choice == "auto":
            choice = "simple" if self.nodes_per_block == 1 else "mpiexec"
        return SimpleLauncher() if choice == "simple" else MpiExecLauncher()


Profile = Annotated[LocalProfile | SlurmProfile | PbsProfile, Field(discriminator="kind")]
_PROFILE = TypeAdapter(Profile)


def _describe(error: ValidationError) -> str:
    """One line per problem, each starting with the dotted field path."""
    lines = []
    for err in error.errors():
        loc = [str(part) for part in err["loc"]]
        if loc and loc[0] in ("local", "slurm", "pbs"):  # the union's tag, already in the message
            loc = loc[1:]
        where = ".".join(loc) or ("kind" if err["type"].startswith("union_tag") else "profile")
        lines.append(f"{where}: {err['msg']} (got {err.get('input')!r})")
    return "; ".join(lines)


def load_profile(data: Mapping[str, Any] | None) -> Profile:
    """Validate one mapping (`kind: local|slurm|pbs` plus fields); None gives the local default."""
    payload = dict(data or {"kind": "local"})
    payload.setdefault("kind", "local")
    try:
        return _PROFILE.validate_python(payload)
    except ValidationError as exc:
        raise ProfileError(f"invalid {payload.get('kind')!r} profile: {_describe(exc)}") from None


def load_profiles_file(path: Path, name: str) -> Profile:
    """The section `name` of a profiles YAML file (a mapping of profile name -> profile)."""
    document = yaml.safe_load(Path(path).read_text())
    if not isinstance(document, dict):
        raise ProfileError(f"{path}: expected a mapping of profile names, got {type(document)}")
    if name not in document:
        raise ProfileError(f"{path}: no profile {name!r} (have {sorted(document)})")
    section = document[name]
    if section is not None and not isinstance(section, dict):
        raise ProfileError(f"{path}: profile {name!r} must be a mapping")
    try:
        return load_profile(section)
    except ProfileError as exc:
        raise ProfileError(f"{path}: profile {name!r}: {exc}") from None


# --- Parsl objects ----------------------------------------------------------------------------


def infrastructure_retry_cost(exc: Exception, task_record: TaskRecord) -> float:
    """Parsl retry_handler: a lost worker or block costs one retry, anything else is final.

    Application errors (a bug, a failed bash command) are never resubmitted here: chemistry
    failures come back as failed CalcResults and have their own budget in the round logic.
    """
    return 1.0 if isinstance(exc, INFRASTRUCTURE_ERRORS) else math.inf


def build_provider(profile: Profile) -> ExecutionProvider:
    """The Parsl provider for a profile (also used alone to inspect a submit script)."""
    init = profile.full_worker_init()
    if isinstance(profile, LocalProfile):
        return LocalProvider(init_blocks=1, min_blocks=0, max_blocks=1, worker_init=init)
    if isinstance(profile, SlurmProfile):
        return SlurmProvider(
            partition=profile.partition,
            account=profile.account,
            qos=profile.qos,
            nodes_per_block=profile.nodes_per_block,
            cores_per_node=profile.cores_per_node,
            mem_per_node=profile.mem_per_node,
            init_blocks=profile.init_blocks,
            min_blocks=profile.min_blocks,
            max_blocks=profile.max_blocks,
            walltime=profile.walltime,
            scheduler_options=profile.scheduler_options,
            worker_init=init,
            exclusive=profile.exclusive,
            launcher=SrunLauncher(overrides=profile.srun_overrides),
        )
    return PBSProProvider(
        account=profile.account,
        queue=profile.queue,
        scheduler_options=profile.scheduler_options,
        select_options=profile.select_options,
        worker_init=init,
        nodes_per_block=profile.nodes_per_block,
        cpus_per_node=profile.cpus_per_node,
        init_blocks=profile.init_blocks,
        min_blocks=profile.min_blocks,
        max_blocks=profile.max_blocks,
        launcher=profile.parsl_launcher(),
        walltime=profile.walltime,
    )


def _workers_per_node(profile: Profile) -> int | None:
    if isinstance(profile, LocalProfile):
        return profile.worker_count()
    if isinstance(profile, SlurmProfile):
        return profile.max_workers_per_node or profile.cores_per_node
    return profile.max_workers_per_node or profile.cpus_per_node


def parsl_config(
    profile: Profile,
    run_dir: Path,
    retry_handler: Callable[[Exception, TaskRecord], float] = infrastructure_retry_cost,
) -> Config:
    """One HighThroughputExecutor on the profile's provider, with infrastructure-only retries.

    `retry_handler` must charge what infrastructure_retry_cost charges; the executor passes one
    that also notes every failed attempt.
    """
    run_dir = Path(run_dir)
    address = "127.0.0.1" if isinstance(profile, LocalProfile) else profile.address
    executor = HighThroughputExecutor(
        label=EXECUTOR_LABEL,
        provider=build_provider(profile),
        address=address,
        max_workers_per_node=_workers_per_node(profile),
        cores_per_worker=1.0,
        heartbeat_period=profile.heartbeat_period,
        heartbeat_threshold=profile.heartbeat_threshold,
        worker_logdir_root=str(run_dir / "workers"),
        drain_period=None if isinstance(profile, LocalProfile) else profile.drain_period(),
    )
    return Config(
        executors=[executor],
        run_dir=str(run_dir),
        retries=profile.infra_retries,
        retry_handler=retry_handler,
        strategy_period=profile.strategy_period,
        max_idletime=profile.max_idletime,
        usage_tracking=0,
    )
