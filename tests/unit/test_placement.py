"""Where a calculation ran: the batch environment, attempt notes and their pairing with causes."""

import socket
import subprocess

from calculators.base import CalcResult, Placement, placed
from flows.parsl_exec import SHELL_NOTE, note_attempt, pair_attempts, read_attempts


def test_placement_reads_the_batch_environment(monkeypatch):
    for name in ("SLURM_JOB_ID", "PBS_JOBID", "SLURMD_NODENAME"):
        monkeypatch.delenv(name, raising=False)
    here = Placement.here()
    assert here.job_id is None and here.node == socket.gethostname()
    assert here.started_at.endswith("Z") and len(here.started_at) == 20
    monkeypatch.setenv("PBS_JOBID", "77.pbs01")
    assert Placement.here().job_id == "77.pbs01"
    monkeypatch.setenv("SLURM_JOB_ID", "4242")
    monkeypatch.setenv("SLURMD_NODENAME", "cn017")
    slurm = Placement.here()
    assert (slurm.job_id, slurm.node) == ("4242", "cn017")


def test_shell_and_python_notes_read_back_the_same(tmp_path, monkeypatch):
    notes = tmp_path / "attempts" / "task.tsv"
    monkeypatch.setenv("SLURM_JOB_ID", "11")
    monkeypatch.setenv("SLURMD_NODENAME", "n1")
    note_attempt(notes)  # a chunk's worker
    env = {"PATH": "/usr/bin:/bin", "SLURM_JOB_ID": "12", "SLURMD_NODENAME": "n2"}
    subprocess.run(["bash", "-c", f"{SHELL_NOTE} >> {notes}"], env=env, check=True)
    env = {"PATH": "/usr/bin:/bin"}  # outside any batch job: no job id, the host name
    subprocess.run(["bash", "-c", f"{SHELL_NOTE} >> {notes}"], env=env, check=True)
    first, second, third = read_attempts(notes)
    assert (first.job_id, first.node) == ("11", "n1")
    assert (second.job_id, second.node) == ("12", "n2") and second.started_at.endswith("Z")
    assert third.job_id is None and third.node == socket.gethostname()
    assert read_attempts(tmp_path / "missing.tsv") == []


def test_pairing_causes_with_notes():
    a, b, c = (Placement(str(n), f"n{n}", f"2026-01-01T00:00:0{n}Z") for n in (1, 2, 3))
    final, failed = pair_attempts(["ManagerLost: x", "WorkerLost: y"], [a, b, c], came_back=True)
    assert final == c
    assert failed == [a.attempt("ManagerLost: x"), b.attempt("WorkerLost: y")]
    assert failed[0] == {"cause": "ManagerLost: x", "job_id": "1", "node": "n1"} | {
        "started_at": a.started_at
    }
    final, failed = pair_attempts(["ManagerLost: x", "ManagerLost: z"], [a, b], came_back=False)
    assert final == Placement() and [f["job_id"] for f in failed] == ["1", "2"]
    # a task lost before any worker started it wrote no note: its cause stays unplaced
    final, failed = pair_attempts(["ManagerLost: x"], [c], came_back=True)
    assert final == c and failed == [Placement().attempt("ManagerLost: x")]
    assert pair_attempts([], [], came_back=True) == (Placement(), [])


def test_placed_keeps_earlier_attempts_first():
    row = CalcResult("k", "c", "1", "m", "ok", failed_attempts=[{"cause": "late"}])
    out = placed(row, Placement("9", "n9", "t"), [{"cause": "early"}])
    assert (out.job_id, out.node, out.started_at) == ("9", "n9", "t")
    assert [a["cause"] for a in out.failed_attempts] == ["early", "late"]
    assert '"cause": "early"' in out.to_record()["failed_attempts"]
