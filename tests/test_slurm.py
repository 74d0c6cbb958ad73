"""The `slurm` profile on a real single-node Slurm (scripts/slurm-local), not a fake sbatch.

Calculations of the embedded KD chain run as Slurm jobs through Parsl's SlurmProvider + srun;
the test asserts on task outcomes and Slurm's own job-completion record, not on Parsl's cached
provider state.
"""

import json
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

    _venv_bin_on_path()
    before = JOBCOMP.read_text() if JOBCOMP.exists() else ""
    profile = local_slurm()
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


def _running_jobs() -> list[str]:
    out = subprocess.run(
        ["squeue", "-h", "-t", "RUNNING", "-o", "%i"], capture_output=True, text=True, timeout=30
    ).stdout
    return out.split()


@pytest.mark.integration
def test_scancel_of_a_block_is_retried_without_chemistry_failures(slurm, tmp_path):
    """A block killed by scancel mid-round: its tasks rerun on a new block, all come back."""
    import threading
    import time

    from calculators.kd_embedded import EmbeddedKD
    from flows.campaign_flows import _venv_bin_on_path
    from flows.parsl_exec import ParslExecutor

    _venv_bin_on_path()
    profile = local_slurm(infra_retries=2, heartbeat_period=2, heartbeat_threshold=8)
    # relaxed complexes take seconds each: long enough to cancel the block mid-round
    ligands = ["[O-]CC", "[O-]C(C)C", "[O-]CCC", "[O-]C(C)(C)C", "NC", "n1ccccc1"]
    cancelled: list[str] = []

    def cancel_first_block() -> None:
        deadline = time.time() + 120
        while time.time() < deadline and not cancelled:
            jobs = _running_jobs()
            if jobs:
                time.sleep(4)  # let workers start on some molecules
                subprocess.run(["scancel", *jobs], timeout=30)
                cancelled.extend(jobs)
            time.sleep(0.5)

    killer = threading.Thread(target=cancel_first_block, daemon=True)
    with ParslExecutor(profile, tmp_path / "runinfo", chunk_size=1) as ex:
        killer.start()
        results = list(ex.map(EmbeddedKD(relax=True), ligands))
    killer.join(5)
    assert cancelled, "no Slurm block was running to cancel"
    assert len({r.key for r in results}) == len(ligands)
    assert not [r for r in results if r.failure_kind == "infrastructure"], results
    blocks = [f for f in _jobcomp_records() if int(f["JobId"]) > int(cancelled[0])]
    assert any(".block-1." in f["JobName"] for f in blocks)  # the work moved to a new block
    assert {job_state(j) for j in cancelled} == {"CANCELLED"}  # Slurm's record, not Parsl's


@pytest.mark.integration
def test_walltime_shorter_than_a_calculation_is_an_infrastructure_failure(slurm, tmp_path):
    """Policy: a block killed at its walltime is retried `infra_retries` times; then the
    calculation is recorded as an infrastructure failure naming the Slurm jobs and the block
    logs (never as chemistry), its scratch directory kept, and the round goes on."""
    import textwrap

    from calculators import orca
    from calculators.orca import CasscfSocTemplate, KramersCalculator
    from flows.campaign_flows import _venv_bin_on_path
    from flows.parsl_exec import ParslExecutor, ParslLauncher

    fixtures = REPO / "tests" / "fixtures" / "orca"
    slow_orca = tmp_path / "bin" / "orca"
    slow_orca.parent.mkdir()
    slow_orca.write_text(
        f"#!{sys.executable}\n"
        + textwrap.dedent(f"""
        import pathlib, sys, time
        time.sleep(150)  # a CASSCF longer than the block's walltime
        sys.stdout.write(pathlib.Path({str(fixtures / "dy_sextets_synthetic.out")!r}).read_text())
    """)
    )
    slow_orca.chmod(0o755)
    geometry = orca.final_geometry((fixtures / "y_opt_synthetic.out").read_text())
    job = orca.CasscfJob(orca.swap_metal(geometry, "Y", "Dy"), charge=1)
    _venv_bin_on_path()
    profile = local_slurm(
        walltime="00:01:00",
        max_workers_per_node=1,
        infra_retries=0,
        heartbeat_period=2,
        heartbeat_threshold=8,
    )
    with ParslExecutor(profile, tmp_path / "runinfo") as ex:
        calc = KramersCalculator(
            CasscfSocTemplate(sextets_only=True), ParslLauncher(ex, {"orca": str(slow_orca)})
        )
        [result] = list(ex.map(calc, [job]))
    assert result.status == "failed" and result.failure_kind == "infrastructure"
    assert "slurm jobs " in result.reason and "block logs " in result.reason
    job_id = result.reason.split("slurm jobs ")[1].split(";")[0].split(",")[0].strip()
    assert job_state(job_id) == "TIMEOUT"
    assert (Path(result.workdir) / "dy_casscf_soc.inp").is_file()  # scratch kept


ORCHESTRATOR = """
import sys
from pathlib import Path
from calculators.kd_embedded import EmbeddedKD
from flows.parsl_exec import ParslExecutor
from flows.profiles import SlurmProfile
profile = SlurmProfile.model_validate_json(sys.argv[1])
with ParslExecutor(profile, Path(sys.argv[2]), chunk_size=1) as ex:
    for result in ex.map(EmbeddedKD(relax=True), sys.argv[3:]):
        print("result", result.key, flush=True)
"""


@pytest.mark.integration
def test_restart_after_orchestrator_kill_reconciles_with_slurm(slurm, tmp_path):
    """kill -9 of the orchestrator while its Slurm block runs; the next executor on the same
    run directory finds that block, cancels it if it still runs, and computes normally."""
    import signal
    import time

    from calculators.kd_embedded import EmbeddedKD
    from flows.campaign_flows import _venv_bin_on_path
    from flows.parsl_exec import BLOCKS_FILE, ParslExecutor

    _venv_bin_on_path()
    profile = local_slurm(heartbeat_period=2, heartbeat_threshold=60)
    run_dir = tmp_path / "runinfo"
    ligands = ["[O-]CC", "[O-]C(C)C", "[O-]CCC", "[O-]C(C)(C)C", "[O-]CCCC", "[O-]CC(C)C"]
    proc = subprocess.Popen(
        [sys.executable, "-c", ORCHESTRATOR, profile.model_dump_json(), str(run_dir), *ligands],
        cwd=REPO,
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,
        env=dict(os.environ, PATH=f"{Path(sys.executable).parent}:{os.environ['PATH']}"),
    )
    first = proc.stdout.readline()  # one result back: the block is running
    assert first.startswith("result"), first
    stale = json.loads((run_dir / BLOCKS_FILE).read_text())["jobs"]
    assert stale and set(stale) <= set(_running_jobs())
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(30)
    time.sleep(1)
    assert set(stale) <= set(_running_jobs())  # the orphaned block still holds the node
    with ParslExecutor(profile, run_dir, chunk_size=2) as ex:
        assert set(ex.reconciled["cancelled"]) | set(ex.reconciled["gone"]) == set(stale)
        assert not set(stale) & set(_running_jobs())
        results = list(ex.map(EmbeddedKD(), ligands))
    assert len(results) == len(ligands)
    assert {job_state(j) for j in ex.reconciled["cancelled"]} <= {"CANCELLED"}
    assert not (run_dir / BLOCKS_FILE).exists()  # clean exit: nothing left to reconcile
