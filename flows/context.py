"""Build a campaign's RoundContext from its spec and the settings (corpus, model, calculator).

The only place that maps spec choices (embedded | hpc calculators, execution profile) to
concrete objects, so the CLI, the Prefect flows and the tests build rounds the same way.
"""

from __future__ import annotations

import os
from collections.abc import Callable

from calculators.kd_embedded import EmbeddedKD
from campaigns.executors import Executor, LocalExecutor
from campaigns.rounds import RoundContext
from campaigns.spec import CampaignSpec, SpecError
from flows.settings import Settings
from gauss import corpus
from gauss.model import load_checkpoint
from storage.store import CampaignStore


def kd_calculator(spec: CampaignSpec, executor: Executor | None, settings: Settings):
    """The KD calculator the spec asks for; ORCA runs go through the Parsl executor's workers."""
    if spec.calculators.kd in ("embedded", "point-charge"):
        model = "calibrated" if spec.calculators.kd == "embedded" else "point-charge"
        return EmbeddedKD(relax=spec.calculators.relax, model=model)
    from calculators.base import SubprocessLauncher
    from calculators.orca.chain import OrcaKD
    from flows.parsl_exec import ParslExecutor, ParslLauncher

    if spec.calculators.kd == "molcas":
        return molcas_calculator(spec, executor, settings)
    if isinstance(executor, ParslExecutor):
        return OrcaKD(
            launcher=ParslLauncher(executor, settings.programs),
            scratch_root=executor.run_dir / "scratch",
        )
    return OrcaKD(launcher=SubprocessLauncher(settings.programs))


def task_resources(profile) -> tuple[int, int]:
    """(threads, MB of memory) per calculation: the profile's node divided among its workers."""
    from flows.profiles import LocalProfile, SlurmProfile

    if isinstance(profile, LocalProfile):
        return 1, 2000
    cores = profile.cores_per_node if isinstance(profile, SlurmProfile) else profile.cpus_per_node
    workers = profile.max_workers_per_node or cores or 1
    threads = max(1, (cores or workers) // workers)
    mem_gb = getattr(profile, "mem_per_node", None)
    return threads, int(mem_gb * 1024 * 0.8 / workers) if mem_gb else 2000 * threads


def molcas_calculator(spec: CampaignSpec, executor: Executor | None, settings: Settings):
    """OpenMolcas CASSCF/RASSI-SO KD: programs through the Parsl workers, resources per task."""
    from calculators.base import SubprocessLauncher
    from calculators.kd_molcas import MolcasKD
    from calculators.openmolcas.casscf import TEST_SETTINGS, CasscfSettings
    from calculators.openmolcas.program import MolcasResources
    from flows.parsl_exec import ParslExecutor, ParslLauncher

    chosen = TEST_SETTINGS if spec.calculators.molcas_settings == "test" else CasscfSettings()
    if isinstance(executor, ParslExecutor):
        threads, mem_mb = task_resources(executor.profile)
        return MolcasKD(
            settings=chosen,
            resources=MolcasResources(mem_mb=mem_mb, threads=threads),
            launcher=ParslLauncher(executor, settings.programs),
            scratch_root=executor.run_dir / "scratch",
        )
    return MolcasKD(settings=chosen, launcher=SubprocessLauncher(settings.programs))


def build_context(
    spec: CampaignSpec,
    settings: Settings,
    executor: Executor | None = None,
    need_model: bool = True,
    progress: Callable[[str], None] | None = None,
) -> RoundContext:
    """Load corpus and model once and wire the calculator, executor and store."""
    try:
        corpus_df = corpus.load(spec.corpus_path)
    except corpus.CorpusError as exc:
        raise SpecError(f"corpus: {exc}") from None
    model = None
    if need_model:
        try:
            model = load_checkpoint(spec.model_path)
        except FileNotFoundError as exc:
            raise SpecError(f"model: {exc}") from None
    workers = settings.workers or os.cpu_count() or 1
    ctx = RoundContext(
        spec=spec,
        store=CampaignStore(settings.store, spec.name),
        calc=kd_calculator(spec, executor, settings),
        executor=executor or LocalExecutor(workers),
        corpus=corpus_df,
        model=model,
    )
    if progress is not None:
        ctx.progress = progress
    return ctx
