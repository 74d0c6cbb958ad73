"""The `slurm` profile on a real single-node Slurm (scripts/slurm-local), not a fake sbatch.

Calculations of the embedded KD chain run as Slurm jobs through Parsl's SlurmProvider + srun;
the test asserts on task outcomes and Slurm's own job-completion record, not on Parsl's cached
provider state.
"""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO

SCRIPT = REPO / "scripts" / "slurm-local"
JOBCOMP = Path("/var/spool/gauss-slurm/jobcomp.txt")


@pytest.fixture(scope="module")
def slurm():
    if os.geteuid() != 0:
        pytest.skip("bringing Slurm up needs root (CI and the dev machines run as root)")
    up = subprocess.run([str(SCRIPT), "up"], capture_output=True, text=True, timeout=300)
    assert up.returncode == 0, up.stderr
    try:
        yield
    finally:
        subprocess.run([str(SCRIPT), "down"], capture_output=True, timeout=60)


@pytest.mark.integration
def test_embedded_kd_runs_as_slurm_jobs(slurm, tmp_path, monkeypatch):
    from calculators.kd_embedded import EmbeddedKD
    from flows.campaign_flows import _venv_bin_on_path
    from flows.parsl_exec import ParslExecutor
    from flows.profiles import SlurmProfile

    _venv_bin_on_path()
    before = JOBCOMP.read_text() if JOBCOMP.exists() else ""
    venv_bin = Path(sys.executable).parent
    profile = SlurmProfile(
        partition="debug",
        walltime="00:10:00",
        exclusive=False,
        cores_per_node=2,
        max_workers_per_node=2,
        address="127.0.0.1",
        worker_init=f"export PATH={venv_bin}:$PATH",
    )
    ligands = ["[O-]CC", "n1ccccc1", "[O-]C(=O)C#N", "O"]
    with ParslExecutor(profile, tmp_path / "runinfo", chunk_size=2) as ex:
        results = {r.key: r for r in ex.map(EmbeddedKD(), ligands)}
    assert len(results) == 4
    by_status = sorted(r.status for r in results.values())
    assert by_status == ["failed", "ok", "ok", "ok"]
    failed = next(r for r in results.values() if not r.ok)
    assert failed.failure_kind == "chemistry" and "composition" in failed.reason
    new_jobs = JOBCOMP.read_text()[len(before) :] if JOBCOMP.exists() else ""
    assert "JobState=" in new_jobs, "no Slurm job finished during the test"
    assert shutil.which("sinfo")
