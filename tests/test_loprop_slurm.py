"""A real OpenMolcas LoProp calculation inside a real Slurm job, through Parsl.

MolcasProxy writes the input and parses the output here (the orchestrator); pymolcas runs as a
Parsl bash app on a worker of a Slurm block of the project's single-node cluster
(scripts/slurm-local, brought up by the `slurm` fixture in conftest). Tiny settings (methoxide,
PBE/ANO-R0, RICD) still run every module: GATEWAY, SEWARD, SCF and LoProp with its
finite-field polarizabilities. Skips when pymolcas is missing or Slurm cannot be brought up.
"""

from pathlib import Path

import pytest

from calculators.openmolcas import LoPropSettings, molcas_available
from calculators.openmolcas import program as molcas_program
from tests.slurm_cluster import run_molcas_in_a_slurm_job

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
