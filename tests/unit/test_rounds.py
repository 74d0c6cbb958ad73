"""Campaign rounds as plain functions: init, rounds, resume after a crash, locks, bad input.

The KD calculator here is a cheap deterministic stand-in (a test double for the orchestration,
counting its calls); the real embedded chain is exercised in test_kd_embedded and test_demo.
"""

import multiprocessing as mp
from dataclasses import dataclass, field

import pandas as pd
import pytest

from calculators.base import CalcResult, key_for, run_embedded
from campaigns import history
from campaigns.executors import SerialExecutor
from campaigns.rounds import RoundContext, init_campaign, run_round, should_stop
from campaigns.spec import SpecError, parse_spec
from gauss import chem
from gauss.model import load_checkpoint
from storage.errors import CampaignLocked
from storage.store import CampaignStore
from tests.conftest import QM9_LIGANDS_SAMPLE, SHIPPED_MODEL

CALLS: list[str] = []


@dataclass(frozen=True)
class ToyKD:
    """gap_i grows with the ligand's heavy atoms and is larger for anions (deterministic)."""

    name: str = "toy-kd"
    version: str = "1"
    method: str = "toy gaps for orchestration tests (not physics)"

    def canonical_input(self, smiles):
        return {"ligand": chem.ligand(smiles).smiles}

    def _compute(self, smiles):
        lig = chem.ligand(smiles)
        CALLS.append(lig.smiles)
        if lig.heavy_atoms == 1:
            from calculators.base import CalculationFailed

            raise CalculationFailed("toy: single heavy atom")
        base = 20.0 * lig.heavy_atoms + (150.0 if lig.charge < 0 else 0.0)
        return {f"gap_{i}": base * i for i in range(1, 8)}

    def run(self, smiles, workdir=None) -> CalcResult:
        return run_embedded(self, smiles, self._compute, {"gap_1": "cm-1"}, {"toy": "1"})


@dataclass
class CrashingExecutor:
    """Runs calculations serially, then dies after `after` results (like a killed process)."""

    after: int
    seen: list = field(default_factory=list)

    def map(self, calc, items):
        for item in items:
            if len(self.seen) >= self.after:
                raise KeyboardInterrupt("orchestrator killed")
            self.seen.append(item)
            yield calc.run(item)


@pytest.fixture
def corpus():
    return pd.read_parquet(QM9_LIGANDS_SAMPLE)


@pytest.fixture(scope="module")
def model():
    return load_checkpoint(SHIPPED_MODEL)


def _ctx(tmp_path, corpus, model, executor=None, **spec):
    spec = parse_spec(
        {
            "name": "t1",
            "initial_size": 30,
            "seeds_per_round": 3,
            "sampling": {
                "samples_per_seed": 2,
                "sigmas": [0.3, 0.5],
                "steps_per_sigma": 4,
                "batch_per_seed": 50,
            },
            **spec,
        }
    )
    store = CampaignStore(tmp_path / "store", spec.name)
    return RoundContext(spec, store, ToyKD(), executor or SerialExecutor(), corpus, model)


def test_init_and_two_rounds_with_time_travel(tmp_path, corpus, model):
    ctx = _ctx(tmp_path, corpus, model)
    m0 = init_campaign(ctx)
    assert m0["calculations"] == 30
    m1 = run_round(ctx)
    labels_r1 = ctx.store.read("labels", round=1)
    m2 = run_round(ctx)
    assert [r.round for r in ctx.store.rounds()] == [0, 1, 2]
    pd.testing.assert_frame_equal(ctx.store.read("labels", round=1), labels_r1)
    for m in (m1, m2):
        assert m["candidates"] <= 6 and m["sampling"]["sampled"] > 0
    cands = ctx.store.read("candidates")
    assert not cands["canonical_smiles"].isin(set(corpus["canonical_smiles"])).any()
    assert cands["smiles"].is_unique
    hist = history.history(ctx.store)
    assert list(hist["round"]) == [0, 1, 2]
    manifest = ctx.store.rounds()[1].manifest
    assert manifest["model_sha256"] and manifest["seeds"] and manifest["rng_seed"] == 0
    assert manifest["calculator"]["name"] == "toy-kd"
    paths = history.round_plots(ctx.store, 1)
    assert all(p.is_file() and p.stat().st_size > 1000 for p in paths)


