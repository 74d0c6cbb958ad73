"""CampaignSpec: everything that defines a campaign, validated before anything is stored.

The same pydantic model is read from YAML by the CLI and rendered as a form by the Prefect UI,
so every field has a description and a safe default (embedded calculators, local profile).
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from storage.names import validate_campaign_name
from storage.store import canonical_json

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_MODEL = REPO_ROOT / "models" / "gauss2-proxy" / "model.pt"
DEFAULT_CORPUS = REPO_ROOT / "data" / "ligands.parquet"


class SpecError(ValueError):
    """A campaign spec that cannot be used; the message names the field and value."""


class Acquisition(BaseModel):
    """How seeds are chosen from the labelled set each round."""

    model_config = ConfigDict(extra="forbid")

    policy: Literal["top-k", "ucb", "diverse-top-k"] = Field(
        "top-k", description="top-k by first KD gap (paper), UCB on the surrogate, or diverse top-k"
    )
    beta: float = Field(2.0, ge=0, description="UCB exploration weight (mean + beta * std)")
    min_distance: float = Field(
        1.0, ge=0, description="diverse-top-k: minimum latent distance between seeds"
    )


class Sampling(BaseModel):
    """LP sampling around each seed (paper: 10 samples per seed, sigma 0.1 widened to 0.3)."""

    model_config = ConfigDict(extra="forbid")

    samples_per_seed: int = Field(10, ge=1, le=1000, description="unique novel ligands per seed")
    sigmas: list[float] = Field(
        [0.1, 0.2, 0.3], min_length=1, description="sigma schedule, widened in order"
    )
    steps_per_sigma: int = Field(40, ge=1, description="sampling batches per sigma before widening")
    batch_per_seed: int = Field(100, ge=1, description="latent samples per seed per batch")

    @field_validator("sigmas")
    @classmethod
    def _positive(cls, v: list[float]) -> list[float]:
        if any(s < 0 or s > 5 for s in v):
            raise ValueError(f"sigmas must lie in [0, 5], got {v}")
        return v


class Calculators(BaseModel):
    """Which implementation computes each stage (numbers from different methods never mix)."""

    model_config = ConfigDict(extra="forbid")

    kd: Literal["embedded", "hpc"] = Field(
        "embedded", description="KD gaps: embedded crystal-field model or ORCA CASSCF on HPC"
    )
    relax: bool = Field(False, description="relax complexes with GFN2-xTB/ALPB before the KD step")


class Budget(BaseModel):
    model_config = ConfigDict(extra="forbid")

    per_round: int = Field(200, ge=1, description="maximum KD calculations per round")
    total: int = Field(5000, ge=1, description="maximum KD calculations over the campaign")


class Stopping(BaseModel):
    model_config = ConfigDict(extra="forbid")

    max_rounds: int = Field(10, ge=1, description="stop after this many rounds")
    patience: int = Field(
        0, ge=0, description="stop when the best gap has not improved for this many rounds (0: off)"
    )


class CampaignSpec(BaseModel):
    """A campaign: its inputs, policies and limits."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(..., description="campaign name: lowercase letters, digits, - and _")
    corpus: Path = Field(DEFAULT_CORPUS, description="ligand corpus Parquet (gauss corpus build)")
    model: Path = Field(DEFAULT_MODEL, description="trained GAUSS-II checkpoint")
    initial_size: int = Field(
        1000, ge=2, description="random corpus ligands labelled in round 0 (paper: 1k)"
    )
    initial_set: Path | None = Field(
        None, description="optional file (CSV/Parquet, `smiles` column) used instead of a draw"
    )
    seeds_per_round: int = Field(16, ge=1, description="seeds chosen per round (paper: 16)")
    acquisition: Acquisition = Acquisition()
    sampling: Sampling = Sampling()
    calculators: Calculators = Calculators()
    budget: Budget = Budget()
    stopping: Stopping = Stopping()
    profile: Literal["local", "slurm", "pbs"] = Field("local", description="execution profile")
    rng_seed: int = Field(0, description="seed of every random choice in the campaign")

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        return validate_campaign_name(v)

    def spec_hash(self) -> str:
        """sha256 of the spec as the campaign store records it (`spec_sha256` of manifests)."""
        blob = canonical_json(self.model_dump(mode="json"), f"spec of campaign {self.name!r}")
        return hashlib.sha256(blob.encode()).hexdigest()


def _format(err: ValidationError, source: str) -> str:
    lines = [f"invalid campaign spec {source}:"]
    for e in err.errors():
        where = ".".join(str(p) for p in e["loc"]) or "(top level)"
        value = e.get("input")
        shown = f" (got {value!r})" if not isinstance(value, dict) else ""
        lines.append(f"  {where}: {e['msg']}{shown}")
    return "\n".join(lines)


def parse_spec(data: dict, source: str = "<dict>") -> CampaignSpec:
    """Validate a mapping; errors name every offending field and value."""
    if not isinstance(data, dict):
        raise SpecError(f"invalid campaign spec {source}: expected a mapping, got {type(data)}")
    try:
        return CampaignSpec.model_validate(data)
    except ValidationError as err:
        raise SpecError(_format(err, source)) from None


def load_spec(path: Path) -> CampaignSpec:
    """Read a YAML spec file."""
    path = Path(path)
    if not path.is_file():
        raise SpecError(f"campaign spec not found: {path}")
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise SpecError(f"campaign spec {path} is not valid YAML: {exc}") from None
    return parse_spec(data, str(path))
