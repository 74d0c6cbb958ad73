"""CampaignSpec: everything that defines a campaign, validated before anything is stored.

The same pydantic model is read from YAML by the CLI and rendered as a form by the Prefect UI,
so every field has a description and a safe default (embedded calculators, local profile).
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from storage.canonical import canonical_json
from storage.names import NAME_PATTERN, NAME_RULE, validate_campaign_name

REPO_ROOT = Path(__file__).resolve().parents[1]
# Defaults are relative to the project root, so a spec (and its hash) does not depend on
# where the clone sits; `CampaignSpec.resolve` turns any relative path into an absolute one.
DEFAULT_MODEL = Path("models/gauss2-calibrated/model.pt")
DEFAULT_CORPUS = Path("data/ligands.parquet")


class SpecError(ValueError):
    """A campaign spec that cannot be used; the message names the field and value."""


class CampaignStateError(SpecError):
    """The spec is fine but the stored campaign is not in a state to take it (exists, differs)."""


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


class StructuralFilters(BaseModel):
    """Ligands a coordination chemist would strike out, removed after sampling (the reasons
    are in gauss/chem_rules.py); each rule's count is reported per round."""

    model_config = ConfigDict(extra="forbid")

    peroxide: bool = Field(True, description="reject O-O bonds (peroxides, N-O-O)")
    remote_charge: bool = Field(
        True, description="reject a formal charge on any atom but the donor (zwitterions)"
    )
    radical: bool = Field(True, description="reject ligands with unpaired electrons")
    small_ring_heteroatoms: bool = Field(
        True, description="reject 3-membered rings with 2+ heteroatoms (oxaziridines, ...)"
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
    filters: StructuralFilters = Field(
        StructuralFilters(), description="structural rules applied to sampled ligands"
    )

    @field_validator("sigmas")
    @classmethod
    def _positive(cls, v: list[float]) -> list[float]:
        if any(s < 0 or s > 5 for s in v):
            raise ValueError(f"sigmas must lie in [0, 5], got {v}")
        return v


class Calculators(BaseModel):
    """Which implementation computes each stage (numbers from different methods never mix)."""

    model_config = ConfigDict(extra="forbid")

    kd: Literal["embedded", "point-charge", "molcas", "orca", "hpc"] = Field(
        "embedded",
        description="KD gaps: embedded = crystal field on a DFT-like geometry + correction "
        "calibrated on published CASSCF (seconds); point-charge = the plain crystal field; "
        "molcas = OpenMolcas CASSCF(9,7)/RASSI-SO (HPC); orca = the paper's ORCA chain (HPC; "
        "'hpc' is its older name)",
    )
    molcas_settings: Literal["production", "test"] = Field(
        "production",
        description="kd: molcas only. production: ANO-RCC VTZP (Dy) / VDZP (donor O/N) / VDZ, "
        "21 sextets (~11 min per complex on 2 cores); test: ANO-RCC-MB everywhere (1-2 min, "
        "exercises the whole chain, not for science)",
    )
    relax: bool = Field(
        False,
        description="point-charge only: relax complexes with GFN2-xTB/ALPB before the crystal "
        "field (the calibrated model has its own geometry step)",
    )

    @model_validator(mode="after")
    def _relax_needs_point_charge(self) -> Calculators:
        if self.relax and self.kd != "point-charge":
            raise ValueError(f"relax: true needs kd: point-charge, not kd: {self.kd}")
        return self


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

    name: str = Field(
        ...,
        description=f"campaign name: {NAME_RULE}",
        json_schema_extra={"pattern": f"^{NAME_PATTERN.pattern}$"},  # the UI form checks it
    )
    corpus: Path = Field(
        DEFAULT_CORPUS,
        description="ligand corpus Parquet (gauss corpus build); relative to the project root",
    )
    model: Path = Field(
        DEFAULT_MODEL, description="trained GAUSS-II checkpoint; relative to the project root"
    )
    initial_size: int = Field(
        1000,
        ge=2,
        description="ligands labelled in round 0 (paper: 1k): a seeded draw from the corpus, "
        "or from the published CASSCF rows with initial_set: published",
    )
    initial_set: Literal["published"] | Path | None = Field(
        None,
        description="round-0 ligands: none = a corpus draw computed by the KD calculator; "
        "'published' = initial_size rows of the paper's published CASSCF gaps (not computed, "
        "method recorded); or a file (CSV/Parquet, `smiles` column) to compute",
    )
    seeds_per_round: int = Field(16, ge=1, description="seeds chosen per round (paper: 16)")
    acquisition: Acquisition = Field(Acquisition(), description="how seeds are chosen")
    sampling: Sampling = Field(Sampling(), description="LP sampling and structural filters")
    calculators: Calculators = Field(Calculators(), description="which method computes KD gaps")
    budget: Budget = Field(Budget(), description="limits on KD calculations")
    stopping: Stopping = Field(Stopping(), description="when the campaign stops by itself")
    profile: Literal["local", "slurm", "pbs"] = Field(
        "local",
        description="where calculations run: local workers, or Slurm/PBS batch jobs (their "
        "settings come from the GAUSS_PROFILES file)",
    )
    rng_seed: int = Field(0, description="seed of every random choice in the campaign")

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        return validate_campaign_name(v)

    def resolve(self, path: Path | str) -> Path:
        """An absolute path; relative ones (defaults, files in a spec) are from the project root."""
        path = Path(path)
        return path if path.is_absolute() else REPO_ROOT / path

    @property
    def corpus_path(self) -> Path:
        return self.resolve(self.corpus)

    @property
    def model_path(self) -> Path:
        return self.resolve(self.model)

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


# Fields whose change leaves every stored and future number the same science: limits, when to
# stop, where calculations run. Paths (corpus, model) may move when the file is the same one
# (same sha256, checked by the caller against the manifests). Everything else changes the
# science and needs a new campaign.
UPDATABLE = ("budget.", "stopping.", "profile")
MOVABLE = ("corpus", "model")


def _flatten(doc: dict, prefix: str = "") -> dict[str, object]:
    out: dict[str, object] = {}
    for key, value in doc.items():
        if isinstance(value, dict):
            out |= _flatten(value, f"{prefix}{key}.")
        else:
            out[f"{prefix}{key}"] = value
    return out


def spec_changes(stored: dict, given: dict) -> dict[str, tuple[object, object]]:
    """Dotted field -> (stored value, given value) for every field that differs."""
    a, b = _flatten(stored), _flatten(given)
    return {k: (a.get(k), b.get(k)) for k in sorted(set(a) | set(b)) if a.get(k) != b.get(k)}


def classify_changes(
    changes: dict[str, tuple[object, object]],
) -> tuple[dict[str, tuple[object, object]], dict[str, tuple[object, object]], list[str]]:
    """(updatable, moved paths, science fields) of a set of spec changes."""
    updatable = {k: v for k, v in changes.items() if k.startswith(UPDATABLE)}
    moved = {k: v for k, v in changes.items() if k in MOVABLE}
    science = [k for k in changes if k not in updatable and k not in moved]
    return updatable, moved, science