def test_killed_round_resumes_without_rerunning(tmp_path, corpus, model):
    ctx = _ctx(tmp_path, corpus, model)
    init_campaign(ctx)
    ctx.executor = CrashingExecutor(after=3)
    CALLS.clear()
    with pytest.raises(KeyboardInterrupt):
        run_round(ctx)
    assert ctx.store.last_round() == 0  # nothing half-committed
    finished = list(CALLS)
    assert len(finished) == 3 and len(ctx.store.journal_read(1)) == 3
    ctx.executor = SerialExecutor()
    CALLS.clear()
    run_round(ctx)
    assert not set(finished) & set(CALLS)  # the journaled three never ran again
    calcs = ctx.store.read("calculations", round=1)
    assert calcs["key"].is_unique
    new = set(ctx.store.read("labels", round=1).query("round == 1")["smiles"])
    assert set(finished) <= new


def test_cache_skips_known_keys_and_version_bump_recomputes(tmp_path, corpus, model):
    ctx = _ctx(tmp_path, corpus, model)
    init_campaign(ctx)
    from campaigns.rounds import compute

    ligs = ctx.store.read("labels", round=0)["smiles"].tolist()[:5]
    CALLS.clear()
    compute(ctx, 1, ligs)
    assert CALLS == [chem.ligand(s).smiles for s in ligs if chem.ligand(s).heavy_atoms == 1]
    ctx.calc = ToyKD(version="2")
    CALLS.clear()
    recs = compute(ctx, 1, ligs)
    assert len(CALLS) == 5 and all(r["version"] == "2" for r in recs)
    assert recs[0]["key"] == key_for(ctx.calc, ligs[0])


def _hold_lock(root, name, ready, release):
    store = CampaignStore(root, name)
    with store.writer():
        ready.set()
        release.wait(30)


def test_second_writer_gets_a_clear_conflict(tmp_path, corpus, model):
    ctx = _ctx(tmp_path, corpus, model)
    init_campaign(ctx)
    before = ctx.store.last_round()
    spawn = mp.get_context("spawn")
    ready, release = spawn.Event(), spawn.Event()
    proc = spawn.Process(target=_hold_lock, args=(tmp_path / "store", "t1", ready, release))
    proc.start()
    try:
        assert ready.wait(60)
        with pytest.raises(CampaignLocked, match="t1"):
            run_round(ctx)
    finally:
        release.set()
        proc.join(30)
    assert ctx.store.last_round() == before


def test_bad_initial_set_stores_nothing(tmp_path, corpus, model):
    bad = tmp_path / "init.csv"
    bad.write_text("smiles\n[O-]CC\nC1CC\n")
    ctx = _ctx(tmp_path, corpus, model, initial_set=str(bad))
    with pytest.raises(SpecError, match="initial_set: invalid SMILES: 'C1CC'"):
        init_campaign(ctx)
    assert not ctx.store.exists()
    assert not (tmp_path / "store").exists() or not any((tmp_path / "store").iterdir())


def test_stopping_rules(tmp_path, corpus, model):
    ctx = _ctx(tmp_path, corpus, model, stopping={"max_rounds": 1}, budget={"total": 1000})
    init_campaign(ctx)
    assert should_stop(ctx) is None
    run_round(ctx)
    assert "max_rounds" in should_stop(ctx)
    ctx2 = _ctx(tmp_path / "b", corpus, model, budget={"total": 30})
    init_campaign(ctx2)
    assert "budget" in should_stop(ctx2)


def test_round_needs_a_model_and_round_zero(tmp_path, corpus, model):
    ctx = _ctx(tmp_path, corpus, None)
    init_campaign(ctx)
    with pytest.raises(ValueError, match="trained model"):
        run_round(ctx)
    fresh = _ctx(tmp_path / "c", corpus, model)
    fresh.store.create(fresh.spec.model_dump(mode="json"))
    with pytest.raises(ValueError, match="no round 0"):
        run_round(fresh)


def test_tiny_round_with_undefined_metrics_still_commits(tmp_path, corpus, model):
    """Too few labels for a cross-validated R^2: the manifest records None, not NaN."""
    ctx = _ctx(tmp_path, corpus, model, initial_size=6, seeds_per_round=1)
    init_campaign(ctx)
    m = run_round(ctx)
    assert m["surrogate_cv_r2"] != m["surrogate_cv_r2"]  # NaN in the returned metrics
    assert ctx.store.rounds()[1].manifest["metrics"]["surrogate_cv_r2"] is None


