"""Parsl execution: profiles, chunked map, infrastructure retries, ParslLauncher, submit scripts.

Everything runs on real Parsl (HighThroughputExecutor + LocalProvider here; Slurm and PBS submit
scripts through stand-in sbatch/qsub on PATH, the way Parsl's own provider tests check them).
Workers import this module to unpickle CountingCalc, so heavy calculator modules are imported
inside the tests that use them: a restarted worker then starts in about a second.
"""

from __future__ import annotations

import contextlib
import json
import os
import shlex
import socket
import sys
import textwrap
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil
import pytest

from calculators.base import CalcResult, CalculationFailed, key_for, run_embedded
from flows.parsl_exec import ParslExecutor, ParslLauncher
from flows.profiles import (
    LocalProfile,
    PbsProfile,
    ProfileError,
    SlurmProfile,
    build_provider,
    load_profile,
    load_profiles_file,
    parsl_config,
)

pytestmark = pytest.mark.integration

TESTS = Path(__file__).resolve().parent  # on the workers' PYTHONPATH, for CountingCalc
DY_GAPS = [152.37, 231.84, 287.91, 344.62, 402.27, 468.05, 541.73]  # fixtures README
METACHAR = "[O-]C(=O)C#N"


# --- a cheap calculator the workers import from this directory (PYTHONPATH in worker_init) ----


@dataclass(frozen=True)
class CountingCalc:
    """len(SMILES); logs every run per item, and can kill its worker or raise, on request."""

    log_dir: str
    die_on: str = ""  # runs of this item end the worker process...
    die_times: int = 0  # ...this many times (a lost worker, as an OOM kill would leave)
    raise_on: str = ""  # this item raises: a bug, not an infrastructure loss
    name = "counting"
    version = "1"
    method = "len(smiles), test calculator"

    def canonical_input(self, item: str) -> dict[str, Any]:
        return {"smiles": item}

    def runs(self, item: str) -> int:
        path = Path(self.log_dir) / key_for(self, item)
        return len(path.read_text().split()) if path.exists() else 0

    def run(self, item: str, workdir: Path | None = None) -> CalcResult:
        earlier = self.runs(item)
        with open(Path(self.log_dir) / key_for(self, item), "a") as log:
            log.write(f"{os.getpid()}\n")
        if item == self.die_on and earlier < self.die_times:
            os._exit(17)
        if item == self.raise_on:
            raise RuntimeError(f"bug on {item}")
        return run_embedded(self, item, lambda s: {"length": len(s)}, {"length": "1"}, {})


def cheap_profile(**overrides: Any) -> LocalProfile:
    init = f"export PYTHONPATH={shlex.quote(str(TESTS))}${{PYTHONPATH:+:$PYTHONPATH}}"
    fields = dict(cores=1, heartbeat_period=1, heartbeat_threshold=5, infra_retries=1)
    return LocalProfile(worker_init=init, **(fields | overrides))


@pytest.fixture(scope="module")
def ex(tmp_path_factory) -> Iterator[ParslExecutor]:
    run_dir = tmp_path_factory.mktemp("parsl_run")
    with ParslExecutor(cheap_profile(), run_dir, chunk_size=8, max_chunks_in_flight=2) as open_ex:
        yield open_ex


def orca_fixture(name: str) -> Path:
    """A stored ORCA output in tests/fixtures/orca. tests.conftest is imported here, not at the
    top: the workers import this module, and there a `tests` package in site-packages shadows
    ours."""
    from tests.conftest import FIXTURES

    return FIXTURES / "orca" / name


def live_children() -> set[int]:
    alive = set()
    for proc in psutil.Process().children(recursive=True):
        with contextlib.suppress(psutil.NoSuchProcess):  # it may exit while we look
            if proc.status() != psutil.STATUS_ZOMBIE:
                alive.add(proc.pid)
    return alive


# --- (a) the embedded KD calculator on local HTEX, and cleanup ----------------------------------


