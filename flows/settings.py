"""The one settings object: every tunable path and default, from GAUSS_* variables or a YAML file.

Nothing else in the code base reads os.environ; lower layers receive values as arguments.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from campaigns.spec import DEFAULT_MODEL, REPO_ROOT, CampaignSpec
from gauss import corpus as corpus_mod


class Settings(BaseSettings):
    """Defaults work from a fresh clone; override e.g. with GAUSS_CORPUS=/scratch/lig.parquet."""

    model_config = SettingsConfigDict(env_prefix="GAUSS_", extra="forbid")

    corpus_source: Path = Field(corpus_mod.DEFAULT_SOURCE, description="QM9 source CSV(.gz)")
    corpus: Path = Field(
        corpus_mod.DEFAULT_OUT,
        description="ligand corpus Parquet: corpus/model verbs, and campaign specs naming none",
    )
    model: Path = Field(
        REPO_ROOT / DEFAULT_MODEL,
        description="GAUSS-II checkpoint: model verbs, and campaign specs naming none",
    )
    workers: int = Field(0, ge=0, description="local worker processes; 0 = all cores")
    executor: Literal["parsl", "process"] = Field(
        "parsl", description="fan-out engine: Parsl (profiles) or a plain local process pool"
    )
    profiles: Path | None = Field(
        None, description="YAML file of execution profiles (local/slurm/pbs sections)"
    )
    programs: dict[str, str] = Field(
        default_factory=dict,
        description="program name -> executable on the workers, e.g. {orca: /opt/orca/orca}",
    )
    store: Path = Field(
        corpus_mod.REPO_ROOT / "store", description="root directory of the campaign stores"
    )


def get_settings() -> Settings:
    return Settings()


PATH_FIELDS = ("corpus", "model")  # spec fields an operator may default per machine


def with_path_defaults(spec: CampaignSpec, settings: Settings) -> CampaignSpec:
    """The spec with GAUSS_CORPUS / GAUSS_MODEL where the spec names no corpus / model.

    A path written in the spec always wins; the settings' built-in defaults never replace the
    spec's own (relative) defaults, so a spec's hash does not depend on where the clone sits.
    """
    given = spec.model_fields_set
    update = {
        f: getattr(settings, f)
        for f in PATH_FIELDS
        if f not in given and f in settings.model_fields_set
    }
    return spec.model_copy(update=update) if update else spec
