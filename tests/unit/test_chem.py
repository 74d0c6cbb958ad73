"""Curation rules on hand-picked molecules: which atoms bind, and as which species."""

import pytest

from gauss import chem


def species(smiles: str) -> tuple[set[str], set[str]]:
    mol = chem.strip_stereo(chem.parse(smiles))
    neutral = {lig.smiles for lig in chem.neutral_ligands(mol)}
    anions = {lig.smiles for lig, _ in chem.anion_ligands(mol)}
    return neutral, anions


def test_ethanol_gives_neutral_o_donor_and_ethoxide():
    assert species("CCO") == ({"OCC"}, {"[O-]CC"})


def test_pyridine_is_an_n_donor_without_anion():
    assert species("c1ccncc1") == ({"n1ccccc1"}, set())


def test_acetamide_gives_both_neutral_donors_and_amidate_imidate_anions():
    neutral, anions = species("CC(N)=O")
    assert neutral == {"NC(C)=O", "O=C(C)N"}
    assert "[NH-]C(C)=O" in anions  # N-bound amidate
    assert "[O-]C(C)=N" in anions  # O-bound imidate, [O-]C(=N)C
    for smi in anions:
        lig = chem.ligand(smi)
        assert lig.charge == -1 and lig.donor_charge == -1 and lig.donor in ("N", "O")


def test_molecule_without_n_or_o_gives_nothing():
    assert species("CC") == (set(), set())
    assert species("C#CC=C") == (set(), set())


def test_ketone_gives_enolate():
    neutral, anions = species("CC(C)=O")
    assert neutral == {"O=C(C)C"}
    assert anions == {"[O-]C(=C)C"}


def test_pyrrole_n_has_no_lone_pair_but_pyrrolide_binds():
    assert species("c1cc[nH]c1") == (set(), {"[n-]1cccc1"})


def test_azolide_charge_is_shared_by_ring_nitrogens():
    _, anions = species("Cc1c[nH]cn1")
    assert anions == {"[n-]1cnc(C)c1", "[n-]1cncc1C"}


def test_hydroxypyridine_is_ambidentate_after_deprotonation():
    _, anions = species("Oc1ccncc1")
    assert anions == {"[O-]c1ccncc1", "[n-]1ccc(=O)cc1"}


def test_ammonium_and_alkyl_c_h_do_not_make_donors():
    neutral, anions = species("[NH3+]CCC([O-])=O")
    assert all(not s.startswith("[NH3+]") for s in neutral)
    # only deprotonating the ammonium gives a single-centre anion (the carboxylate O)
    assert anions == {"[O-]C(=O)CCN"}


def test_symmetric_donors_collapse_to_one_row():
    neutral, anions = species("CC(=O)O")
    assert neutral == {"OC(C)=O", "O=C(C)O"}
    assert "[O-]C(C)=O" in anions


def test_ligand_validation_names_the_value():
    with pytest.raises(chem.LigandError, match="invalid SMILES: 'C1CC'"):
        chem.ligand("C1CC")
    with pytest.raises(chem.LigandError, match=r"first atom of 'CCO' is 'C'"):
        chem.ligand("CCO")
    with pytest.raises(chem.LigandError, match="no lone pair"):
        chem.ligand("[NH4+]")
    with pytest.raises(chem.LigandError, match="empty"):
        chem.ligand("  ")


def test_ligand_canonicalises_donor_first_and_drops_stereo():
    a = chem.ligand("O[C@@H](C)CC")
    b = chem.ligand("OC(CC)C")
    assert a == b
    assert a.smiles.startswith("O") and a.donor == "O" and a.charge == 0
    assert a.canonical_smiles == chem.kekule_canonical(chem.parse("CCC(C)O"))


def test_kekulized_canonical_is_aromaticity_independent():
    assert chem.kekule_canonical(chem.parse("c1ccncc1")) == chem.kekule_canonical(
        chem.parse("C1=CC=NC=C1")
    )
