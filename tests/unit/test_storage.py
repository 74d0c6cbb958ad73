"""Campaign store: names, create, atomic round commits, time travel, lock, cache and journal."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import socket
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import pandas as pd
import pytest
from deltalake import DeltaTable

import storage.store as store_mod
from calculators.base import CalcResult
from storage.errors import (
    CampaignExists,
    CampaignLocked,
    CampaignNotFound,
    RoundConflict,
    RoundNotCommitted,
    SchemaMismatch,
)
from storage.journal import Journal
from storage.names import validate_campaign_name
from storage.store import TABLES, CampaignStore
from tests.conftest import REPO

SPEC = {"name": "demo", "policy": "top-k", "batch": 8}


def calcs(keys: list[str], status: str = "ok", gap: float = 1.0) -> pd.DataFrame:
    """Rows exactly as calculators produce them (CalcResult.to_record())."""
    records = [
        CalcResult(
            key=k,
            calculator="kd_cf",
            version="1",
            method="crystal-field",
            status=status,  # type: ignore[arg-type]
            values={"gap": gap} if status == "ok" else {},
            units={"gap": "cm-1"} if status == "ok" else {},
            reason=None if status == "ok" else "SCF not converged",
            failure_kind=None if status == "ok" else "chemistry",
        ).to_record()
        for k in keys
    ]
    return pd.DataFrame(records)


def round_tables(k: int) -> dict[str, pd.DataFrame]:
    """A small but complete round: new ligands, labels, candidates, calculations, latent map."""
    smiles = [f"C{'C' * i}O" for i in range(k * 3, k * 3 + 3)]
    return {
        "ligands": pd.DataFrame({"smiles": smiles, "heavy_atoms": [len(s) for s in smiles]}),
        "labels": pd.DataFrame({"smiles": smiles[:2], "kd_gap": [100.0 + k, 200.0 + k]}),
        "candidates": pd.DataFrame({"smiles": smiles, "score": [0.1, 0.2, 0.3]}),
        "calculations": calcs([f"k{k}-{i}" for i in range(3)], gap=float(k)),
        "latent": pd.DataFrame({"smiles": smiles, "z": [[0.5 * k, 1.0], [2.0, 3.0], [4.0, k]]}),
    }


def manifest(k: int) -> dict:
    return {"model_sha256": "ab" * 32, "corpus_version": "qm9-1", "rng_seed": 7 + k, "seeds": [k]}


@pytest.fixture
def store(tmp_path: Path) -> CampaignStore:
    s = CampaignStore(tmp_path, "demo")
    s.create(SPEC)
    return s


def snapshot(s: CampaignStore) -> dict[str, pd.DataFrame]:
    return {t: s.read(t) for t in (*TABLES, "rounds")}


def assert_same(a: dict[str, pd.DataFrame], b: dict[str, pd.DataFrame]) -> None:
    assert a.keys() == b.keys()
    for name in a:
        pd.testing.assert_frame_equal(a[name], b[name], obj=name)


def delta_versions(s: CampaignStore) -> dict[str, int]:
    """Latest on-disk version of every Delta table (committed or not)."""
    root = s.path / "tables"
    if not root.exists():
        return {}
    return {p.name: DeltaTable(p).version() for p in sorted(root.iterdir())}


# --- names ----------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["a", "0", "dy-smm_01", "x" * 64])
def test_valid_names_pass(name: str) -> None:
    assert validate_campaign_name(name) == name


@pytest.mark.parametrize(
    "name",
    ["../x", "", "x" * 300, "x" * 65, "a/b", "Upper", "a b", "abc\n", "-x", ".x", "é", None, 5],
)
def test_invalid_names_are_refused_naming_the_value(name: object) -> None:
    with pytest.raises(ValueError, match="invalid campaign name") as info:
        validate_campaign_name(name)
    shown = repr(name)[:70]
    assert shown in str(info.value)
    if name == "x" * 300:
        assert "300 characters" in str(info.value) and len(str(info.value)) < 250


def test_store_with_bad_name_touches_nothing(tmp_path: Path) -> None:
    root = tmp_path / "root"
    root.mkdir()
    with pytest.raises(ValueError, match=r"'\.\./escape'"):
        CampaignStore(root, "../escape")
    assert list(tmp_path.iterdir()) == [root] and list(root.iterdir()) == []


# --- create ---------------------------------------------------------------------------------


def test_create_records_spec_and_hash_once(tmp_path: Path) -> None:
    s = CampaignStore(tmp_path, "demo")
    assert not s.exists()
    digest = s.create(SPEC)
    canonical = json.dumps(SPEC, sort_keys=True, separators=(",", ":"))
    assert digest == hashlib.sha256(canonical.encode()).hexdigest() == s.spec_sha256
    assert s.spec() == SPEC and s.exists()
    before = (s.path / "campaign.json").read_bytes()
    with pytest.raises(CampaignExists, match="'demo' already exists"):
        CampaignStore(tmp_path, "demo").create({"other": 1})
    assert (s.path / "campaign.json").read_bytes() == before


def test_spec_that_is_not_json_is_refused(tmp_path: Path) -> None:
    s = CampaignStore(tmp_path, "demo")
    with pytest.raises(ValueError, match="spec of campaign 'demo' is not plain JSON"):
        s.create({"sigma": float("nan")})
    assert not s.exists()


def test_missing_campaign_is_a_clear_error(tmp_path: Path) -> None:
    s = CampaignStore(tmp_path, "ghost")
    for action in (
        lambda: s.read("labels"),
        lambda: s.commit_round(0, {}, {}),
        lambda: s.journal_append(0, []),
        lambda: s.writer().__enter__(),
    ):
        with pytest.raises(CampaignNotFound, match="'ghost' does not exist"):
            action()


# --- commits and time travel ----------------------------------------------------------------


def test_rounds_commit_and_past_rounds_read_identically(store: CampaignStore) -> None:
    assert store.rounds() == [] and store.last_round() is None
    assert store.read("labels").columns.tolist() == ["gap_1_std", "round"]  # hinted columns
    assert "wall_seconds" in store.read("calculations").columns
    assert store.commit_round(0, round_tables(0), manifest(0)) is True
    round0 = snapshot(store)
    assert store.commit_round(1, round_tables(1), manifest(1)) is True
    round1 = snapshot(store)
    assert store.commit_round(2, round_tables(2), manifest(2)) is True

    assert_same({t: store.read(t, round=0) for t in round0}, round0)
    assert_same({t: store.read(t, round=1) for t in round1}, round1)
    latest = store.read("ligands")
    assert list(latest["round"]) == [0] * 3 + [1] * 3 + [2] * 3
    assert list(latest["smiles"][3:6]) == list(round_tables(1)["ligands"]["smiles"])
    assert store.read("latent", round=1)["z"].iloc[3].tolist() == [0.5, 1.0]
    assert store.last_round() == 2
    with pytest.raises(RoundNotCommitted, match="'demo' has no committed round 3"):
        store.read("labels", round=3)
    with pytest.raises(ValueError, match="unknown table"):
        store.read("../campaign.json")


def test_rounds_lists_manifests(store: CampaignStore) -> None:
    store.commit_round(0, round_tables(0), manifest(0))
    store.commit_round(1, {"labels": round_tables(1)["labels"]}, manifest(1))
    info = store.rounds()
    assert [r.round for r in info] == [0, 1]
    assert info[1].manifest == {**manifest(1), "spec_sha256": store.spec_sha256}
    assert info[1].spec_sha256 == store.spec_sha256
    assert info[1].rows == {"labels": 2}
    assert info[1].versions["labels"] == 1 and info[1].versions["ligands"] == 0
    assert datetime.fromisoformat(info[0].committed_at) <= datetime.fromisoformat(
        info[1].committed_at
    )


def test_recommit_is_a_noop_and_different_content_is_refused(store: CampaignStore) -> None:
    store.commit_round(0, round_tables(0), manifest(0))
    store.commit_round(1, round_tables(1), manifest(1))
    before, disk = snapshot(store), delta_versions(store)
    assert store.commit_round(0, round_tables(0), manifest(0)) is False
    assert store.commit_round(1, round_tables(1), manifest(1)) is False
    assert_same(snapshot(store), before)
    assert delta_versions(store) == disk
    with pytest.raises(RoundConflict, match="round 1 of campaign 'demo' is already committed"):
        store.commit_round(1, round_tables(1), manifest(99))
    changed = round_tables(1)
    changed["labels"].loc[0, "kd_gap"] = -1.0
    with pytest.raises(RoundConflict, match="different content"):
        store.commit_round(1, changed, manifest(1))
    assert_same(snapshot(store), before)


def test_rounds_must_come_in_order(store: CampaignStore) -> None:
    with pytest.raises(RoundConflict, match="next round is 0"):
        store.commit_round(1, round_tables(1), manifest(1))
    store.commit_round(0, round_tables(0), manifest(0))
    with pytest.raises(RoundConflict, match="cannot commit round 3 .* next round is 1"):
        store.commit_round(3, round_tables(3), manifest(3))
    with pytest.raises(ValueError, match="round must be an integer"):
        store.commit_round(-1, {}, {})


def test_bad_tables_and_manifests_are_refused(store: CampaignStore) -> None:
    store.commit_round(0, round_tables(0), manifest(0))
    cases = [
        ({"rounds": pd.DataFrame({"x": [1]})}, {}, "unknown table 'rounds'"),
        ({"../etc": pd.DataFrame({"x": [1]})}, {}, r"unknown table '\.\./etc'"),
        ({"labels": pd.DataFrame({"round": [1]})}, {}, "'round' is set by the store"),
        ({"labels": [1, 2]}, {}, "must be a pandas DataFrame"),
        ({}, {"spec_sha256": "0" * 64}, "does not match campaign 'demo' spec"),
        ({}, {"sigma": float("inf")}, "round manifest is not plain JSON"),
    ]
    for tables, man, message in cases:
        with pytest.raises((ValueError, TypeError), match=message):
            store.commit_round(1, tables, man)
    assert store.last_round() == 0


# --- crash safety ---------------------------------------------------------------------------


@pytest.mark.parametrize("fail_at", [0, 2, 5])  # 5 data tables, then the rounds row (index 5)
def test_crash_mid_commit_keeps_last_round_and_recommit_succeeds_once(
    store: CampaignStore, monkeypatch: pytest.MonkeyPatch, fail_at: int
) -> None:
    store.commit_round(0, round_tables(0), manifest(0))
    before, on_disk = snapshot(store), delta_versions(store)
    real_write = store_mod._write_delta
    calls = []

    def crashing_write(path: Path, data):  # noqa: ANN001
        if len(calls) == fail_at:
            raise RuntimeError("killed mid-commit")
        calls.append(path.name)
        return real_write(path, data)

    tables = round_tables(1)
    tables["calculations"] = pd.concat([calcs(["k0-0"]), tables["calculations"]])  # seen before
    monkeypatch.setattr(store_mod, "_write_delta", crashing_write)
    with pytest.raises(RuntimeError, match="killed mid-commit"):
        store.commit_round(1, tables, manifest(1))
    monkeypatch.undo()

    reopened = CampaignStore(store.path.parent, "demo")
    assert reopened.last_round() == 0
    assert_same(snapshot(reopened), before)
    written = delta_versions(reopened)
    assert all(written[t] > on_disk[t] for t in calls)  # partial versions exist, yet unseen
    assert reopened.commit_round(1, tables, manifest(1)) is True
    assert reopened.commit_round(1, tables, manifest(1)) is False
    assert_same({t: reopened.read(t, round=0) for t in before}, before)
    new_calcs = reopened.read("calculations").query("round == 1")
    assert sorted(new_calcs["key"]) == ["k1-0", "k1-1", "k1-2"]
    for name in ("ligands", "labels", "candidates", "latent"):
        assert len(reopened.read(name).query("round == 1")) == len(tables[name])


def test_crash_at_the_commit_point_leaves_the_round_uncommitted(
    store: CampaignStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    store.commit_round(0, round_tables(0), manifest(0))
    before = snapshot(store)

    def no_replace(path, data):  # noqa: ANN001, ANN202
        raise OSError("disk full")

    monkeypatch.setattr(store_mod, "atomic_replace", no_replace)
    with pytest.raises(OSError, match="disk full"):
        store.commit_round(1, round_tables(1), manifest(1))
    monkeypatch.undo()
    assert store.last_round() == 0
    assert_same(snapshot(store), before)
    assert store.commit_round(1, round_tables(1), manifest(1)) is True
    assert store.read("ligands")["round"].tolist() == [0] * 3 + [1] * 3


def test_crash_after_commit_point_then_recommit_is_a_noop(
    store: CampaignStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    store.commit_round(0, round_tables(0), manifest(0))
    store.journal_append(1, calcs(["k1-0"]).to_dict("records"))

    def no_clear(self, round_no):  # noqa: ANN001, ANN202
        raise OSError("killed before the journal was cleared")

    monkeypatch.setattr(Journal, "clear", no_clear)
    with pytest.raises(OSError):
        store.commit_round(1, round_tables(1), manifest(1))
    monkeypatch.undo()
    assert store.last_round() == 1
    committed = snapshot(store)
    assert store.commit_round(1, round_tables(1), manifest(1)) is False
    assert store.journal_read(1) == []
    assert_same(snapshot(store), committed)


# --- schema ---------------------------------------------------------------------------------


def test_schema_mismatch_names_table_and_column_and_changes_nothing(
    store: CampaignStore,
) -> None:
    store.commit_round(0, round_tables(0), manifest(0))
    before, disk = snapshot(store), delta_versions(store)
    bad_type = round_tables(1)
    bad_type["calculations"]["wall_seconds"] = "slow"
    digits = round_tables(1)
    digits["ligands"]["heavy_atoms"] = digits["ligands"]["heavy_atoms"].astype(str)
    extra = round_tables(1)
    extra["labels"]["solvent"] = "water"
    missing = round_tables(1)
    missing["candidates"] = missing["candidates"].drop(columns="score")
    cases = [
        (bad_type, r"'calculations' column 'wall_seconds' has type string.* float"),
        (digits, r"'ligands' column 'heavy_atoms' has type string.* int"),
        (extra, r"'labels' has column 'solvent', not in the stored schema"),
        (missing, r"'candidates' is missing column 'score' \(stored type float\)"),
    ]
    for tables, message in cases:
        with pytest.raises(SchemaMismatch, match=message):
            store.commit_round(1, tables, manifest(1))
    assert delta_versions(store) == disk
    assert_same(snapshot(store), before)
    assert store.commit_round(1, round_tables(1), manifest(1)) is True


def test_new_table_needs_typed_columns_but_missing_values_fit_stored_types(
    store: CampaignStore,
) -> None:
    untyped = {"labels": pd.DataFrame({"smiles": ["CO"], "note": [None]})}
    with pytest.raises(SchemaMismatch, match="'labels' column 'note' has no values"):
        store.commit_round(0, untyped, manifest(0))
    assert not (store.path / "tables" / "labels").exists()
    nothing = {"candidates": pd.DataFrame({"smiles": [], "score": []}, dtype=object)}
    nothing["calculations"] = calcs(["a"]).assign(key=[None])
    with pytest.raises(SchemaMismatch, match="'calculations' column 'key' has missing values"):
        store.commit_round(0, nothing, manifest(0))
    nothing["calculations"] = calcs([])
    assert store.commit_round(0, nothing, manifest(0))  # empty, untyped: no table yet
    assert store.rounds()[0].rows == {"calculations": 0, "candidates": 0}
    assert not (store.path / "tables" / "candidates").exists()
    store.commit_round(1, round_tables(0), manifest(1))  # all-None reason/workdir columns
    gaps = {"labels": pd.DataFrame({"smiles": ["CCO"], "kd_gap": [None]})}
    store.commit_round(2, gaps, manifest(2))
    assert store.read("labels")["kd_gap"].isna().tolist() == [False, False, True]
    assert store.read("calculations")["reason"].isna().all()


# --- calculation cache ----------------------------------------------------------------------


def test_each_key_is_ingested_once_and_cache_returns_ok_rows(store: CampaignStore) -> None:
    first = pd.concat([calcs(["a", "b"]), calcs(["c"], "failed"), calcs(["a"], gap=9.0)])
    store.commit_round(0, {"calculations": first}, manifest(0))
    rows = store.read("calculations")
    assert rows["key"].tolist() == ["a", "b", "c"] and rows["values"][0] == '{"gap": 1.0}'
    batch = pd.concat([calcs(["d"], "failed"), calcs(["a", "d"]), calcs(["b", "c"], "failed")])
    store.commit_round(1, {"calculations": batch}, manifest(1))
    rows = store.read("calculations")
    assert list(zip(rows["key"], rows["status"], rows["round"], strict=True)) == [
        ("a", "ok", 0),
        ("b", "ok", 0),
        ("c", "failed", 0),
        ("d", "ok", 1),
    ]
    store.commit_round(2, {"calculations": calcs(["c", "a"])}, manifest(2))
    hits = store.cached(["a", "c", "d", "never"])
    assert sorted(hits) == ["a", "c", "d"]
    assert hits["c"] == calcs(["c"]).to_dict("records")[0]  # the record as it was produced
    assert json.loads(hits["a"]["values"]) == {"gap": 1.0}
    assert store.read("calculations")["key"].value_counts().max() <= 2
    assert store.cached([]) == {}
    with pytest.raises(TypeError, match="iterable of keys"):
        store.cached("a")


# --- journal and resume ---------------------------------------------------------------------


def test_orchestrator_killed_mid_round_resumes_without_rerunning(store: CampaignStore) -> None:
    store.commit_round(0, {"calculations": calcs(["old"])}, manifest(0))
    todo = ["old", "x", "y", "z"]
    runs: list[str] = []

    def run(key: str) -> dict:
        runs.append(key)
        return calcs([key]).to_dict("records")[0]

    done = store.cached(todo)
    for key in ["x", "y"]:  # two finish, then the orchestrator is killed
        if key not in done:
            store.journal_append(1, [run(key)])

    restarted = CampaignStore(store.path.parent, "demo")
    done = restarted.cached(todo) | {r["key"]: r for r in restarted.journal_read(1)}
    results = list(done.values()) + [run(k) for k in todo if k not in done]
    assert restarted.commit_round(1, {"calculations": pd.DataFrame(results)}, manifest(1))
    assert runs == ["x", "y", "z"]
    assert sorted(restarted.read("calculations")["key"]) == ["old", "x", "y", "z"]
    assert restarted.journal_read(1) == [] and not restarted._journal.path(1).exists()


def test_journal_survives_a_torn_append_and_prefers_ok(store: CampaignStore) -> None:
    assert store.journal_append(0, calcs(["a"], "failed").to_dict("records")) == 1
    path = store._journal.path(0)
    with open(path, "ab") as fh:
        fh.write(b'{"key": "b", "sta')  # killed mid-write
    assert [r["key"] for r in store.journal_read(0)] == ["a"]
    store.journal_append(0, calcs(["c", "a"]).to_dict("records"))
    records = store.journal_read(0)
    assert [(r["key"], r["status"]) for r in records] == [("a", "ok"), ("c", "ok")]
    assert path.read_bytes().count(b"\n") == 3 and b'"sta\n' not in path.read_bytes()
    with pytest.raises(RoundConflict, match="cannot journal round 1"):
        store.journal_append(1, [])
    with pytest.raises(ValueError, match="string 'key'"):
        store.journal_append(0, [{"status": "ok"}])


# --- one writer per campaign ----------------------------------------------------------------


def test_second_writer_in_this_process_is_refused(store: CampaignStore) -> None:
    other = CampaignStore(store.path.parent, "demo")
    with store.writer():
        assert store.commit_round(0, round_tables(0), manifest(0))  # re-entrant for the holder
        with pytest.raises(CampaignLocked) as info:
            other.commit_round(1, round_tables(1), manifest(1))
        message = str(info.value)
        assert "'demo'" in message and f"pid={os.getpid()}" in message
        assert f"host={socket.gethostname()}" in message
    assert other.commit_round(1, round_tables(1), manifest(1))


HOLD_LOCK = """
import sys, time
from pathlib import Path
from storage.lock import WriterLock
WriterLock(Path(sys.argv[1]), "demo").acquire()
print("locked", flush=True)
time.sleep(120)
"""


@pytest.mark.timeout(60)
def test_writer_in_another_process_blocks_until_it_dies(store: CampaignStore) -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    child = subprocess.Popen(
        [sys.executable, "-c", HOLD_LOCK, str(store.path / "writer.lock")],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout is not None and child.stdout.readline().strip() == "locked"
        with pytest.raises(CampaignLocked, match=rf"'demo' is locked .*pid={child.pid}"):
            store.commit_round(0, round_tables(0), manifest(0))
        assert store.last_round() is None
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=30)
        child.stdout.close()
    assert store.commit_round(0, round_tables(0), manifest(0)) is True  # stale lock is gone


def test_calculations_table_grows_by_product_columns_only(store: CampaignStore) -> None:
    """A campaign stored before 'where it ran' existed takes rows that record it; past rounds
    read back exactly as they were, and unknown new columns are still refused."""
    placement = ["job_id", "node", "started_at", "failed_attempts"]
    store.commit_round(0, {"calculations": calcs(["old"]).drop(columns=placement)}, manifest(0))
    new = calcs(["new"]).assign(job_id="4242", node="cn01", failed_attempts="[]")
    store.commit_round(1, {"calculations": new}, manifest(1))
    assert not set(placement) & set(store.read("calculations", round=0).columns)
    rows = store.read("calculations").set_index("key")
    assert rows.loc["new", "job_id"] == "4242" and rows.loc["new", "node"] == "cn01"
    assert pd.isna(rows.loc["old", "job_id"])
    # rows without them (a journal written by the older version) read as null
    store.commit_round(2, {"calculations": calcs(["older"]).drop(columns=placement)}, manifest(2))
    assert pd.isna(store.read("calculations").set_index("key").loc["older", "node"])
    with pytest.raises(SchemaMismatch, match="column 'gpu', not in the stored schema"):
        store.commit_round(3, {"calculations": calcs(["x"]).assign(gpu="a100")}, manifest(3))
    assert store.last_round() == 2
