"""Helpers for tests on the project's real single-node Slurm (scripts/slurm-local).

Shared by every test module of the `cluster` tier; the `slurm` fixture itself is in conftest.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tests.conftest import REPO

if TYPE_CHECKING:
    from calculators.base import CalcResult, Calculator

SCRIPT = REPO / "scripts" / "slurm-local"
JOBCOMP = Path("/var/spool/gauss-slurm/jobcomp.txt")


def _jobcomp_records() -> list[dict[str, str]]:
    """Slurm's job-completion file (jobcomp/filetxt), one dict per finished job."""
    if not JOBCOMP.exists():
        return []
    rows = []
    for line in JOBCOMP.read_text().splitlines():
        fields = dict(f.split("=", 1) for f in line.split() if "=" in f)
        fields["JobName"] = fields.get("Name", "")
        rows.append(fields)
    return rows


def job_state(job_id: str) -> str | None:
    """Final state of a job as Slurm recorded it."""
    return next((r["JobState"] for r in _jobcomp_records() if r["JobId"] == job_id), None)


def local_slurm(**overrides):
    """The slurm profile for the one-node test cluster: 2 cores, workers from this venv."""
    from flows.profiles import SlurmProfile

    settings = dict(
        partition="debug",
        walltime="00:10:00",
        exclusive=False,
        cores_per_node=2,
        max_workers_per_node=2,
        address="127.0.0.1",
        worker_init=f"export PATH={Path(sys.executable).parent}:$PATH",
    )
    return SlurmProfile(**{**settings, **overrides})


def slurm_node() -> str:
    """The one node of the test cluster, as Slurm names it (SLURMD_NODENAME on workers)."""
    out = subprocess.run(["sinfo", "-h", "-o", "%n"], capture_output=True, text=True, timeout=30)
    [node] = set(out.stdout.split())
    return node


def run_molcas_in_a_slurm_job(
    calculator_class: Callable[..., Calculator], settings: Any, item: str, tmp_path: Path
) -> CalcResult:
    """One item of an OpenMolcas calculator (MolcasProxy, MolcasKD) through Parsl on the cluster.

    The calculator writes the input and parses the output here; pymolcas runs as a Parsl bash
    app in a Slurm block (1 thread, 1000 MB), its work directory under tmp_path/runinfo/scratch.
    Checks that the item succeeded in a block of this executor, on the cluster's node, and that
    Slurm recorded the block's job; returns the result.
    """
    from calculators.openmolcas import MolcasResources
    from flows.execution import venv_bin_on_path
    from flows.parsl_exec import ParslExecutor, ParslLauncher

    venv_bin_on_path()  # puts the venv's python3 first on PATH: pymolcas must not pick it
    before = {r["JobId"] for r in _jobcomp_records()}
    with ParslExecutor(local_slurm(), tmp_path / "runinfo") as ex:
        calc = calculator_class(
            settings=settings,
            launcher=ParslLauncher(ex),
            resources=MolcasResources(mem_mb=1000, threads=1),
            scratch_root=ex.run_dir / "scratch",
        )
        [result] = list(ex.map(calc, [item]))
        blocks = ex.block_jobs()
    assert result.ok, result.reason
    assert result.job_id in blocks and result.node == slurm_node()
    assert set(blocks) <= {r["JobId"] for r in _jobcomp_records()} - before
    assert Path(result.workdir).is_relative_to(tmp_path / "runinfo" / "scratch")
    return result
