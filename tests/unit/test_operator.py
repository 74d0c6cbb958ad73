"""What an operator meets at the command line: checks before computing, spec updates, delete,
one exit code per kind of failure, no silent surprises (real `gauss` subprocesses)."""

import os
import shutil
import subprocess

import pytest
import yaml

from campaigns.spec import parse_spec
from storage.store import CampaignStore
from tests.conftest import QM9_LIGANDS_SAMPLE, SHIPPED_MODEL


def gauss(*args, env=None, input=None):
    exe = shutil.which("gauss")
    assert exe, "the gauss entry point is not on PATH (scripts/test puts .venv/bin there)"
    return subprocess.run(
        [exe, *args], capture_output=True, text=True, timeout=300, env=env, input=input
    )


@pytest.fixture
def env(tmp_path):
    out = {k: v for k, v in os.environ.items() if k != "GAUSS_PROFILES"}
    out["GAUSS_STORE"] = str(tmp_path / "store")
    return out


def _write(tmp_path, doc, name="spec.yaml"):
    path = tmp_path / name
    path.write_text(yaml.safe_dump(doc))
    return path


def _doc(**extra):
    return {
        "name": "ops",
        "corpus": str(QM9_LIGANDS_SAMPLE),
        "model": str(SHIPPED_MODEL),
        "initial_size": 20,
        "seeds_per_round": 4,
        **extra,
    }


def _created(tmp_path, **extra):
    """A stored campaign (spec only), as `init` leaves it before round 0 commits."""
    doc = parse_spec(_doc(**extra)).model_dump(mode="json")
    CampaignStore(tmp_path / "store", "ops").create(doc)
    return doc


def test_every_problem_is_named_before_anything_is_computed(tmp_path, env):
    spec = _write(
        tmp_path,
        _doc(
            model=str(tmp_path / "missing.pt"),
            corpus=str(tmp_path / "missing.parquet"),
            profile="slurm",
            budget={"per_round": 50, "total": 10},
        ),
    )
    res = gauss("campaign", "init", str(spec), env=env)
    assert res.returncode == 3, res.stderr
    for part in ("corpus:", "model: model checkpoint not found", "profile: 'slurm' needs"):
        assert part in res.stderr
    assert "per_round 50 exceeds total 10" in res.stderr
    assert "round 0 computes 20 ligands" in res.stderr
    assert "Traceback" not in res.stderr
    assert not (tmp_path / "store").exists()  # nothing stored, nothing computed


def test_budget_update_is_applied_and_recorded_science_change_is_refused(tmp_path, env):
    _created(tmp_path)
    raised = _write(tmp_path, _doc(budget={"per_round": 200, "total": 9000}), "more.yaml")
    res = gauss("campaign", "update", str(raised), env=env)
    assert res.returncode == 0, res.stderr
    assert "budget.total: 5000 -> 9000" in res.stdout
    store = CampaignStore(tmp_path / "store", "ops")
    assert store.spec()["budget"]["total"] == 9000
    [update] = store.spec_updates()
    assert update["changes"] == {"budget.total": {"old": 5000, "new": 9000}}
    history = gauss("campaign", "history", "ops", env=env)
    assert "spec updated at" in history.stdout and "budget.total 5000 -> 9000" in history.stdout
    science = _write(tmp_path, _doc(budget={"total": 9000}, seeds_per_round=8), "sci.yaml")
    refused = gauss("campaign", "update", str(science), env=env)
    assert refused.returncode == 5
    assert "seeds_per_round (4 -> 8)" in refused.stderr
    assert "gauss campaign delete ops" in refused.stderr
    assert store.spec()["seeds_per_round"] == 4 and len(store.spec_updates()) == 1


def test_run_with_a_changed_spec_says_how_to_go_on(tmp_path, env):
    _created(tmp_path)
    changed = _write(tmp_path, _doc(stopping={"max_rounds": 3}), "stop.yaml")
    res = gauss("campaign", "run", str(changed), env=env)
    assert res.returncode == 5, res.stderr
    assert "stopping.max_rounds: stored 10, given 3" in res.stderr
    assert "gauss campaign update" in res.stderr and "Traceback" not in res.stderr


def test_moved_model_must_be_the_same_file(tmp_path, env):
    _created(tmp_path)
    copy = tmp_path / "elsewhere.pt"
    shutil.copy(SHIPPED_MODEL, copy)
    ok = gauss("campaign", "update", str(_write(tmp_path, _doc(model=str(copy)))), env=env)
    assert ok.returncode == 0, ok.stderr
    other = tmp_path / "other.pt"
    data = bytearray(SHIPPED_MODEL.read_bytes())
    data[len(data) // 2] ^= 0xFF  # same size, one byte differs
    other.write_bytes(bytes(data))
    bad = gauss("campaign", "update", str(_write(tmp_path, _doc(model=str(other)))), env=env)
    assert bad.returncode == 5 and "sha256 differs" in bad.stderr


def test_delete_asks_for_the_name_and_removes_everything(tmp_path, env):
    _created(tmp_path)
    kept = gauss("campaign", "delete", "ops", env=env, input="nope\n")
    assert kept.returncode == 2 and "nothing deleted" in kept.stderr
    assert CampaignStore(tmp_path / "store", "ops").exists()
    gone = gauss("campaign", "delete", "ops", env=env, input="ops\n")
    assert gone.returncode == 0, gone.stderr
    assert not (tmp_path / "store" / "ops").exists()
    again = gauss("campaign", "delete", "ops", "--yes", env=env)
    assert again.returncode == 3 and "no campaign 'ops'" in again.stderr


def test_exit_codes_and_no_silent_surprises(tmp_path, env):
    _created(tmp_path)
    assert gauss("campaign", "history", "ops", "--format", "xml", env=env).returncode == 2
    bad_dir = gauss(
        "campaign", "export", "ops", "--round", "0", "--out", "/nonexistent_dir/x.parquet", env=env
    )
    assert bad_dir.returncode == 3 and not os.path.exists("/nonexistent_dir")
    assert gauss("calc", "kd", "C(C)C", env=env).returncode == 3  # not a donor-first ligand
    assert gauss("calc", "kd", "--in", "x.csv", env=env).returncode == 2  # --in needs --out


def test_history_help_defines_every_column_with_units():
    from campaigns.history import HISTORY_COLUMNS

    text = " ".join(gauss("campaign", "history", "--help").stdout.split())
    for name in HISTORY_COLUMNS:
        assert name in text
    assert "median_gap_1 [cm-1]" in text and "negative" in text.lower() or "< 0" in text
