"""A campaign round whose KD gaps come from the real OpenMolcas CASSCF/RASSI-SO chain, run as
a Prefect flow with its calculations on Parsl workers (test settings: ANO-RCC-MB, 21 sextets)."""

import pytest

from calculators.openmolcas.program import molcas_available
from campaigns.spec import parse_spec
from storage.store import CampaignStore
from tests.conftest import QM9_LIGANDS_SAMPLE, SHIPPED_MODEL

pytestmark = [
    pytest.mark.molcas,
    pytest.mark.integration,
    pytest.mark.skipif(not molcas_available(), reason="OpenMolcas (pymolcas) is not installed"),
]


def test_round_with_molcas_kd_through_the_flow(prefect_api, tmp_path, monkeypatch):
    from campaigns import history, published
    from flows.campaign_flows import run_campaign

    monkeypatch.setenv("GAUSS_STORE", str(tmp_path / "store"))
    monkeypatch.setenv("GAUSS_WORKERS", "2")
    spec = parse_spec(
        {
            "name": "molcasflow",
            "corpus": str(QM9_LIGANDS_SAMPLE),
            "model": str(SHIPPED_MODEL),
            "initial_set": "published",
            "initial_size": 12,
            "seeds_per_round": 1,
            "sampling": {"samples_per_seed": 1, "sigmas": [0.3, 0.5], "steps_per_sigma": 4},
            "budget": {"per_round": 2, "total": 10},
            "calculators": {"kd": "molcas", "molcas_settings": "test"},
        }
    )
    results = run_campaign(spec, rounds_to_run=1)
    assert [m["calculations"] for m in results] == [0, 2]  # published round 0; 1 new + 1 seed
    store = CampaignStore(tmp_path / "store", "molcasflow")
    calcs = store.read("calculations", round=1)
    assert list(calcs["status"]) == ["ok", "ok"], list(calcs["reason"])
    assert all("OpenMolcas" in m and "SA-CASSCF(9,7)" in m for m in calcs["method"])
    shown = history.show(store, 1)
    [new] = shown["results"]
    assert new["gap_1"] > 0 and "OpenMolcas" in new["method"]
    methods = results[1]["label_methods"]
    assert set(methods) == {published.PUBLISHED_METHOD, new["method"]}
