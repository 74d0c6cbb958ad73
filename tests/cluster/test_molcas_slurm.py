"""Real OpenMolcas calculations (LoProp, CASSCF/RASSI-SO) inside real Slurm jobs, through Parsl.

The calculators write inputs and parse outputs here (the orchestrator); pymolcas runs as a
Parsl bash app on a worker of a Slurm block of the project's single-node cluster
(scripts/slurm-local, brought up by the `slurm` fixture in conftest). Tiny settings still run
every module: LoProp on methoxide at PBE/ANO-R0 (GATEWAY, SEWARD, SCF, LoProp with its
finite-field polarizabilities), and the KD chain on [Dy(H2O)5(OH)2]+ at the test settings.
Skips when pymolcas is missing or Slurm cannot be brought up.
"""

import gzip
from pathlib import Path

import pytest

from calculators.kd_molcas import MolcasKD
from calculators.openmolcas import LoPropSettings, molcas_available
from calculators.openmolcas import program as molcas_program
from calculators.openmolcas.casscf import TEST_SETTINGS, parse_output
from tests.conftest import FIXTURES
from tests.slurm_cluster import run_molcas_in_a_slurm_job

KD_LOG = FIXTURES / "openmolcas_kd" / "oh_mb_sextets.log.gz"  # the same run, made here

pytestmark = [
    pytest.mark.cluster,
    pytest.mark.molcas,
    pytest.mark.integration,
    pytest.mark.skipif(not molcas_available(), reason=molcas_program.unavailable_reason()),
]


def test_real_loprop_runs_inside_a_slurm_job(slurm, tmp_path):
    from calculators.proxy_molcas import MolcasProxy

    result = run_molcas_in_a_slurm_job(
        MolcasProxy, LoPropSettings(basis="ANO-R0"), "[O-]C", tmp_path
    )
    assert result.values["atomic_number"] == 8 and result.values["label"] == "O1"
    assert -1.0 < result.values["charge"] < 0.0 and result.values["dipole"] > 0.0
    assert result.method.startswith(f"OpenMolcas {result.program_versions['openmolcas']} ")
    workdir = Path(result.workdir)
    log = (workdir / "loprop.log").read_text()
    for module in ("gateway", "seward", "scf", "loprop"):
        assert f"--- Stop Module: {module} " in log
    assert f"Scratch area: {workdir.resolve() / 'molcas_scratch' / 'loprop'}" in log


def test_real_kd_calculation_runs_inside_a_slurm_job(slurm, tmp_path):
    """Test settings on [Dy(H2O)5(OH)2]+: the geometry step and parsing run here, pymolcas
    runs as a Parsl bash app in a Slurm block of the single-node cluster (scripts/slurm-local)."""
    result = run_molcas_in_a_slurm_job(MolcasKD, TEST_SETTINGS, "[OH-]", tmp_path)
    with gzip.open(KD_LOG, "rt") as fh:
        stored = parse_output(fh.read(), TEST_SETTINGS)
    assert result.values["kd_energies"] == pytest.approx(stored["kd_energies"], abs=0.5)
    workdir = Path(result.workdir)
    text = (workdir / "casscf" / "kd.log").read_text()
    assert f"Scratch area: {workdir.resolve() / 'casscf' / 'molcas_scratch' / 'kd'}" in text
