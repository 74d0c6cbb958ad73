"""Prefect flows against a real (temporary) Prefect API: a campaign, a killed round, artifacts."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest
from prefect.client.orchestration import get_client

from campaigns.spec import parse_spec
from storage.store import CampaignStore
from tests.conftest import QM9_LIGANDS_SAMPLE, REPO, SHIPPED_MODEL


def _spec(name, **extra):
    return parse_spec(
        {
            "name": name,
            "corpus": str(QM9_LIGANDS_SAMPLE),
            "model": str(SHIPPED_MODEL),
            "initial_size": 12,
            "seeds_per_round": 2,
            "sampling": {
                "samples_per_seed": 3,
                "sigmas": [0.3, 0.5],
                "steps_per_sigma": 4,
                "batch_per_seed": 50,
            },
            **extra,
        }
    )


@pytest.mark.integration
def test_run_campaign_flow_through_parsl_commits_rounds_and_artifacts(
    prefect_api, tmp_path, monkeypatch
):
    from flows.campaign_flows import run_campaign

    monkeypatch.setenv("GAUSS_STORE", str(tmp_path / "store"))
    monkeypatch.setenv("GAUSS_EXECUTOR", "parsl")  # the default: local HTEX workers
    monkeypatch.setenv("GAUSS_WORKERS", "2")
    results = run_campaign(_spec("flowtest"), rounds_to_run=1)
    assert len(results) == 2 and results[0]["calculations"] == 12
    store = CampaignStore(tmp_path / "store", "flowtest")
    assert [r.round for r in store.rounds()] == [0, 1]
    # one round pipeline: the flow's rounds record their stage timings like run_round does
    seconds = store.rounds()[1].manifest["metrics"]["seconds"]
    assert set(seconds) == {"plan", "compute"} and all(v > 0 for v in seconds.values())

    async def artifacts():
        async with get_client() as client:
            return await client.read_artifacts()

    import asyncio

    keys = {a.key for a in asyncio.run(artifacts())}
    assert {
        "flowtest-round-0",
        "flowtest-round-1",
        "flowtest-round-1-latent",
        "flowtest-round-1-kd",
        "flowtest-round-1-where",  # per calculation: job, node, lost attempts
        "flowtest-campaign",  # on the launched (parent) run: every round in one place
    } <= keys


RUNNER = """
import sys
from flows.campaign_flows import run_round_flow
run_round_flow(sys.argv[1])
"""


@pytest.mark.integration
def test_killed_flow_resumes_without_repeating_calculations(prefect_api, tmp_path):
    from calculators.kd_embedded import EmbeddedKD  # noqa: F401 - the real embedded chain
    from flows.campaign_flows import run_campaign

    env = dict(
        os.environ,
        GAUSS_STORE=str(tmp_path / "store"),
        GAUSS_EXECUTOR="process",
        GAUSS_WORKERS="1",
        PREFECT_API_URL=prefect_api,
        OMP_NUM_THREADS="1",
    )
    os.environ.update({k: env[k] for k in ("GAUSS_STORE", "GAUSS_EXECUTOR", "GAUSS_WORKERS")})
    try:
        spec = _spec(
            "killme",
            sampling={
                "samples_per_seed": 5,
                "sigmas": [0.3, 0.5],
                "steps_per_sigma": 6,
                "batch_per_seed": 50,
            },
        )
        run_campaign(spec, rounds_to_run=0)
    finally:
        for k in ("GAUSS_STORE", "GAUSS_EXECUTOR", "GAUSS_WORKERS"):
            os.environ.pop(k, None)
    store = CampaignStore(tmp_path / "store", "killme")
    proc = subprocess.Popen(
        [sys.executable, "-c", RUNNER, "killme"], env=env, cwd=REPO, start_new_session=True
    )
    deadline = time.time() + 240
    while time.time() < deadline and len(store.journal_read(1)) < 2:
        assert proc.poll() is None, "round finished before it could be killed"
        time.sleep(0.2)
    # a second round on the same campaign while the first runs: a clear conflict, no damage
    from flows.campaign_flows import run_round_flow
    from storage.errors import CampaignLocked

    os.environ.update({k: env[k] for k in ("GAUSS_STORE", "GAUSS_EXECUTOR", "GAUSS_WORKERS")})
    try:
        with pytest.raises(CampaignLocked, match="killme"):
            run_round_flow("killme")
    finally:
        for k in ("GAUSS_STORE", "GAUSS_EXECUTOR", "GAUSS_WORKERS"):
            os.environ.pop(k, None)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(30)
    journaled = {r["key"]: r for r in store.journal_read(1)}
    assert len(journaled) >= 2 and store.last_round() == 0
    again = subprocess.run(
        [sys.executable, "-c", RUNNER, "killme"],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert again.returncode == 0, again.stderr[-2000:]
    calcs = store.read("calculations", round=1)
    assert calcs["key"].is_unique
    committed = {r["key"]: r for r in calcs.to_dict("records")}
    for key, rec in journaled.items():  # identical record: it was ingested, not recomputed
        assert committed[key]["wall_seconds"] == rec["wall_seconds"]
        assert json.loads(committed[key]["values"]) == json.loads(rec["values"])


@pytest.mark.integration
def test_train_model_flow_writes_a_checkpoint(prefect_api, tmp_path, monkeypatch):
    import pandas as pd

    from flows.campaign_flows import train_model
    from gauss.model import load_checkpoint

    corpus = pd.read_parquet(QM9_LIGANDS_SAMPLE)
    labels = corpus.iloc[:150].assign(
        status="ok", charge=-0.5, dipole=0.2, polarizability=7.0, atomic_number=8
    )
    labels.loc[labels.index % 2 == 0, "charge"] = -0.9
    labels_path = tmp_path / "labels.parquet"
    labels.to_parquet(labels_path)
    monkeypatch.setenv("GAUSS_CORPUS", str(QM9_LIGANDS_SAMPLE))
    summary = train_model(str(labels_path), str(tmp_path / "m"), n_unlabelled=100, max_epochs=1)
    assert summary["epochs"] == 1
    lm = load_checkpoint(tmp_path / "m" / "model.pt")
    assert lm.info["n_train"] + lm.info["n_val"] == 250
    assert lm.target_names == ["charge", "dipole", "polarizability", "atomic_number"]
