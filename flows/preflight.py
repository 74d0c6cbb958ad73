"""Check everything a campaign needs before its first calculation, and say every problem at once.

A spec whose model does not exist used to compute and commit round 0 (days of CASSCF on HPC)
and only then fail in round 1. Here corpus, model, initial set, calculators and their
programs, execution profile and budgets are checked up front; each problem is one line.
"""

from __future__ import annotations

import shutil

from campaigns.spec import CampaignSpec, SpecError
from flows.settings import Settings


def _corpus(spec: CampaignSpec) -> list[str]:
    from gauss import corpus

    try:
        corpus.load(spec.corpus_path)
    except corpus.CorpusError as exc:
        return [f"corpus: {exc} (build it with `gauss corpus build`)"]
    return []


def _model(spec: CampaignSpec) -> list[str]:
    from gauss.model import load_checkpoint

    try:
        load_checkpoint(spec.model_path)
    except (FileNotFoundError, ValueError, RuntimeError) as exc:
        return [f"model: {exc}"]
    return []


def _initial_set(spec: CampaignSpec) -> list[str]:
    if spec.initial_set is None:
        return []
    if spec.initial_set == "published":
        from campaigns import published

        try:
            published.published_kd()
        except published.PublishedDataError as exc:
            return [f"initial_set: {exc}"]
        return []
    if not spec.resolve(spec.initial_set).is_file():
        return [f"initial_set: file not found: {spec.initial_set}"]
    return []


def _program(name: str, settings: Settings) -> list[str]:
    exe = settings.programs.get(name, name)
    if shutil.which(exe) is None:
        return [
            f"calculators: program {name!r} not found ({exe}); install it or set "
            f"GAUSS_PROGRAMS / the settings' programs.{name} to its path"
        ]
    return []


def _calculators(spec: CampaignSpec, settings: Settings) -> list[str]:
    kd = spec.calculators.kd
    if kd in ("embedded", "point-charge"):
        from calculators.kd_embedded import EmbeddedKD

        try:  # the method string reads the calibration artifact (its training record)
            described = EmbeddedKD(model="calibrated" if kd == "embedded" else "point-charge")
            return [] if described.method else ["calculators.kd: the embedded KD has no method"]
        except (FileNotFoundError, ValueError) as exc:
            return [f"calculators.kd: {exc}"]
    if kd == "molcas":
        return _program("pymolcas", settings)
    return _program("orca", settings)


def _profile(spec: CampaignSpec, settings: Settings) -> list[str]:
    from flows.profiles import ProfileError, load_profiles_file

    if settings.executor == "process":
        return []
    if settings.profiles is None:
        if spec.profile == "local":
            return []
        return [
            f"profile: {spec.profile!r} needs its settings: point GAUSS_PROFILES at a profiles "
            "YAML (see examples/profiles.yaml)"
        ]
    try:
        load_profiles_file(settings.profiles, spec.profile)
    except (ProfileError, OSError) as exc:
        return [f"profile: {exc}"]
    return []


def _budgets(spec: CampaignSpec) -> list[str]:
    problems = []
    if spec.budget.per_round > spec.budget.total:
        problems.append(
            f"budget: per_round {spec.budget.per_round} exceeds total {spec.budget.total}"
        )
    if spec.initial_set != "published" and spec.initial_size > spec.budget.total:
        problems.append(
            f"budget: round 0 computes {spec.initial_size} ligands (initial_size), more than "
            f"budget.total {spec.budget.total}"
        )
    if spec.seeds_per_round > spec.initial_size:
        problems.append(
            f"seeds_per_round {spec.seeds_per_round} exceeds the initial set "
            f"({spec.initial_size} ligands)"
        )
    return problems


def problems(spec: CampaignSpec, settings: Settings) -> list[str]:
    """Every problem that would stop the campaign later, one line each ([] when none)."""
    return [
        *_corpus(spec),
        *_model(spec),
        *_initial_set(spec),
        *_calculators(spec, settings),
        *_profile(spec, settings),
        *_budgets(spec),
    ]


def check(spec: CampaignSpec, settings: Settings) -> None:
    """Raise SpecError listing every problem; nothing is computed or stored before this."""
    found = problems(spec, settings)
    if found:
        lines = "\n".join(f"  - {p}" for p in found)
        raise SpecError(f"campaign {spec.name!r} cannot start:\n{lines}")
