"""Corpus build: bad sources fail clearly, builds are deterministic, every row is donor-first."""

import gzip
import json

import pandas as pd
import pytest
from rdkit import Chem

from gauss import chem, corpus
from gauss.tokenizer import Tokenizer
from tests.conftest import QM9


def test_missing_source_names_the_file(tmp_path):
    missing = tmp_path / "nope.csv.gz"
    with pytest.raises(corpus.CorpusError, match="not found: .*nope.csv.gz"):
        corpus.build(missing, tmp_path / "out.parquet")
    assert not (tmp_path / "out.parquet").exists()


def test_corrupt_gzip_names_the_file(tmp_path):
    bad = tmp_path / "bad.csv.gz"
    bad.write_bytes(b"\x1f\x8b\x08\x00garbage-not-gzip")
    with pytest.raises(corpus.CorpusError, match="bad.csv.gz is unreadable or corrupt"):
        corpus.read_source(bad)


def test_missing_column_is_named(tmp_path):
    src = tmp_path / "cols.csv"
    src.write_text("idx,smi\n1,CCO\n")
    with pytest.raises(corpus.CorpusError, match=r"lacks column\(s\) \['index', 'smiles'\]"):
        corpus.read_source(src)


def test_unparseable_rows_are_counted_not_dropped(tmp_path):
    src = tmp_path / "rows.csv"
    src.write_text("index,smiles\n1,CCO\n2,C1CC\nx,CO\n4,\n5,c1ccncc1\n")
    out = tmp_path / "lig.parquet"
    card = corpus.build(src, out, workers=1, progress=False)
    assert card.source_rows == 5
    assert card.rejected_rows == 3
    reasons = {r["line"]: r["reason"] for r in card.rejected}
    assert "invalid SMILES: 'C1CC'" in reasons[3]
    assert "bad index 'x'" in reasons[4]
    assert reasons[5] == "empty SMILES"
    df = corpus.load(out)
    assert set(df["smiles"]) == {"OCC", "[O-]CC", "n1ccccc1"}
    saved = json.loads(corpus.card_path(out).read_text())
    assert saved["rejected_rows"] == 3 and saved["rows"] == 3


def test_required_columns_and_types(qm9_head, tmp_path):
    out = tmp_path / "lig.parquet"
    corpus.build(qm9_head, out, workers=1, progress=False)
    df = pd.read_parquet(out)
    for col in ("smiles", "canonical_smiles", "donor", "charge", "qm9_index"):
        assert col in df.columns
    assert set(df["donor"]) == {"N", "O"}
    assert set(df["charge"]) == {0, -1}
    assert df["smiles"].is_unique


def test_build_is_byte_identical_across_runs_and_worker_counts(qm9_head, tmp_path):
    a, b = tmp_path / "a.parquet", tmp_path / "b.parquet"
    card_a = corpus.build(qm9_head, a, workers=1, progress=False)
    card_b = corpus.build(qm9_head, b, workers=2, progress=False)
    assert a.read_bytes() == b.read_bytes()
    assert card_a.table_sha256 == card_b.table_sha256


def test_is_current_tracks_source_and_table(qm9_head, tmp_path):
    out = tmp_path / "lig.parquet"
    assert not corpus.is_current(qm9_head, out)
    corpus.build(qm9_head, out, workers=1, progress=False)
    assert corpus.is_current(qm9_head, out)
    other = tmp_path / "other.csv.gz"
    with gzip.open(other, "wt") as fh:
        fh.write("index,smiles\n1,CCO\n")
    assert not corpus.is_current(other, out)


def _check_row(row) -> str | None:
    mol = Chem.MolFromSmiles(row.smiles)
    if mol is None:
        return "does not parse"
    first = mol.GetAtomWithIdx(0)
    if first.GetSymbol() != row.donor or row.donor not in ("N", "O"):
        return f"first atom {first.GetSymbol()} != donor {row.donor}"
    if Chem.GetFormalCharge(mol) != row.charge:
        return "net charge differs"
    if row.charge == -1 and first.GetFormalCharge() != -1:
        return "anion whose donor is not the charged atom"
    if not chem.can_donate(first):
        return "donor has no available lone pair"
    if chem.rooted_smiles(mol, 0) != row.smiles:
        return "not canonical under the donor-first constraint"
    if chem.kekule_canonical(mol) != row.canonical_smiles:
        return "canonical_smiles mismatch"
    return None


@pytest.mark.slow
def test_full_corpus_round_trips_donor_first(tmp_path_factory):
    """Build the whole corpus from the shipped QM9 file and check every row."""
    out = tmp_path_factory.mktemp("full") / "ligands.parquet"
    card = corpus.build(QM9, out, progress=False)
    df = corpus.load(out)
    assert card.rejected_rows == 0
    assert len(df) == card.rows > 200_000
    assert df["smiles"].is_unique
    bad = [(r.smiles, why) for r in df.itertuples() if (why := _check_row(r))]
    assert bad == []
    smiles = df["smiles"].tolist()
    for mode in ("regex", "char"):  # both tokenizers take every corpus ligand and give it back
        vocab = Tokenizer.fit(smiles, mode)
        assert vocab.decode_batch(vocab.encode_batch(smiles)) == smiles, mode
