"""scripts/model_report.py on a 1-epoch model: the report's structure, not the model's quality."""

import importlib.util
import json
import sys

import numpy as np
import pandas as pd
import pytest
import torch

from gauss.dataset import training_table
from gauss.model import load_checkpoint
from gauss.train import PROXY_TARGETS, TrainConfig, train
from tests.conftest import QM9_LIGANDS_SAMPLE, REPO

SAMPLE = QM9_LIGANDS_SAMPLE


def _report_module():
    spec = importlib.util.spec_from_file_location("model_report", REPO / "scripts/model_report.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while being defined
    spec.loader.exec_module(module)
    return module


def _labels(corpus: pd.DataFrame) -> pd.DataFrame:
    """Fake proxy labels for every fourth ligand (plus one failure, which must be ignored)."""
    rows = corpus.iloc[::4]
    heavy = rows["heavy_atoms"].to_numpy(dtype=float)
    labels = pd.DataFrame(
        {
            "smiles": rows["smiles"].to_numpy(),
            "status": "ok",
            "charge": -0.05 * heavy,
            "dipole": 0.1 * heavy,
            "polarizability": heavy,
            "atomic_number": np.where(rows["donor"] == "N", 7.0, 8.0),
        }
    )
    labels.loc[0, "status"] = "failed"
    return labels


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """Tiny batches run faster on one thread, and do not fight other work for the cores."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    corpus = pd.read_parquet(SAMPLE)
    labels = _labels(corpus)
    table = training_table(corpus, labels, n_unlabelled=50, seed=0)
    out = tmp_path_factory.mktemp("report_model")
    train(table, out, PROXY_TARGETS, TrainConfig(max_epochs=1, batch_size=50, progress=False))
    return load_checkpoint(out / "model.pt"), corpus, labels


def test_report_structure(trained, tmp_path):
    lm, corpus, labels = trained
    mod = _report_module()
    cfg = mod.ReportConfig(
        n_heldout=40, n_map=60, sigmas=(0.0, 0.5, 1.0), n_batches=2, batch_size=10
    )
    report = mod.run_report(lm, corpus, labels, tmp_path, cfg)

    saved = json.loads((tmp_path / "model_report.json").read_text())
    assert set(saved) >= {"heldout_reconstruction", "proxy_r2", "sigma_sweep", "latent_map"}
    for name in saved["figures"]:
        assert (tmp_path / name).stat().st_size > 1000
    assert saved["training_table"]["hash_verified"] is True
    rec = saved["heldout_reconstruction"]
    assert rec["n"] == 40
    held = {s for s, _ in rec["examples"]}
    table = training_table(corpus, labels, 50, seed=0)
    assert not held & set(table["smiles"])
    for key in ("string_accuracy", "token_accuracy", "token_accuracy_nonpad", "valid"):
        assert 0.0 <= rec[key] <= 1.0
    assert set(saved["proxy_r2"]["r2"]) == set(PROXY_TARGETS)

    curve = saved["sigma_sweep"]["curve"]
    assert [r["sigma"] for r in curve] == [0.0, 0.5, 1.0]
    for row in curve:
        assert 0.0 <= row["unique"] <= row["novel"] <= row["valid"] <= 1.0
    assert [r["cum_samples"] for r in curve] == [20, 40, 60]
    sweep = saved["sigma_sweep"]
    assert curve[0]["valid"] == float(sweep["seed_decoded_valid"])
    assert curve[0]["unique"] <= 1 / 20  # sigma 0: every sample is the decoded seed
    assert saved["latent_map"]["n"] == 60
    assert mod.summary_line(report).startswith("heldout_string_acc=")
