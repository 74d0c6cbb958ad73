"""Calculation keys are the cache identity of every stored result: they must not drift.

A key is sha256(name, version, canonical input). A refactor that changes a name, the canonical
JSON encoding or an input dict silently turns every stored result of a running campaign into a
cache miss (months of HPC time recomputed). These keys were recorded before the canonical JSON
of calculators and of the store became one function; a deliberate change bumps the calculator's
version and updates its row here.
"""

from __future__ import annotations

from pathlib import Path

import ase.io
import pytest

from calculators.base import calculation_key, key_for
from calculators.kd_embedded import EmbeddedKD
from calculators.kd_molcas import MolcasKD, make_job, read_xyz
from calculators.openmolcas.loprop import LoPropJob, OpenMolcasLoProp
from calculators.orca.chain import OrcaKD
from calculators.orca.inputs import CasscfJob, Geometry
from calculators.orca.templates import KramersCalculator
from calculators.proxy_calibrated import CalibratedProxy
from calculators.proxy_molcas import MolcasProxy, MolcasProxyRdkitGeometry
from calculators.proxy_xtb import XtbProxyCalculator

FIXTURES = Path(__file__).resolve().parent / "fixtures"
COMPLEX = FIXTURES / "openmolcas_kd" / "dy_h2o5_ome2_gfn2_alpb.xyz"
METHOXIDE = FIXTURES / "openmolcas" / "real_methoxide.xyz"

LIGAND_KEYS = {
    "embedded-calibrated": (
        EmbeddedKD,
        {},
        "e06729d609f24c1e6dd75798c1bace97a9a409fd9711557abc358cf2d980c0a9",
    ),
    "embedded-point-charge": (
        EmbeddedKD,
        {"model": "point-charge"},
        "e5d62debc511c5a0342abf0111221d210abc0496051a6a3d407e7f5ed1ebd0eb",
    ),
    "xtb": (
        XtbProxyCalculator,
        {},
        "14908ecced534dbccecbb523e792b2885ba930c3fdb7bfd94f9703b3b0d3fb06",
    ),
    "calibrated": (
        CalibratedProxy,
        {},
        "cbe1df1c0fb73fe50f512e87bbeaf37cd6ecafe7dfbca0489d800a7dd819fc35",
    ),
    "loprop": (MolcasProxy, {}, "2449394d71a086129a9cabd1c118c12c54235475ad19e550a1358c4e8f18aefb"),
    "loprop-rdkit": (
        MolcasProxyRdkitGeometry,
        {},
        "079f5a5c125f5809d0020228af04e66521af21b8a95ae1111e9eee75f0bb8879",
    ),
    "molcas": (MolcasKD, {}, "e7f272eed347fa9a648371f895f3138147232be3b802da1ead414b3f34978e92"),
    "orca": (OrcaKD, {}, "ed49a2d00293d9dcded28e2084ebd1f147eba54b97ea5f6e51cf22c907b1b822"),
}


@pytest.mark.parametrize("case", sorted(LIGAND_KEYS))
def test_ligand_calculator_keys_are_stable(case: str) -> None:
    cls, kwargs, expected = LIGAND_KEYS[case]
    assert key_for(cls(**kwargs), "[O-]C") == expected


def test_equivalent_smiles_share_a_key() -> None:
    calc = XtbProxyCalculator()
    assert key_for(calc, "[O-][CH3]") == key_for(calc, "[O-]C")


def test_geometry_calculator_keys_are_stable() -> None:
    elements, xyz = read_xyz(COMPLEX)
    kd = MolcasKD()
    molcas = calculation_key(kd.name, kd.version, kd.geometry_input(make_job(elements, xyz, 1)))
    assert molcas == "7ca1b32a32c07996f3ee97d09a4804debe2d82d153f4fb4bd3b692be5252e5b2"
    orca = key_for(KramersCalculator(), CasscfJob(Geometry.of(elements, xyz), 1))
    assert orca == "06d6aa25f8b835a91906a7b7fdcb5dce085906758ff3cc18135fcdd0cb5f0227"
    mol = ase.io.read(METHOXIDE)
    job = LoPropJob(
        tuple(mol.get_chemical_symbols()), tuple(map(tuple, mol.positions.tolist())), -1, 1, 0
    )
    assert (
        key_for(OpenMolcasLoProp(), job)
        == "e10b0a4dbc127978738ff942d5dd97df0ecc99f005c2d3d1904a985a63d2e30b"
    )
