"""The LoProp-calibrated embedded proxy: stored model, CV reproduction, chemistry, cache keys."""

import os

os.environ["OMP_NUM_THREADS"] = "1"  # before tblite loads libgomp (calculators/proxy_xtb.py)

import json  # noqa: E402
import shutil  # noqa: E402
import sys  # noqa: E402

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
from scipy.stats import pearsonr  # noqa: E402
from sklearn.ensemble import GradientBoostingRegressor  # noqa: E402

from calculators import proxy_calibrated as pc  # noqa: E402
from calculators.base import key_for  # noqa: E402
from calculators.proxy_xtb import XtbProxyCalculator  # noqa: E402
from gauss import chem  # noqa: E402
from tests.conftest import REPO  # noqa: E402

sys.path.insert(0, str(REPO / "scripts"))
import calibrate_proxies  # noqa: E402

CV = pd.read_csv(pc.DEFAULT_CALIBRATION / "cv_predictions.tsv", sep="\t")
RECORD = json.loads((pc.DEFAULT_CALIBRATION / "training.json").read_text())


def test_model_file_matches_its_record_and_is_small():
    model = pc.DEFAULT_CALIBRATION / "model.npz"
    assert pc.file_sha256(model) == RECORD["model_sha256"]
    assert model.stat().st_size < 5e6
    assert RECORD["data"]["data/published/loprop.tsv"] == pc.file_sha256(
        REPO / "data/published/loprop.tsv"
    )
    calib = pc.load_calibration()
    assert set(calib.ensembles) == set(pc.TARGETS)
    assert calib.features == tuple(pc.ligand_descriptors("OCC"))


def test_altered_model_is_refused(tmp_path):
    copy = tmp_path / "calib"
    shutil.copytree(pc.DEFAULT_CALIBRATION, copy)
    data = bytearray((copy / "model.npz").read_bytes())
    data[-100] ^= 0xFF
    (copy / "model.npz").write_bytes(bytes(data))
    with pytest.raises(pc.CalibrationError, match="sha256"):
        pc.load_calibration(copy)
    with pytest.raises(pc.CalibrationError, match="missing"):
        pc.load_calibration(tmp_path / "nowhere")


@pytest.mark.parametrize("row", [0, 700, 1500, 2200, 2800])
def test_fold_member_reproduces_stored_cv_prediction(row):
    """Descriptors recomputed here + the member of the row's fold = the stored CV prediction."""
    rec = CV.iloc[row]
    calib = pc.load_calibration()
    x = calib.matrix([pc.ligand_descriptors(rec.smiles)])
    for target in pc.TARGETS:
        member = calib.ensembles[target].member_predictions(x)[int(rec.fold), 0]
        assert member == pytest.approx(rec[f"cv_{target}"], rel=1e-8, abs=1e-9)


def test_stored_cv_figures_are_recomputable_and_meet_targets():
    overall = RECORD["cv"]["overall"]
    for target, minimum in (("charge", 0.95), ("dipole", 0.90), ("polarizability", 0.85)):
        r = pearsonr(CV[f"observed_{target}"], CV[f"cv_{target}"])[0]
        assert r == pytest.approx(overall[target]["r"], abs=1e-6)
        assert r >= minimum
        assert overall[target]["r"] > RECORD["cv"]["uncalibrated_r"][target]
    # folds hold whole molecules: no molecule appears in two folds
    groups = [chem.ligand(s).canonical_smiles for s in CV.smiles]
    assert pd.DataFrame({"g": groups, "f": CV.fold}).groupby("g").f.nunique().max() == 1


def test_exported_trees_equal_scikit_learn_including_early_leaves():
    rng = np.random.default_rng(3)
    x = rng.normal(size=(60, 4))
    y = np.where(x[:, 0] > 0, 1.0, 0.0) + 0.1 * x[:, 1]  # the x0 split leaves pure early leaves
    models = [
        GradientBoostingRegressor(n_estimators=20, max_depth=3, random_state=k).fit(x, y)
        for k in range(2)
    ]
    arrays = calibrate_proxies.export(models, depth=3)
    ens = pc.TreeEnsemble(**(arrays | {"learning_rate": float(arrays["learning_rate"])}))
    test = rng.normal(size=(40, 4))
    for k, model in enumerate(models):
        np.testing.assert_allclose(ens.member_predictions(test)[k], model.predict(test), atol=1e-12)


def test_values_are_on_the_loprop_scale_and_ordered_like_chemistry():
    calc = pc.CalibratedProxy()
    methoxide, methanol = calc.compute("[O-]C"), calc.compute("OC")
    pyridine, nitrile = calc.compute("n1ccccc1"), calc.compute("N#CC")
    published = pd.read_csv(REPO / "data/published/loprop.tsv", sep="\t")
    for values in (methoxide, methanol, pyridine, nitrile):
        for target in pc.TARGETS:
            column = published[f"loprop_{target}"]
            assert column.min() - 0.1 * column.std() <= values[target] <= column.max()
            assert 0 <= values[f"{target}_std"] < column.std()
    assert methoxide["charge"] < methanol["charge"] < 0  # an anionic O carries more charge
    assert methoxide["polarizability"] > methanol["polarizability"]  # and is softer
    assert nitrile["charge"] > methanol["charge"]  # sp N of a nitrile: small LoProp charge
    assert pyridine["atomic_number"] == 7 and methanol["atomic_number"] == 8