def test_embedded_kd_over_local_htex_keys_failures_and_cleanup(tmp_path):
    from calculators.kd_embedded import EmbeddedKD

    calc = EmbeddedKD()
    ligands = ["[O-]CC", "O", METACHAR, "[O-]C", "[O-]C(C)=O", "[O-]c1ccccc1"]
    before = live_children()
    with ParslExecutor(LocalProfile(cores=1), tmp_path / "run", chunk_size=3) as local:
        results = list(local.map(calc, ligands))
        assert local.dfk.task_count == 2
        assert live_children() - before, "HTEX should have started interchange and workers"
    by_key = {r.key: r for r in results}
    assert len(results) == 6 and set(by_key) == {key_for(calc, s) for s in ligands}
    water = by_key[key_for(calc, "O")]
    assert water.status == "failed" and water.failure_kind == "chemistry"
    assert "L='O'" in water.reason
    for smiles in set(ligands) - {"O"}:
        row = by_key[key_for(calc, smiles)]
        assert row.ok and row.values["gap_1"] > 0, (smiles, row.reason)
        assert row.method == calc.method
    assert live_children() - before == set(), "interchange or workers left running"


# --- (b) chunking, a bounded window, retries ---------------------------------------------------


def test_forty_items_in_chunks_of_eight_are_five_tasks_with_a_bounded_window(ex, tmp_path):
    calc = CountingCalc(str(tmp_path))
    items = [f"[O-]{'C' * n}" for n in range(1, 41)]
    pulled = 0

    def source() -> Iterator[str]:
        nonlocal pulled
        for item in items:
            pulled += 1
            yield item

    tasks_before = ex.dfk.task_count
    results, ahead = [], []
    for result in ex.map(calc, source()):
        results.append(result)
        ahead.append(pulled - len(results))
    assert ex.dfk.task_count - tasks_before == 5
    assert max(ahead) <= 2 * 8  # two chunks in flight, never the whole list
    assert sorted(r.values["length"] for r in results) == [len(s) for s in items]
    assert {r.key for r in results} == {key_for(calc, s) for s in items}
    assert all(calc.runs(s) == 1 for s in items)


def test_lost_worker_is_resubmitted_without_a_failure(ex, tmp_path):
    calc = CountingCalc(str(tmp_path), die_on="[O-]CCC", die_times=1)
    items = ["[O-]C", "[O-]CC", "[O-]CCC", "[O-]CCCC"]
    tasks_before = ex.dfk.task_count
    results = list(ex.map(calc, items))
    assert [r.status for r in results] == ["ok"] * 4
    assert ex.dfk.task_count - tasks_before == 1  # the same Parsl task, tried again
    assert calc.runs("[O-]CCC") == 2
    for row in results:  # where it ran, and the lost attempt of its chunk with its cause
        assert row.node == socket.gethostname() and row.job_id is None and row.started_at
        [lost] = row.failed_attempts
        assert lost["cause"].startswith("WorkerLost: ") and lost["node"] == socket.gethostname()
        assert lost["started_at"] <= row.started_at
    assert not list((ex.run_dir / "attempts").iterdir())  # notes are read once, then removed


def test_retries_exhausted_gives_infrastructure_rows_for_the_whole_chunk(ex, tmp_path):
    calc = CountingCalc(str(tmp_path), die_on="[O-]CC", die_times=99)
    doomed = [f"[O-]{'C' * n}" for n in range(1, 9)]  # one chunk, with the killer in it
    survivors = [f"[O-]{'C' * n}N" for n in range(1, 4)]
    results = {r.key: r for r in ex.map(calc, doomed + survivors)}
    assert len(results) == 11
    for smiles in doomed:
        row = results[key_for(calc, smiles)]
        assert row.status == "failed" and row.failure_kind == "infrastructure"
        assert row.reason.startswith("WorkerLost: ") and "after 2 tries" in row.reason
        assert "; local jobs " in row.reason  # which scheduler jobs ran the blocks
        assert row.workdir  # the blocks' log directory
        assert [a["cause"].split(":")[0] for a in row.failed_attempts] == ["WorkerLost"] * 2
        assert all(a["node"] == socket.gethostname() for a in row.failed_attempts)
    assert all(results[key_for(calc, s)].ok for s in survivors)
    assert calc.runs("[O-]CC") == 2  # infra_retries=1: tried twice, then given up


