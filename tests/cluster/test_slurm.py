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

from tests.conftest import FIXTURES, REPO
from tests.slurm_cluster import (  # noqa: F401 - re-exported for other cluster-tier modules
    JOBCOMP,
    SCRIPT,
    _jobcomp_records,
    job_state,
    local_slurm,
    slurm_node,
)

pytestmark = pytest.mark.cluster


@pytest.fixture
def figures(request):
    """Figures of one drill; printed and appended to test-artifacts/slurm-drills.txt."""
    import time

    found: dict = {}
    start = time.perf_counter()
    yield found
    found["test_s"] = round(time.perf_counter() - start, 1)
    line = f"{request.node.name}: " + " ".join(f"{k}={v}" for k, v in found.items())
    print(line)
    out = REPO / "test-artifacts" / "slurm-drills.txt"
    out.parent.mkdir(exist_ok=True)
    with open(out, "a") as handle:
        handle.write(line + "\n")


@pytest.mark.integration
def test_embedded_kd_runs_as_slurm_jobs(slurm, tmp_path, monkeypatch):
    from calculators.kd_embedded import EmbeddedKD
    from flows.execution import venv_bin_on_path
    from flows.parsl_exec import ParslExecutor

    venv_bin_on_path()
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


def _running_jobs() -> list[str]:
    out = subprocess.run(
        ["squeue", "-h", "-t", "RUNNING", "-o", "%i"], capture_output=True, text=True, timeout=30
    ).stdout
    return out.split()


@pytest.mark.integration
def test_scancel_of_a_block_is_retried_without_chemistry_failures(slurm, tmp_path, figures):
    """A block killed by scancel mid-round: its tasks rerun on a new block, all come back."""
    import threading
    import time

    from calculators.kd_embedded import EmbeddedKD
    from flows.execution import venv_bin_on_path
    from flows.parsl_exec import NOTES_DIR, ParslExecutor

    venv_bin_on_path()
    profile = local_slurm(infra_retries=2, heartbeat_period=2, heartbeat_threshold=8)
    # relaxed complexes take seconds each: long enough to cancel the block mid-round
    ligands = ["[O-]CC", "[O-]C(C)C", "[O-]CCC", "[O-]C(C)(C)C", "NC", "n1ccccc1"]
    cancelled: list[str] = []

    notes = tmp_path / "runinfo" / NOTES_DIR  # a worker notes each attempt as it starts it

    def started() -> bool:
        return notes.is_dir() and any(f.stat().st_size for f in notes.iterdir())

    def cancel_first_block() -> None:
        deadline = time.time() + 120
        while time.time() < deadline and not cancelled:
            jobs = _running_jobs()
            if jobs and started():  # workers are computing (on a loaded machine: not at once)
                time.sleep(1)
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
    # every row says which Slurm job computed it; the lost attempts name the cancelled block
    ran = {f["JobId"] for f in _jobcomp_records()}
    assert all(r.job_id in ran for r in results)
    assert {r.node for r in results} == {slurm_node()}
    lost = [a for r in results for a in r.failed_attempts]
    # an attempt a worker had started names the cancelled block; one lost before any worker
    # started it has no place (flows.parsl_exec.pair_attempts)
    assert any(a["job_id"] in cancelled for a in lost), lost
    assert {a["job_id"] for a in lost} - {None} <= set(cancelled)
    assert all(a["cause"].startswith(("ManagerLost", "WorkerLost")) for a in lost)
    figures.update(results=len(results), lost_attempts=len(lost), cancelled=",".join(cancelled))


@pytest.mark.integration
def test_walltime_shorter_than_a_calculation_is_an_infrastructure_failure(slurm, tmp_path, figures):
    """Policy: a block killed at its walltime is retried `infra_retries` times; then the
    calculation is recorded as an infrastructure failure naming the Slurm jobs and the block
    logs (never as chemistry), its scratch directory kept, and the round goes on."""
    import textwrap

    from calculators import orca
    from calculators.orca import CasscfSocTemplate, KramersCalculator
    from flows.execution import venv_bin_on_path
    from flows.parsl_exec import ParslExecutor, ParslLauncher

    fixtures = FIXTURES / "orca"
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
    venv_bin_on_path()
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
    figures.update(job=job_id, state="TIMEOUT", walltime_s=60)
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
def test_restart_after_orchestrator_kill_reconciles_with_slurm(slurm, tmp_path, figures):
    """kill -9 of the orchestrator while its Slurm block runs; the next executor on the same
    run directory finds that block, cancels it if it still runs, and computes normally."""
    import signal
    import time

    from calculators.kd_embedded import EmbeddedKD
    from flows.execution import venv_bin_on_path
    from flows.parsl_exec import BLOCKS_FILE, ParslExecutor

    venv_bin_on_path()
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
    assert not list((run_dir / "attempts").glob("*"))  # the killed run's notes went too
    figures.update(orphaned=",".join(stale), cancelled_on_restart=len(ex.reconciled["cancelled"]))


# --- a whole campaign, the HPC chain, drain and a block that can never start ------------------


