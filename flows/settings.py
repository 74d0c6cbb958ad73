"""The one settings object: every tunable path and default, from GAUSS_* variables or a YAML file.

Nothing else in the code base reads os.environ; lower layers receive values as arguments.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from gauss import corpus as corpus_mod


class Settings(BaseSettings):
    """Defaults work from a fresh clone; override e.g. with GAUSS_CORPUS=/scratch/lig.parquet."""

    model_config = SettingsConfigDict(env_prefix="GAUSS_", extra="forbid")

    corpus_source: Path = Field(corpus_mod.DEFAULT_SOURCE, description="QM9 source CSV(.gz)")
    corpus: Path = Field(corpus_mod.DEFAULT_OUT, description="ligand corpus Parquet")
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