def test_a_bug_in_a_calculator_is_raised_not_retried(ex, tmp_path):
    calc = CountingCalc(str(tmp_path), raise_on="[O-]CC")
    with pytest.raises(RuntimeError, match=r"bug on \[O-\]CC"):
        list(ex.map(calc, ["[O-]C", "[O-]CC"]))
    assert calc.runs("[O-]CC") == 1


def test_map_needs_an_open_executor(tmp_path):
    closed = ParslExecutor(cheap_profile(), tmp_path)
    with pytest.raises(RuntimeError, match="not open"):
        next(closed.map(CountingCalc(str(tmp_path)), ["[O-]C"]))


# --- (c) ParslLauncher with stand-in programs --------------------------------------------------


def stand_in(tmp_path: Path, name: str, body: str) -> Path:
    path = tmp_path / "bin" / name
    path.parent.mkdir(exist_ok=True)
    path.write_text(f"#!{sys.executable}\n" + textwrap.dedent(body))
    path.chmod(0o755)
    return path


def replaying_orca(tmp_path: Path, fixture: str, code: int) -> Path:
    """Checks its input file is in the working directory, then replays a stored ORCA output."""
    return stand_in(
        tmp_path,
        f"orca_{code}",
        f"""
        import pathlib, sys
        if not pathlib.Path(sys.argv[1]).read_text().startswith("!"):
            sys.exit("input file missing from the working directory")
        sys.stdout.write(pathlib.Path({str(orca_fixture(fixture))!r}).read_text())
        sys.exit({code})
        """,
    )


@pytest.fixture(scope="module")
def dy_job():
    from calculators import orca

    text = orca_fixture("y_opt_synthetic.out").read_text()
    return orca.CasscfJob(orca.swap_metal(orca.final_geometry(text), "Y", "Dy"), charge=1)


def test_launcher_replays_dy_output_through_map(ex, tmp_path, dy_job):
    from calculators.orca import CasscfSocTemplate, KramersCalculator

    fake = replaying_orca(tmp_path, "dy_sextets_synthetic.out", 0)
    launcher = ParslLauncher(ex, {"orca": str(fake)})
    calc = KramersCalculator(CasscfSocTemplate(sextets_only=True), launcher)
    [result] = list(ex.map(calc, [dy_job]))
    assert result.ok, result.reason
    assert result.values["gaps_cm"] == pytest.approx(DY_GAPS)
    assert result.program_versions == {"orca": "6.1.1"}
    assert result.node == socket.gethostname() and result.failed_attempts == []
    workdir = Path(result.workdir)
    assert workdir == ex.run_dir / "scratch" / calc.name / key_for(calc, dy_job)
    out = (workdir / "dy_casscf_soc.out").read_text()
    assert out == orca_fixture("dy_sextets_synthetic.out").read_text()


def test_launcher_nonzero_exit_with_truncated_output_keeps_scratch(ex, tmp_path, dy_job):
    from calculators.orca import KramersCalculator

    fake = replaying_orca(tmp_path, "co_plus_soc_min_truncated.out", 1)
    calc = KramersCalculator(launcher=ParslLauncher(ex, {"orca": str(fake)}))
    result = calc.run(dy_job, tmp_path / "scratch")
    assert result.status == "failed" and result.failure_kind == "infrastructure"
    assert result.reason.startswith("orca exited 1: output truncated")
    kept = tmp_path / "scratch"
    assert (kept / "dy_casscf_soc.inp").is_file() and (kept / "dy_casscf_soc.out").is_file()