def profiles_file(tmp_path: Path, **overrides) -> Path:
    import yaml

    path = tmp_path / "profiles.yaml"
    slurm_section = local_slurm(**overrides).model_dump(mode="json", exclude_defaults=True)
    path.write_text(yaml.safe_dump({"slurm": {"kind": "slurm", **slurm_section}}))
    return path


@pytest.mark.integration
def test_campaign_rounds_run_as_slurm_jobs_and_history_says_where(
    slurm, prefect_api, tmp_path, monkeypatch, figures
):
    """run_campaign on the slurm profile: round 0 and round 1 computed by Slurm jobs, and every
    stored calculation names its job and node (history and the 'where' artifact)."""
    import asyncio

    from prefect.client.orchestration import get_client

    from campaigns import history
    from campaigns.spec import parse_spec
    from flows.campaign_flows import run_campaign
    from storage.store import CampaignStore
    from tests.conftest import QM9_LIGANDS_SAMPLE, SHIPPED_MODEL

    monkeypatch.setenv("GAUSS_STORE", str(tmp_path / "store"))
    monkeypatch.setenv("GAUSS_PROFILES", str(profiles_file(tmp_path)))
    spec = parse_spec(
        {
            "name": "onslurm",
            "corpus": str(QM9_LIGANDS_SAMPLE),
            "model": str(SHIPPED_MODEL),
            "initial_size": 8,
            "seeds_per_round": 2,
            "profile": "slurm",
            "sampling": {"samples_per_seed": 2, "sigmas": [0.3, 0.5], "steps_per_sigma": 4},
        }
    )
    before = {r["JobId"] for r in _jobcomp_records()}
    results = run_campaign(spec, rounds_to_run=1)
    assert [m["calculations"] for m in results] == [8, 4]
    store = CampaignStore(tmp_path / "store", "onslurm")
    rows = store.read("calculations")
    finished = {r["JobId"]: r for r in _jobcomp_records() if r["JobId"] not in before}
    assert set(rows["job_id"]) <= set(finished), "a row names a job that did not run here"
    assert all(".block-" in finished[j]["JobName"] for j in set(rows["job_id"]))
    assert set(rows["node"]) == {slurm_node()}
    shown = history.show(store, 1)
    assert all(r["job_id"] in finished for r in shown["results"])

    async def where_artifact():
        async with get_client() as client:
            found = await client.read_artifacts()
            return [a for a in found if a.key == "onslurm-round-1-where"]

    [artifact] = asyncio.run(where_artifact())
    assert all(row["job_id"] in finished for row in json.loads(artifact.data))
    figures.update(rounds=2, calculations=len(rows), slurm_jobs=len(set(rows["job_id"])))


def replaying_orca_chain(tmp_path: Path) -> Path:
    """Stand-in `orca`: replays the stored output that belongs to the input it is given."""
    import textwrap

    fixtures = FIXTURES / "orca"
    script = tmp_path / "bin" / "orca"
    script.parent.mkdir(parents=True, exist_ok=True)
    script.write_text(
        f"#!{sys.executable}\n"
        + textwrap.dedent(f"""
        import pathlib, re, sys
        fixtures = pathlib.Path({str(fixtures)!r})
        inp = pathlib.Path(sys.argv[1])
        if inp.name.startswith("dy_"):
            out = "dy_sextets_synthetic.out"
        elif re.search(r"^\\s*N\\s", inp.read_text(), re.M):
            out = "y_opt_cyanoformate_synthetic.out"
        else:
            out = "y_opt_ethoxide_synthetic.out"
        sys.stdout.write((fixtures / out).read_text())
    """)
    )
    script.chmod(0o755)
    return script


@pytest.mark.integration
def test_orca_chain_programs_run_as_slurm_jobs(slurm, tmp_path, figures):
    """OrcaKD's three ORCA runs per ligand go to Slurm workers through ParslLauncher; input
    writing and parsing stay on the orchestrator, scratch lies in the shared run directory."""
    from calculators.orca import CasscfSocTemplate
    from calculators.orca.chain import OrcaKD
    from flows.execution import venv_bin_on_path
    from flows.parsl_exec import ParslExecutor, ParslLauncher

    venv_bin_on_path()
    orca_bin = replaying_orca_chain(tmp_path)
    before = {r["JobId"] for r in _jobcomp_records()}
    with ParslExecutor(local_slurm(), tmp_path / "runinfo") as ex:
        calc = OrcaKD(
            launcher=ParslLauncher(ex, {"orca": str(orca_bin)}),
            scratch_root=ex.run_dir / "scratch",
            casscf=CasscfSocTemplate(sextets_only=True),
        )
        results = list(ex.map(calc, ["[O-]CC", "[O-]C(=O)C#N"]))
        blocks = ex.block_jobs()
    assert [r.status for r in results] == ["ok", "ok"], [r.reason for r in results]
    for r in results:
        assert r.values["gap_1"] == pytest.approx(152.37)
        assert r.job_id in blocks and r.node == slurm_node() and r.failed_attempts == []
        assert Path(r.workdir).is_relative_to(tmp_path / "runinfo" / "scratch")
        assert len(list(Path(r.workdir).glob("*/*.out"))) == 3  # three ORCA steps, kept
    finished = {r["JobId"] for r in _jobcomp_records()} - before
    assert set(blocks) <= finished
    figures.update(ligands=2, orca_runs=6, slurm_jobs=",".join(blocks))


