"""The real OpenMolcas 22.10 program at small settings: LoProp (H2O, PBE/ANO-R0) and the Dy
CASSCF(9,7)/RASSI-SO/SINGLE_ANISO chain ([Dy(H2O)5(OH)2]+, ANO-RCC-MB, 21 sextets).

Each run is compared with the stored output of the same run made here (tests/fixtures/
openmolcas*/README.md), and the failure paths run for real too. Skips when pymolcas is missing.
"""

import dataclasses
import gzip
import json

import pytest

from calculators.kd_molcas import MolcasKD, read_xyz
from calculators.openmolcas import (
    LoPropSettings,
    MolcasResources,
    OpenMolcasLoProp,
    atom_proxy,
    molcas_available,
    parse_localized_properties,
)
from calculators.openmolcas import program as molcas_program
from calculators.openmolcas.casscf import TEST_SETTINGS, parse_output
from tests.conftest import FIXTURES
from tests.doubles import H2O_SETTINGS, h2o_job

pytestmark = [
    pytest.mark.molcas,
    pytest.mark.skipif(not molcas_available(), reason=molcas_program.unavailable_reason()),
]

H2O_LOG = FIXTURES / "openmolcas" / "real_h2o_pbe_ano-r0_loprop.log"
OH_XYZ = FIXTURES / "openmolcas_kd" / "dy_h2o5_oh2_gfn2_alpb.xyz"
KD_LOG = FIXTURES / "openmolcas_kd" / "oh_mb_sextets.log.gz"


def test_real_loprop_run_reproduces_the_stored_output(tmp_path):
    """GATEWAY (RICD) / SEWARD / SCF (PBE) / LOPROP with the finite-field polarizabilities,
    H2O at ANO-R0: seconds on an idle core, the same numbers as the stored real output."""
    calc = OpenMolcasLoProp(H2O_SETTINGS, resources=MolcasResources(mem_mb=1000, threads=1))
    result = calc.run(h2o_job(), tmp_path / "h2o")
    assert result.ok, result.reason
    stored = atom_proxy(parse_localized_properties(H2O_LOG.read_text()), 0)
    assert result.values["charge"] == pytest.approx(stored.charge, abs=1e-5)
    assert result.values["dipole"] == pytest.approx(stored.dipole, abs=1e-5)
    assert result.values["polarizability"] == pytest.approx(stored.polarizability, abs=1e-4)
    assert result.program_versions["openmolcas"].startswith("v")
    assert result.method.startswith(f"OpenMolcas {result.program_versions['openmolcas']} ")
    log = (tmp_path / "h2o" / "loprop.log").read_text()
    for module in ("gateway", "seward", "scf", "loprop"):
        assert f"--- Stop Module: {module} " in log
    assert "Isotropic Polarizability" in log
    assert not any((tmp_path / "h2o" / "molcas_scratch").rglob("*.RunFile"))  # scratch cleaned


def test_real_scf_that_does_not_converge_gives_a_failed_row(tmp_path):
    settings = LoPropSettings(basis="ANO-R0", scf_iterations=3)
    result = OpenMolcasLoProp(settings, resources=MolcasResources(1000, 1)).run(
        h2o_job(), tmp_path / "w"
    )
    assert (result.status, result.failure_kind) == ("failed", "chemistry")
    assert "SCF not converged" in result.reason and result.reason.startswith("pymolcas exited")
    assert "Iterations = 3" in (tmp_path / "w" / "loprop.input").read_text()
    assert json.loads((tmp_path / "w" / "loprop.job.json").read_text())["charge"] == 0


def test_real_run_at_test_settings_reproduces_the_stored_output(tmp_path):
    """GATEWAY/SEWARD/RASSCF/RASSI/SINGLE_ANISO on [Dy(H2O)5(OH)2]+, ANO-RCC-MB: ~1-2 min."""
    calc = MolcasKD(settings=TEST_SETTINGS, resources=MolcasResources(1000, 1))
    elements, xyz = read_xyz(OH_XYZ)
    result = calc.run_geometry(elements, xyz, 1, workdir=tmp_path / "w")
    assert result.ok, result.reason
    with gzip.open(KD_LOG, "rt") as fh:
        stored = parse_output(fh.read(), TEST_SETTINGS)
    assert result.values["kd_energies"] == pytest.approx(stored["kd_energies"], abs=0.5)
    assert result.values["g_ground"] == pytest.approx(stored["g_ground"], abs=1e-3)
    assert not any((tmp_path / "w" / "casscf" / "molcas_scratch").rglob("*.RunFile"))


def test_real_rasscf_iteration_limit_gives_a_failed_row(tmp_path):
    settings = dataclasses.replace(TEST_SETTINGS, max_iterations=3)
    elements, xyz = read_xyz(OH_XYZ)
    result = MolcasKD(settings=settings).run_geometry(elements, xyz, 1, workdir=tmp_path / "w")
    assert (result.status, result.failure_kind) == ("failed", "chemistry")
    assert result.reason.endswith("RASSCF (CASSCF) did not converge after 3 iterations")