def test_history_verbs_read_the_store(tmp_path, corpus, model):
    import json
    import os
    import shutil
    import subprocess

    ctx = _ctx(tmp_path, corpus, model)
    init_campaign(ctx)
    run_round(ctx)
    env = dict(os.environ, GAUSS_STORE=str(tmp_path / "store"))

    def gauss(*args):
        return subprocess.run(
            [shutil.which("gauss"), "campaign", *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )

    hist = json.loads(gauss("history", "t1", "--format", "json").stdout)
    assert [row["round"] for row in hist] == [0, 1]
    assert "round" in gauss("history", "t1").stdout
    shown = json.loads(gauss("show", "t1", "--round", "1", "--format", "json").stdout)
    assert shown["round"] == 1 and len(shown["seeds"]) == 3
    assert {r["smiles"] for r in shown["results"]} == {c["smiles"] for c in shown["candidates"]}
    assert all(r["node"] and r["started_at"] for r in shown["results"])  # where each one ran
    assert all(r["failed_attempts"] == [] for r in shown["results"])
    out = tmp_path / "r1.parquet"
    assert gauss("export", "t1", "--round", "1", "--out", str(out)).returncode == 0
    exported = pd.read_parquet(out)
    assert set(exported["origin"]) == {"initial", "sampled"}
    bad = gauss("history", "../x")
    assert bad.returncode == 3 and "invalid campaign name '../x'" in bad.stderr
    missing = gauss("show", "t1", "--round", "7")
    assert missing.returncode == 3 and "no committed round 7" in missing.stderr


def test_campaign_from_published_casscf_labels_compares_within_one_method(tmp_path, corpus, model):
    """initial_set: published labels round 0 with the paper's CASSCF gaps, computes nothing
    for them, and seed-vs-sample comparisons use the seeds recomputed by the round's method."""
    from campaigns import published

    CALLS.clear()
    ctx = _ctx(tmp_path, corpus, model, initial_set="published", initial_size=40)
    m0 = init_campaign(ctx)
    assert CALLS == [] and m0["calculations"] == 0
    assert m0["label_methods"] == {published.PUBLISHED_METHOD: 40}
    calculator = ctx.store.rounds()[0].manifest["calculator"]
    assert calculator["name"] == "published-casscf"  # round 0 names where its labels came from
    labels0 = ctx.store.read("labels", round=0)
    table = published.published_kd().set_index("smiles")
    assert labels0["gap_3"].tolist() == table.loc[labels0["smiles"], "gap_3"].tolist()
    m1 = run_round(ctx)
    seeds = ctx.store.rounds()[-1].manifest["seeds"]
    assert m1["seeds_recomputed"] == 3 and set(seeds) <= set(CALLS)
    assert m1["seed_sample_method"] == ToyKD().method
    assert set(m1["label_methods"]) == {published.PUBLISHED_METHOD, ToyKD().method}
    calcs = ctx.store.read("calculations", round=1)
    assert len(calcs) == m1["candidates"] + 3
    labels1 = ctx.store.read("labels", round=1)
    assert not set(seeds) & set(labels1[labels1["method"] == ToyKD().method]["smiles"])
    assert m1["seconds"]["compute"] >= 0 and "plan" in m1["seconds"]
    counts = m1["sampling"]
    assert sum(counts["rejected_by"].values()) >= counts["donor_ok"] - counts["chem_ok"]


def test_label_uncertainty_makes_the_surrogate_trust_a_label_less():
    """A label with a large gap_1_std pulls the GP mean less (the calibrated embedded KD's
    uncertainty enters the surrogate as that point's own noise)."""
    import numpy as np

    from campaigns.surrogate import fit_surrogate

    rng = np.random.default_rng(0)
    z = rng.normal(size=(40, 4))
    y = z[:, 0] * 50 + 200
    y[0] += 400  # one outlying label
    exact = fit_surrogate(z, y)
    noisy_std = np.full(len(y), np.nan)
    noisy_std[0] = 1000.0  # that label is very uncertain (cm-1)
    noisy = fit_surrogate(z, y, y_std=noisy_std)
    (m_exact, _), (m_noisy, _) = exact.predict(z[:1]), noisy.predict(z[:1])
    assert abs(m_noisy[0] - y[0]) > abs(m_exact[0] - y[0]) + 50
