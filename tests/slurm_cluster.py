"""Helpers for tests on the project's real single-node Slurm (scripts/slurm-local).

Shared by every test module of the `cluster` tier; the `slurm` fixture itself is in conftest.
"""

import subprocess
import sys
from pathlib import Path

from tests.conftest import REPO

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
