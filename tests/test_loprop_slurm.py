"""A real OpenMolcas LoProp calculation inside a real Slurm job, through Parsl.

MolcasProxy writes the input and parses the output here (the orchestrator); pymolcas runs as a
Parsl bash app on a worker of a Slurm block of the project's single-node cluster
(scripts/slurm-local, brought up by the `slurm` fixture in conftest). Tiny settings (methoxide,
PBE/ANO-R0, RICD) still run every module: GATEWAY, SEWARD, SCF and LoProp with its
finite-field polarizabilities. Skips when pymolcas is missing or Slurm cannot be brought up.
"""

from pathlib import Path

import pytest

from calculators.openmolcas import LoPropSettings, MolcasResources, molcas_available
from calculators.openmolcas import program as molcas_program
from tests.slurm_cluster import _jobcomp_records, local_slurm, slurm_node

pytestmark = [
    pytest.mark.cluster,
    pytest.mark.molcas,
    pytest.mark.integration,
    pytest.mark.skipif(not molcas_available(), reason=molcas_program.unavailable_reason()),
]


def test_real_loprop_runs_inside_a_slurm_job(slurm, tmp_path):
    from calculators.proxy_molcas import MolcasProxy
    from flows.execution import venv_bin_on_path
    from flows.parsl_exec import ParslExecutor, ParslLauncher

    venv_bin_on_path()  # puts the venv's python3 first on PATH: pymolcas must not pick it
    before = {r["JobId"] for r in _jobcomp_records()}
    with ParslExecutor(local_slurm(), tmp_path / "runinfo") as ex:
        calc = MolcasProxy(
            settings=LoPropSettings(basis="ANO-R0"),
            launcher=ParslLauncher(ex),
            resources=MolcasResources(mem_mb=1000, threads=1),
            scratch_root=ex.run_dir / "scratch",
        )
        [result] = list(ex.map(calc, ["[O-]C"]))
        blocks = ex.block_jobs()
    assert result.ok, result.reason
    assert result.values["atomic_number"] == 8 and result.values["label"] == "O1"
    assert -1.0 < result.values["charge"] < 0.0 and result.values["dipole"] > 0.0
    assert result.method.startswith(f"OpenMolcas {result.program_versions['openmolcas']} ")
    # it ran in a block of this executor, on the cluster's node, and Slurm recorded the job
    assert result.job_id in blocks and result.node == slurm_node()
    assert set(blocks) <= {r["JobId"] for r in _jobcomp_records()} - before
    workdir = Path(result.workdir)
    assert workdir.is_relative_to(tmp_path / "runinfo" / "scratch")
    log = (workdir / "loprop.log").read_text()
    for module in ("gateway", "seward", "scf", "loprop"):
        assert f"--- Stop Module: {module} " in log
    assert f"Scratch area: {workdir.resolve() / 'molcas_scratch' / 'loprop'}" in log
