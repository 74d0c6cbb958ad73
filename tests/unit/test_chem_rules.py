"""Structural rules on sampled ligands: each rule strikes what it names and nothing else."""

import pytest

from gauss import chem
from gauss.chem_rules import StructureRules, violations


@pytest.mark.parametrize(
    ("smiles", "broken"),
    [
        ("[O-]C1C(C)CCC1[NH3+]", ["remote_charge"]),  # zwitterion seen in a demo round
        ("[O-]CC12CCC1(OO)C2", ["peroxide"]),  # hydroperoxide seen in a demo round
        ("[O-]CCC1(C)OOC1C", ["peroxide"]),  # cyclic peroxide seen in a demo round
        ("N1OC1C", ["small_ring_heteroatoms"]),  # oxaziridine
        ("[O-]CC[CH2]", ["radical"]),
        ("[O-]CC", []),
        ("n1ccccc1", []),
        ("ON=C(C)C", []),  # oximes (N-O single bond) are fine ligands
        ("[O-]C(=O)C#N", []),
    ],
)
def test_rules_strike_what_they_name(smiles, broken):
    assert violations(chem.parse(smiles), StructureRules()) == broken


def test_switched_off_rules_let_the_ligand_through():
    mol = chem.parse("[O-]CCC1(C)OOC1C")
    assert violations(mol, StructureRules(peroxide=False)) == []
    assert StructureRules(peroxide=False).enabled() == [
        "remote_charge",
        "radical",
        "small_ring_heteroatoms",
    ]