def test_launcher_passes_metacharacters_as_plain_arguments(ex, tmp_path):
    echo = stand_in(tmp_path, "echo_args", "import json, sys\nprint(json.dumps(sys.argv[1:]))\n")
    workdir = tmp_path / "work dir; $(touch pwned)"
    workdir.mkdir()
    args = [METACHAR, "a b", "$(touch pwned)", "; touch pwned2", "`id`", "x > y"]
    outcome = ParslLauncher(ex).launch(str(echo), args, workdir, workdir / "out.txt")
    assert outcome.returncode == 0
    assert json.loads(outcome.stdout_path.read_text()) == args
    assert sorted(p.name for p in workdir.iterdir()) == ["out.txt"]
    assert not list(tmp_path.glob("pwned*"))


def test_launcher_lost_worker_is_an_infrastructure_failure_after_retries(ex, tmp_path):
    """The stand-in kills the worker that runs it (exec makes the worker its parent), twice."""
    killer = stand_in(
        tmp_path,
        "kill_worker",
        f"""
        import os, signal
        with open("runs", "a") as runs:
            runs.write("x")
        if os.getppid() not in (1, {os.getpid()}):  # never this test process
            os.kill(os.getppid(), signal.SIGKILL)
        """,
    )
    with pytest.raises(CalculationFailed) as info:
        ParslLauncher(ex).launch(str(killer), [], tmp_path, tmp_path / "out.txt")
    assert info.value.kind == "infrastructure"
    assert "lost its worker after 2 tries: WorkerLost" in info.value.reason
    assert (tmp_path / "runs").read_text() == "xx"
    assert [a["cause"].split(":")[0] for a in info.value.attempts] == ["WorkerLost"] * 2
    assert all(a["node"] == socket.gethostname() and a["started_at"] for a in info.value.attempts)


def test_launcher_missing_program_is_bad_input(ex, tmp_path):
    launcher = ParslLauncher(ex, {"orca": str(tmp_path / "no_such_orca")})
    with pytest.raises(CalculationFailed) as info:
        launcher.launch("orca", ["x.inp"], tmp_path, tmp_path / "x.out")
    assert info.value.kind == "input" and "no_such_orca" in info.value.reason


# --- (d) profiles and the scheduler scripts they generate --------------------------------------


