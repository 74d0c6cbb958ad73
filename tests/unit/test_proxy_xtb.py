"""The xTB/D4 proxy labeller: chemistry sanity, determinism, failure handling, batch order."""

import os

os.environ["OMP_NUM_THREADS"] = "1"  # before tblite loads libgomp (calculators/proxy_xtb.py)

import re  # noqa: E402

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pyarrow.parquet as pq  # noqa: E402
import pytest  # noqa: E402

from calculators import proxy_xtb  # noqa: E402
from calculators.base import key_for  # noqa: E402
from gauss import chem  # noqa: E402

ETHOXIDE, ETHANOL, PYRIDINE, ACETATE = "[O-]CC", "OCC", "n1ccccc1", "[O-]C(C)=O"


def test_ethoxide_oxygen_more_negative_than_ethanol():
    anion = proxy_xtb.proxy_properties(ETHOXIDE)
    neutral = proxy_xtb.proxy_properties(ETHANOL)
    assert anion["charge"] < neutral["charge"] - 0.2
    assert anion["charge_eeq"] < neutral["charge_eeq"]
    assert anion["atomic_number"] == neutral["atomic_number"] == 8


def test_pyridine_nitrogen_is_negative_with_sane_magnitudes():
    props = proxy_xtb.proxy_properties(PYRIDINE)
    assert props["atomic_number"] == 7
    assert -1.0 < props["charge"] < 0.0
    assert 0.0 < props["dipole"] < 1.0
    assert 3.0 < props["polarizability"] < 20.0


def test_same_numbers_on_repeat_and_for_another_spelling():
    first = proxy_xtb.proxy_properties("OC(C)c1ccccc1")
    assert proxy_xtb.proxy_properties("OC(C)c1ccccc1") == first
    assert proxy_xtb.proxy_properties("O[C@H](C)c1ccccc1") == first  # stereo is ignored


def test_anion_charges_sum_to_minus_one_and_donor_stays_first():
    lig = chem.ligand(ACETATE)
    numbers, positions = proxy_xtb.ligand_geometry(lig)
    charges, _ = proxy_xtb.xtb_atomic(numbers, positions, lig.charge, lig.smiles)
    assert numbers[0] == 8 and numbers[-1] == 1
    assert charges.sum() == pytest.approx(-1.0, abs=1e-6)
    assert charges[0] == pytest.approx(proxy_xtb.proxy_properties(ACETATE)["charge"])


@pytest.mark.parametrize("bad", ["N1CC", "CCO", ""])
def test_invalid_ligand_raises_ligand_error_naming_it(bad):
    with pytest.raises(chem.LigandError, match=re.escape(repr(bad))):
        proxy_xtb.proxy_properties(bad)


def test_shell_metacharacters_are_plain_text():
    props = proxy_xtb.proxy_properties("[O-]C(=O)/C=C\\C#N")
    assert props["atomic_number"] == 8 and props["charge"] < 0
    hostile = "O;touch /tmp/proxy_xtb_pwned|$(id)&`id`"
    with pytest.raises(chem.LigandError, match=re.escape(repr(hostile))):
        proxy_xtb.proxy_properties(hostile)
    assert not os.path.exists("/tmp/proxy_xtb_pwned")


def test_calculator_result_names_the_embedded_method():
    calc = proxy_xtb.XtbProxyCalculator()
    result = calc.run(PYRIDINE)
    assert result.ok and result.calculator == "proxy-xtb"
    assert "GFN2-xTB" in result.method and "embedded" in result.method
    assert result.values == proxy_xtb.proxy_properties(PYRIDINE)
    assert result.units["dipole"] == "e*bohr" and result.units["polarizability"] == "bohr^3"
    assert result.program_versions["tblite"] == proxy_xtb.PROGRAM_VERSIONS["tblite"]


def test_cache_key_follows_the_ligand_and_the_settings():
    calc = proxy_xtb.XtbProxyCalculator()
    assert key_for(calc, "OCC") == key_for(calc, "O(CC)")
    assert key_for(calc, "OCC") != key_for(calc, ETHOXIDE)
    assert key_for(calc, "OCC") != key_for(proxy_xtb.XtbProxyCalculator(50), "OCC")


def test_unconverged_scf_is_a_failed_result_with_reason():
    result = proxy_xtb.XtbProxyCalculator(max_scf_iterations=2).run("[O-]c1ccccc1")
    assert result.status == "failed" and result.failure_kind == "chemistry"
    assert "SCF not converged" in result.reason and "[O-]c1ccccc1" in result.reason


def test_sloshing_scf_is_rescued_with_the_same_solution():
    sloshing = "[O-]C1C=C(C)C(C=O)C1"  # needs >250 cycles at tblite's default mixing
    lig = chem.ligand(sloshing)
    numbers, positions = proxy_xtb.ligand_geometry(lig)
    reference, _ = proxy_xtb.xtb_atomic(numbers, positions, -1, sloshing, max_scf=2000)
    result = proxy_xtb.XtbProxyCalculator().run(sloshing)
    assert result.ok
    assert result.values["charge"] == pytest.approx(reference[0], abs=1e-3)


def test_open_shell_ligand_is_refused_as_input():
    result = proxy_xtb.XtbProxyCalculator().run("[O]C")
    assert result.status == "failed" and result.failure_kind == "input"
    assert "odd electron count" in result.reason


def test_label_many_keeps_order_and_marks_bad_rows():
    smiles = [ETHOXIDE, "N1CC", PYRIDINE, "CCO", ETHANOL]
    rows = proxy_xtb.label_many(smiles, workers=2, progress=False)
    assert [r["smiles"] for r in rows] == smiles
    assert [r["status"] for r in rows] == ["ok", "failed", "ok", "failed", "ok"]
    assert "'N1CC'" in rows[1]["reason"] and rows[1]["charge"] is None
    assert "'CCO'" in rows[3]["reason"]
    for row, smi in zip(rows, smiles, strict=True):
        if row["status"] == "ok":  # worker processes give the in-process numbers
            assert row["charge"] == proxy_xtb.proxy_properties(smi)["charge"]


def test_corpus_sample_table_is_reproducible(tmp_path):
    corpus = tmp_path / "corpus.parquet"
    pd.DataFrame({"smiles": [ETHANOL, ETHOXIDE, PYRIDINE, ACETATE, "N", "[OH-]"]}).to_parquet(
        corpus
    )
    first = proxy_xtb.label_corpus_sample(corpus, 4, tmp_path / "a.parquet", 7, 1, False)
    proxy_xtb.label_corpus_sample(corpus, 4, tmp_path / "b.parquet", 7, 1, False)
    table = pq.read_table(tmp_path / "a.parquet")
    assert table.schema.equals(proxy_xtb.TABLE_SCHEMA)
    assert table.equals(pq.read_table(tmp_path / "b.parquet"))
    assert list(first.status) == ["ok"] * 4
    assert np.all(np.diff(first.corpus_row) > 0)
    assert set(first.atomic_number) <= {7, 8}