def test_run_result_names_method_units_and_raw_numbers():
    result = pc.CalibratedProxy().run("OCC")
    assert result.status == "ok"
    assert f"n={RECORD['n_train']}" in result.method
    assert "calibrated to OpenMolcas PBE/ANO-R2 LoProp" in result.method
    assert result.units["polarizability"] == "bohr^3"  # LoProp atomic units (values.PROXY_UNITS)
    raw = XtbProxyCalculator().run("OCC").values
    assert result.values["xtb_charge"] == raw["charge"]
    assert result.values["d4_polarizability"] == raw["polarizability"]


def test_cache_key_follows_the_calibration_not_its_path(tmp_path):
    moved = tmp_path / "moved"
    shutil.copytree(pc.DEFAULT_CALIBRATION, moved)
    default = pc.CalibratedProxy()
    assert key_for(pc.CalibratedProxy(moved), "OCC") == key_for(default, "OCC")
    assert key_for(default, "OCC") == key_for(default, "O(CC)")  # same ligand, same key
    assert key_for(default, "OCC") != key_for(XtbProxyCalculator(), "OCC")
    record = json.loads((moved / "training.json").read_text())
    record["version"] = "test-bump"
    (moved / "training.json").write_text(json.dumps(record))
    pc.load_calibration.cache_clear()
    assert key_for(pc.CalibratedProxy(moved), "OCC") != key_for(default, "OCC")


@pytest.mark.parametrize("bad", ["not a smiles", "CCO", ""])
def test_bad_smiles_raise_an_error_naming_it(bad):
    with pytest.raises(chem.LigandError, match="SMILES|first atom"):
        pc.CalibratedProxy().run(bad)


def test_unembeddable_cage_is_a_failed_result_not_a_crash():
    result = pc.CalibratedProxy().run("OC1CC23COC2C1C3")
    assert result.status == "failed" and "embed" in result.reason


def test_label_uses_published_values_where_known(tmp_path):
    published = pd.read_csv(REPO / "data/published/loprop.tsv", sep="\t")
    known = published.iloc[0]
    rows = pd.DataFrame({"corpus_row": [5, 9, 11], "smiles": ["OCC", known.smiles, "CCO"]})
    rows.to_parquet(tmp_path / "rows.parquet")
    calibrate_proxies.descriptor_table(rows.smiles.tolist()).to_parquet(tmp_path / "d.parquet")
    pub = published.iloc[:3]
    pub.to_csv(tmp_path / "pub.tsv", sep="\t", index=False)
    out = tmp_path / "labels.parquet"
    calibrate_proxies.main(
        [
            "label",
            "--descriptors",
            str(tmp_path / "d.parquet"),
            "--rows",
            str(tmp_path / "rows.parquet"),
            "--published",
            str(tmp_path / "pub.tsv"),
            "--out",
            str(out),
        ]
    )
    table = pd.read_parquet(out)
    assert len(table) == 3 + 2  # two published rows not among the input rows are added
    assert table.status.tolist()[:3] == ["ok", "ok", "failed"]  # CCO: C is not a donor
    assert table.charge[1] == known.loprop_charge and table.source[1] == "published"
    assert "published GAUSS-II" in table.method[1]
    assert table.source[0] == "calibrated" and "calibrated to OpenMolcas" in table.method[0]
    assert (table.corpus_row[3:] == -1).all()
    assert table.charge[0] == pytest.approx(pc.CalibratedProxy().compute("OCC")["charge"])


def test_shipped_labels_use_every_published_value_once():
    labels = pd.read_parquet(REPO / "data/proxy_labels_calibrated.parquet")
    base = pd.read_parquet(REPO / "data/proxy_labels.parquet")
    published = pd.read_csv(REPO / "data/published/loprop.tsv", sep="\t")
    assert labels.smiles.is_unique
    assert labels.smiles[: len(base)].tolist() == base.smiles.tolist()
    pub = labels[labels.source == "published"].set_index("smiles")
    assert len(pub) == len(published)
    canonical = [chem.ligand(s).smiles for s in published.smiles]
    np.testing.assert_array_equal(pub.loc[canonical, "charge"], published.loprop_charge)
    assert pub.method.str.contains("published GAUSS-II").all()
    calibrated = labels[labels.source == "calibrated"]
    assert calibrated.method.str.contains(f"calibration {RECORD['version']}").all()
    assert (labels.status == "ok").sum() == labels.charge.notna().sum()