@pytest.mark.integration
def test_block_drains_before_its_walltime(slurm, tmp_path, figures):
    """walltime 2 min, drain 90 s before: after 30 s the block takes no new task, ends on its
    own (COMPLETED, not TIMEOUT) and the rest runs on a new block; nothing is lost."""
    from datetime import datetime

    from sleep_calc import SleepCalc  # tests/cluster/ is on sys.path under pytest and workers

    from flows.execution import venv_bin_on_path
    from flows.parsl_exec import ParslExecutor

    venv_bin_on_path()
    profile = local_slurm(
        walltime="00:02:00",
        drain_before_walltime=90,
        worker_init=f"export PATH={Path(sys.executable).parent}:$PATH\n"
        f"export PYTHONPATH={Path(__file__).resolve().parent}",  # sleep_calc, as pytest has it
    )
    items = [f"t{i}" for i in range(24)]  # 24 x 4 s on 2 workers: 48 s, past the 30 s window
    with ParslExecutor(profile, tmp_path / "runinfo", chunk_size=1) as ex:
        results = list(ex.map(SleepCalc(4.0), items))
    assert len(results) == 24 and all(r.ok and not r.failed_attempts for r in results)
    jobs = sorted({r.job_id for r in results}, key=int)
    assert len(jobs) >= 2, "all work fitted in the first block: the drain was not exercised"
    record = next(r for r in _jobcomp_records() if r["JobId"] == jobs[0])
    assert record["JobState"] == "COMPLETED"  # left at its drain, not killed at its walltime
    start = datetime.fromisoformat(record["StartTime"])
    for r in results:
        if r.job_id == jobs[0]:
            began = datetime.fromisoformat(r.started_at.rstrip("Z"))
            assert (began - start).total_seconds() <= 30 + 2, r  # +2: clock to the second
    ended = datetime.fromisoformat(record["EndTime"])
    on_first = sum(r.job_id == jobs[0] for r in results)
    figures.update(blocks=len(jobs), first_block_s=(ended - start).total_seconds())
    figures.update(tasks_first_block=on_first, tasks_later=len(results) - on_first)


@pytest.mark.integration
def test_block_that_can_never_start_fails_the_round_with_the_reason(slurm, tmp_path, figures):
    """A walltime over the partition's MaxTime (1 h here) keeps the job PENDING forever; the
    executor names the job, Slurm's reason and the field to change instead of hanging."""
    from calculators.kd_embedded import EmbeddedKD
    from flows.execution import venv_bin_on_path
    from flows.parsl_exec import ParslExecutor
    from flows.queue_check import BlockCannotStart

    venv_bin_on_path()
    profile = local_slurm(walltime="03:00:00", queue_check_period=3)
    with ParslExecutor(profile, tmp_path / "runinfo") as ex:
        with pytest.raises(BlockCannotStart, match=r"Reason=PartitionTimeLimit: walltime") as err:
            list(ex.map(EmbeddedKD(), ["[O-]CC"]))
        stuck = ex.block_jobs()
    figures.update(job=",".join(stuck), error=repr(str(err.value)[:60]))
    assert stuck and not set(stuck) & set(_running_jobs())
    pending = subprocess.run(
        ["squeue", "-h", "-j", ",".join(stuck)], capture_output=True, text=True, timeout=30
    )
    assert pending.stdout.strip() == ""  # the executor's exit cancelled the stuck block


@pytest.mark.integration
def test_campaign_init_submits_round_zero_through_the_slurm_profile(slurm, tmp_path, figures):
    """`gauss campaign init` on a slurm spec runs round 0 as Slurm jobs, not on the login node."""
    import yaml

    from storage.store import CampaignStore
    from tests.conftest import QM9_LIGANDS_SAMPLE

    spec = tmp_path / "spec.yaml"
    doc = {"name": "initslurm", "corpus": str(QM9_LIGANDS_SAMPLE), "initial_size": 4}
    doc["seeds_per_round"] = 2  # preflight: seeds cannot exceed the initial set
    spec.write_text(yaml.safe_dump({**doc, "profile": "slurm"}))
    env = dict(os.environ, GAUSS_STORE=str(tmp_path / "store"))
    env["GAUSS_PROFILES"] = str(profiles_file(tmp_path))
    before = {r["JobId"] for r in _jobcomp_records()}
    gauss = shutil.which("gauss")
    res = subprocess.run(
        [gauss, "campaign", "init", str(spec)], capture_output=True, text=True, env=env, timeout=300
    )
    assert res.returncode == 0, res.stderr[-3000:]
    rows = CampaignStore(tmp_path / "store", "initslurm").read("calculations")
    finished = {r["JobId"] for r in _jobcomp_records()} - before
    assert len(rows) == 4 and set(rows["job_id"]) <= finished
    assert set(rows["node"]) == {slurm_node()}
    figures.update(calculations=len(rows), slurm_jobs=len(set(rows["job_id"])))
