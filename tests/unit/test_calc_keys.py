"""Calculation keys are the cache identity of every stored result: they must not drift.

A key is sha256(name, version, canonical input). A refactor that changes a name, the canonical
JSON encoding or an input dict silently turns every stored result of a running campaign into a
cache miss (months of HPC time recomputed). These keys were recorded before the canonical JSON
of calculators and of the store became one function (unchanged by it); a deliberate change bumps
the calculator's version and updates its row here. The one deliberate change so far: the naming
scheme below renamed xtb-proxy, calibrated-proxy, orca_kramers, openmolcas_loprop and
kd-molcas-casscf (2026-12-02; proxy keys are not cached across runs, and the OpenMolcas KD
calculator was one day old), which changed their keys.
"""

from __future__ import annotations

import re

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
from tests.conftest import FIXTURES

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
        "7e139381d5e18ab0060a42ed5f0413474f051e5db92917ee65bc28975fc04eae",
    ),
    "calibrated": (
        CalibratedProxy,
        {},
        "468867f9f4e63ff61c612c048462d1882d9af0276e85d5e91284dfa5ee96dbf9",
    ),
    "loprop": (MolcasProxy, {}, "2449394d71a086129a9cabd1c118c12c54235475ad19e550a1358c4e8f18aefb"),
    "loprop-rdkit": (
        MolcasProxyRdkitGeometry,
        {},
        "079f5a5c125f5809d0020228af04e66521af21b8a95ae1111e9eee75f0bb8879",
    ),
    "molcas": (MolcasKD, {}, "e169f18712d3e0966d8133d0f96682d88170cd6668a304dec34e0b5bfbf50c03"),
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
    assert molcas == "2ef1304eb08f7128392ba3b6755fc4ad14c83ddccbd261fc6e06cf78fa508f11"
    orca = key_for(KramersCalculator(), CasscfJob(Geometry.of(elements, xyz), 1))
    assert orca == "19390b28b53abab9e14a2365c13b10dfa61c6a041a9d1f56b348466dd9793f98"
    mol = ase.io.read(METHOXIDE)
    job = LoPropJob(
        tuple(mol.get_chemical_symbols()), tuple(map(tuple, mol.positions.tolist())), -1, 1, 0
    )
    assert (
        key_for(OpenMolcasLoProp(), job)
        == "707b76d3cdcd677c5d361d2c9ed13d5233187a4a6cfa220a9712c360cdbf450e"
    )


# Campaign calculators: <quantity>-<program or model>[-<method>]; single program steps:
# <program>-<step>. Lower case, hyphens.
CAMPAIGN_NAME = re.compile(r"^(kd|proxy)-[a-z0-9]+(-[a-z0-9]+)*$")
STEP_NAME = re.compile(r"^(orca|openmolcas)-[a-z0-9]+(-[a-z0-9]+)*$")


def test_calculator_names_follow_one_scheme() -> None:
    names = {cls(**kwargs).name for cls, kwargs, _ in LIGAND_KEYS.values()}
    assert all(CAMPAIGN_NAME.match(n) for n in names), names
    steps = {KramersCalculator().name, OpenMolcasLoProp().name}
    assert all(STEP_NAME.match(n) for n in steps), steps
    for cls, kwargs, _ in LIGAND_KEYS.values():  # fixed per class, not a constructor argument
        with pytest.raises(TypeError):
            cls(**kwargs, name="other")
