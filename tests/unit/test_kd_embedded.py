"""Embedded KD chain (assembly -> xTB charges -> crystal field) and the `gauss calc` verbs."""

import os
import shutil
import subprocess

import pandas as pd
import pytest

os.environ.setdefault("OMP_NUM_THREADS", "1")

from calculators.base import key_for  # noqa: E402
from calculators.kd_embedded import EmbeddedKD  # noqa: E402
from gauss.chem import LigandError  # noqa: E402


def test_alkoxide_is_more_axial_than_its_alcohol():
    calc = EmbeddedKD(model="point-charge")
    ethoxide, ethanol = calc.run("[O-]CC"), calc.run("OCC")
    assert ethoxide.ok and ethanol.ok
    assert ethoxide.values["gap_1"] > 3 * ethanol.values["gap_1"]
    gaps = [ethoxide.values[f"gap_{i}"] for i in range(1, 8)]
    assert gaps == sorted(gaps) and gaps[0] > 0
    assert ethoxide.values["g_ground"][2] == pytest.approx(20.0, abs=0.05)  # |15/2> ground KD
    assert ethoxide.values["donor_z"] == 8
    assert "not CASSCF" in ethoxide.method and "crystal field" in ethoxide.method


def test_keys_follow_name_version_and_inputs_only():
    calc = EmbeddedKD()
    assert key_for(calc, "[O-]CC") == key_for(calc, "[O-]C([H])C")  # same ligand, other spelling
    plain = EmbeddedKD(model="point-charge")
    assert key_for(calc, "[O-]CC") != key_for(plain, "[O-]CC")
    assert key_for(plain, "[O-]CC") != key_for(
        EmbeddedKD(model="point-charge", relax=True), "[O-]CC"
    )
    assert calc.canonical_input("[O-]CC")["calibration_sha256"] == calc.calibration.sha256
    assert EmbeddedKD.version == "2" and EmbeddedKD.name == "kd-crystal-field"


def test_model_choice_is_validated():
    with pytest.raises(ValueError, match="'tight-binding'"):
        EmbeddedKD(model="tight-binding")
    with pytest.raises(ValueError, match="relax=True"):
        EmbeddedKD(model="calibrated", relax=True)
    assert EmbeddedKD(relax=True).model == "point-charge"  # as flows/context.py builds it
    assert EmbeddedKD().model == "calibrated"
    assert "trained on" in EmbeddedKD().method
    assert "trained on" not in EmbeddedKD(model="point-charge").method


def test_bad_input_is_an_error_naming_the_value():
    with pytest.raises(LigandError, match="'C1CC'"):
        EmbeddedKD().run("C1CC")
    with pytest.raises(LigandError, match="first atom of 'CCO'"):
        EmbeddedKD().run("CCO")


def _gauss(*args, cwd):
    exe = shutil.which("gauss")
    assert exe
    return subprocess.run([exe, *args], capture_output=True, text=True, timeout=300, cwd=cwd)


def test_batch_kd_keeps_failed_rows_in_place(tmp_path):
    src = tmp_path / "in.csv"
    src.write_text('smiles\n[O-]CC\nC1CC\nCCO\n"[O-]C(=O)C#N"\n')
    out = tmp_path / "out.parquet"
    res = _gauss("calc", "kd", "--in", str(src), "--out", str(out), "--workers", "1", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    df = pd.read_parquet(out)
    assert list(df["smiles"]) == ["[O-]CC", "C1CC", "CCO", "[O-]C(=O)C#N"]
    assert list(df["status"]) == ["ok", "failed", "failed", "ok"]
    assert "invalid SMILES" in df.loc[1, "reason"] and "first atom" in df.loc[2, "reason"]
    assert {f"gap_{i}" for i in range(1, 8)} <= set(df.columns)
    assert df["method"].str.contains("crystal field").all()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.csv", "out.parquet"]


def test_cli_single_smiles_errors_and_assemble(tmp_path):
    bad = _gauss("calc", "kd", "CCO", cwd=tmp_path)
    assert bad.returncode == 3 and "first atom of 'CCO'" in bad.stderr  # bad input
    xyz = _gauss("calc", "assemble", "[O-]CC", cwd=tmp_path)
    assert xyz.returncode == 0, xyz.stderr
    lines = xyz.stdout.splitlines()
    assert int(lines[0]) == len(lines) - 2 and lines[2].split()[0] in ("Dy", "O", "H", "C")
    assert '"angle"' in xyz.stderr or "angle" in xyz.stderr