def submit_through_stand_in(
    profile: SlurmProfile | PbsProfile,
    tool: str,
    reply: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> tuple[str, list[str], str]:
    """Submits one block of the profile's provider through a stand-in sbatch/qsub on PATH that
    records its arguments and the submit script it was given, and answers `reply`: the job id
    Parsl read from the reply, the tool's arguments and the submit script."""
    record = tmp_path / "record"
    record.mkdir()
    fake = tmp_path / "fakebin" / tool
    fake.parent.mkdir()
    fake.write_text(
        "#!/bin/sh\n"
        f'printf "%s\\n" "$@" > {record}/args\n'
        'for last in "$@"; do :; done\n'
        f'cp "$last" {record}/script\n'
        f"echo {shlex.quote(reply)}\n"
    )
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{fake.parent}:{os.environ['PATH']}")
    provider = build_provider(profile)
    provider.script_dir = str(tmp_path / "scripts")
    Path(provider.script_dir).mkdir()
    job_id = provider.submit("process_worker_pool.py --the-command", tasks_per_node=1)
    return job_id, (record / "args").read_text().split(), (record / "script").read_text()


INIT = "module load orca/6.1.1\nsource /opt/gauss/.venv/bin/activate"


@pytest.mark.parametrize(
    ("profile", "tool", "reply", "job_id", "options", "lines", "launch"),
    [
        (
            SlurmProfile(
                partition="debug",
                account="chem42",
                walltime="01:30:00",
                worker_init=INIT,
                cores_per_node=8,
            ),
            "sbatch",
            "Submitted batch job 12345",
            "12345",
            [],
            [
                "#SBATCH --partition=debug",
                "#SBATCH --account=chem42",
                "#SBATCH --time=90",  # Parsl writes minutes
                "#SBATCH --cpus-per-task=8",
                "module load orca/6.1.1",
                "source /opt/gauss/.venv/bin/activate",
                "export OMP_NUM_THREADS=1",
            ],
            "srun --ntasks 1",
        ),
        (
            PbsProfile(
                queue="workq",
                account="chem42",
                walltime="02:00:00",
                nodes_per_block=2,
                cpus_per_node=64,
                select_options="mem=100gb",
                worker_init=INIT,
            ),
            "qsub",
            "12345.pbs01",
            "12345.pbs01",
            ["-q", "workq", "-A", "chem42"],
            [
                "#PBS -l walltime=02:00:00",
                "#PBS -l select=2:ncpus=64:mem=100gb",
                "module load orca/6.1.1",
                "export OMP_NUM_THREADS=1",
            ],
            "mpiexec",
        ),
    ],
    ids=["slurm", "pbs"],
)
def test_submit_script_and_command_line(
    tmp_path, monkeypatch, profile, tool, reply, job_id, options, lines, launch
):
    submitted, args, script = submit_through_stand_in(profile, tool, reply, tmp_path, monkeypatch)
    assert submitted == job_id
    assert args[:-1] == options  # then the submit script's path
    for line in lines:
        assert line in script.splitlines(), line
    assert launch in script and "process_worker_pool.py --the-command" in script


def test_one_pbs_node_needs_no_mpiexec():
    one_node = PbsProfile(queue="workq", cpus_per_node=64)
    assert one_node.parsl_launcher()("cmd", 1, 1) == "cmd"


def test_slurm_config_has_fast_strategy_heartbeat_and_infra_retries(tmp_path):
    cfg = parsl_config(SlurmProfile(partition="debug", infra_retries=3), tmp_path)
    [htex] = cfg.executors
    assert cfg.strategy_period == 1 and cfg.retries == 3 and cfg.retry_handler is not None
    assert htex.heartbeat_threshold == 20
    assert type(htex.provider).__name__ == "SlurmProvider"
    assert type(htex.provider.launcher).__name__ == "SrunLauncher"


def test_blocks_drain_before_their_walltime(tmp_path):
    """No calculation starts on a block in its last drain_before_walltime seconds."""
    cfg = parsl_config(SlurmProfile(walltime="02:00:00", drain_before_walltime=600), tmp_path)
    assert cfg.executors[0].drain_period == 7200 - 600
    short = SlurmProfile(walltime="00:04:00", drain_before_walltime=300)
    assert parsl_config(short, tmp_path).executors[0].drain_period is None  # would never run
    never = SlurmProfile(walltime="02:00:00", drain_before_walltime=0)
    assert parsl_config(never, tmp_path).executors[0].drain_period is None
    assert parsl_config(cheap_profile(), tmp_path).executors[0].drain_period is None


def test_profiles_yaml_sections_and_errors_name_the_field(tmp_path):
    path = tmp_path / "profiles.yaml"
    path.write_text(
        "laptop:\n"
        "hpc:\n  kind: slurm\n  partition: debug\n  walltime: '00:30:00'\n  max_blocks: 4\n"
        "broken:\n  kind: pbs\n  queue: 'workq; rm -rf ~'\n"
        "typo:\n  kind: slurm\n  partiton: debug\n"
    )
    assert load_profiles_file(path, "laptop") == LocalProfile()
    hpc = load_profiles_file(path, "hpc")
    assert isinstance(hpc, SlurmProfile) and hpc.max_blocks == 4 and hpc.walltime == "00:30:00"
    with pytest.raises(ProfileError, match=r"'broken'.*queue: String should match"):
        load_profiles_file(path, "broken")
    with pytest.raises(ProfileError, match=r"partiton: Extra inputs are not permitted"):
        load_profiles_file(path, "typo")
    with pytest.raises(ProfileError, match=r"no profile 'gpu'"):
        load_profiles_file(path, "gpu")
    with pytest.raises(ProfileError, match=r"walltime: String should match.*'90 minutes'"):
        load_profile({"kind": "slurm", "walltime": "90 minutes"})
    with pytest.raises(ProfileError, match=r"kind: .*'lsf'"):
        load_profile({"kind": "lsf"})
