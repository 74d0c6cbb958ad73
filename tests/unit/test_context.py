"""Spec choices map to concrete calculators and executors (flows/context.py)."""

from calculators.base import SubprocessLauncher
from calculators.kd_embedded import EmbeddedKD
from calculators.orca.chain import OrcaKD
from campaigns.executors import LocalExecutor
from campaigns.spec import parse_spec
from flows.context import build_context
from flows.parsl_exec import ParslExecutor, ParslLauncher
from flows.settings import Settings
from tests.conftest import QM9_LIGANDS_SAMPLE


def _spec(kd):
    return parse_spec({"name": "ctx", "corpus": str(QM9_LIGANDS_SAMPLE), "calculators": {"kd": kd}})


def test_embedded_default_and_hpc_through_parsl_workers(tmp_path):
    settings = Settings(store=tmp_path, programs={"orca": "/opt/orca/orca"})
    ctx = build_context(_spec("embedded"), settings, need_model=False)
    assert isinstance(ctx.calc, EmbeddedKD) and isinstance(ctx.executor, LocalExecutor)
    ex = ParslExecutor(run_dir=tmp_path / "runinfo")  # not opened: wiring only
    hpc = build_context(_spec("hpc"), settings, executor=ex, need_model=False).calc
    assert isinstance(hpc, OrcaKD) and isinstance(hpc.launcher, ParslLauncher)
    assert hpc.launcher.executables == {"orca": "/opt/orca/orca"}
    assert hpc.scratch_root == ex.run_dir / "scratch"
    local = build_context(_spec("hpc"), settings, need_model=False).calc
    assert isinstance(local.launcher, SubprocessLauncher)
