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

    if isinstance(executor, ParslExecutor):
        return OrcaKD(
            launcher=ParslLauncher(executor, settings.programs),
            scratch_root=executor.run_dir / "scratch",
        )
    return OrcaKD(launcher=SubprocessLauncher(settings.programs))


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
