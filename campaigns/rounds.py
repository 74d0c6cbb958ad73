"""Campaign rounds as plain functions: map -> seeds -> sample -> filter -> compute -> ingest.

No workflow engine here: flows/ wraps these functions in Prefect tasks and passes a Parsl
executor; tests and the CLI pass a local one. Every random choice is seeded from the spec and
the round number, so a round killed mid-way recomputes the same candidates on restart, and the
calculations already journaled are not run again.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from calculators.base import Calculator, key_for
from calculators.values import GAPS as VALUE_GAPS
from campaigns import acquisition, metrics, published
from campaigns.executors import Executor
from campaigns.spec import CampaignSpec, CampaignStateError, SpecError
from campaigns.surrogate import cross_validated_r2, fit_surrogate
from gauss import chem, latent, sampling
from gauss.chem_rules import StructureRules
from gauss.corpus import file_sha256
from gauss.model import LoadedModel
from storage.store import CampaignStore

log = logging.getLogger(__name__)
GAPS = list(VALUE_GAPS)


@dataclass
class RoundContext:
    """What a round needs besides the spec and the store (built once by the caller)."""

    spec: CampaignSpec
    store: CampaignStore
    calc: Calculator
    executor: Executor
    corpus: pd.DataFrame
    model: LoadedModel | None = None
    progress: Callable[[str], None] = field(default=lambda msg: log.info(msg))
    # results journaled per append: 1 = every result is durable at once (HPC: each calculation
    # is precious); larger batches suit thousands of sub-second embedded calculations
    journal_every: int = 1


# --- inputs -------------------------------------------------------------------------------


def initial_ligands(spec: CampaignSpec, corpus: pd.DataFrame) -> list[str]:
    """Round-0 ligands: the spec's file (every SMILES validated) or a seeded corpus draw."""
    if spec.initial_set == "published":
        return published.draw(spec.initial_size, spec.rng_seed)["smiles"].tolist()
    if spec.initial_set is not None:
        path = spec.resolve(spec.initial_set)
        if not path.is_file():
            raise SpecError(f"initial_set: file not found: {path}")
        df = pd.read_parquet(path) if path.suffix == ".parquet" else pd.read_csv(path)
        if "smiles" not in df.columns:
            raise SpecError(f"initial_set: {path} has no `smiles` column")
        ligands = []
        for smi in df["smiles"].astype(str):
            try:
                ligands.append(chem.ligand(smi).smiles)
            except chem.LigandError as exc:
                raise SpecError(f"initial_set: {exc}") from None
        return list(dict.fromkeys(ligands))
    n = min(spec.initial_size, len(corpus))
    rng = np.random.default_rng(spec.rng_seed)
    rows = np.sort(rng.choice(len(corpus), n, replace=False))
    return corpus["smiles"].iloc[rows].tolist()


# --- compute (cache + journal aware) ------------------------------------------------------


def compute(ctx: RoundContext, round_no: int, ligands: Sequence[str]) -> list[dict[str, Any]]:
    """Calculation records for every ligand; each key runs at most once, ever.

    Committed ok results come from the store's cache, finished-but-uncommitted ones from the
    round's journal; only the rest go to the executor, and each result is journaled as soon as
    it arrives, so a killed round resumes where it stopped.
    """
    keys = {smi: key_for(ctx.calc, smi) for smi in ligands}
    done: dict[str, dict[str, Any]] = dict(ctx.store.cached(keys.values()))
    for rec in ctx.store.journal_read(round_no):
        done.setdefault(rec["key"], rec)
    todo = [smi for smi, key in keys.items() if key not in done]
    ctx.progress(
        f"round {round_no}: {len(keys)} calculations, {len(keys) - len(todo)} already done, "
        f"{len(todo)} to run"
    )
    pending: list[dict[str, Any]] = []
    for n, result in enumerate(ctx.executor.map(ctx.calc, todo), start=1):
        rec = result.to_record()
        done[rec["key"]] = rec
        pending.append(rec)
        if len(pending) >= ctx.journal_every:
            ctx.store.journal_append(round_no, pending)
            pending = []
        if n % 50 == 0 or n == len(todo):
            ctx.progress(f"round {round_no}: {n}/{len(todo)} calculations finished")
    if pending:
        ctx.store.journal_append(round_no, pending)
    return [done[keys[smi]] for smi in ligands]


def label_rows(ligands: Sequence[str], records: Sequence[dict[str, Any]]) -> pd.DataFrame:
    """One label row per ligand: gap_1..gap_7 (NaN if failed), the calculator's 1-sigma
    `gap_1_std` where it gives one (NaN otherwise), status, method, key, reason."""
    rows = []
    for smi, rec in zip(ligands, records, strict=True):
        values = json.loads(rec["values"]) if isinstance(rec["values"], str) else rec["values"]
        row = {"smiles": smi, "key": rec["key"], "status": rec["status"], "method": rec["method"]}
        row["reason"] = rec.get("reason") or ""
        for gap in GAPS:
            row[gap] = float(values.get(gap, np.nan)) if rec["status"] == "ok" else np.nan
        row["gap_1_std"] = (
            float(values.get("gap_1_std", np.nan)) if rec["status"] == "ok" else np.nan
        )
        rows.append(row)
    columns = ["smiles", "key", "status", "method", "reason", *GAPS, "gap_1_std"]
    return pd.DataFrame(rows, columns=columns)


def _calculations(records: Sequence[dict[str, Any]]) -> pd.DataFrame:
    unique = {rec["key"]: rec for rec in records}
    return pd.DataFrame(list(unique.values()))


def _ligand_rows(ligands: Sequence[str], origin: str, seeds: Sequence[str] | None = None):
    canon = [chem.ligand(s).canonical_smiles for s in ligands]
    return pd.DataFrame(
        {
            "smiles": list(ligands),
            "canonical_smiles": canon,
            "origin": origin,
            "seed": list(seeds) if seeds is not None else [""] * len(ligands),
        }
    )


# --- round 0 ------------------------------------------------------------------------------


def init_campaign(ctx: RoundContext) -> dict[str, Any]:
    """Create the campaign and commit round 0: the initial ligands labelled with KD gaps.

    Inputs are validated before anything is written; re-running after a crash resumes the
    unfinished round 0 (same spec required).
    """
    spec, store = ctx.spec, ctx.store
    ligands = initial_ligands(spec, ctx.corpus)
    spec_doc = spec.model_dump(mode="json")
    if store.exists():
        if store.spec() != spec_doc:
            raise CampaignStateError(f"campaign {spec.name!r} exists with a different spec")
        if store.last_round() is not None:
            raise CampaignStateError(f"campaign {spec.name!r} is already initialised")
    else:
        store.create(spec_doc)
    with store.writer():
        start = time.perf_counter()
        if spec.initial_set == "published":
            labels = published_labels(spec)
            calcs = pd.DataFrame({"key": [], "status": [], "reason": []})
        else:
            records = compute(ctx, 0, ligands)
            labels = label_rows(ligands, records)
            calcs = _calculations(records)
        round_metrics = {
            "initial": metrics.distribution(labels["gap_1"]),
            "label_methods": metrics.method_counts(labels),
            "calculations": int(len(calcs)),
            "failed": int((calcs["status"] == "failed").sum()),
            "failures": metrics.failures_by_reason(calcs),
            "best_gap_1": float(np.nanmax(labels["gap_1"]))
            if labels["gap_1"].notna().any()
            else None,
            "seconds": {"compute": time.perf_counter() - start},
        }
        manifest = _manifest(ctx, 0, round_metrics, seeds=[])
        if spec.initial_set == "published":  # round 0's labels were not computed by ctx.calc
            manifest["calculator"] = {
                "name": published.PUBLISHED_CALCULATOR,
                "version": published.published_kd().attrs["sha256"][:12],
                "method": published.PUBLISHED_METHOD,
            }
        tables = {"ligands": _ligand_rows(ligands, "initial"), "labels": labels}
        if len(calcs):
            tables["calculations"] = calcs
        store.commit_round(0, tables, manifest)
    return round_metrics


def published_labels(spec: CampaignSpec) -> pd.DataFrame:
    """Round-0 labels from the paper's published CASSCF rows: no calculation, method recorded."""
    table = published.draw(spec.initial_size, spec.rng_seed)
    return published.label_rows(table, published.published_kd().attrs["sha256"])


def json_safe(value: Any) -> Any:
    """Manifests are plain JSON: NaN/inf (e.g. an R^2 of too few points) become None."""
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    if isinstance(value, float | np.floating):
        return float(value) if np.isfinite(value) else None
    if isinstance(value, np.integer):
        return int(value)
    return value


def _manifest(ctx: RoundContext, k: int, round_metrics: dict, seeds: list[str]) -> dict:
    return json_safe(_manifest_fields(ctx, k, round_metrics, seeds))


def _manifest_fields(ctx: RoundContext, k: int, round_metrics: dict, seeds: list[str]) -> dict:
    spec = ctx.spec
    model_path = spec.model_path
    return {
        "round": k,
        "spec_sha256": ctx.store.spec_sha256,
        "corpus": str(spec.corpus),
        "corpus_sha256": file_sha256(spec.corpus_path) if spec.corpus_path.is_file() else None,
        "model": str(model_path),
        "model_sha256": file_sha256(model_path) if k > 0 and model_path.is_file() else None,
        "calculator": {
            "name": ctx.calc.name,
            "version": ctx.calc.version,
            "method": ctx.calc.method,
        },
        "rng_seed": spec.rng_seed,
        "seeds": seeds,
        "metrics": round_metrics,
    }


# --- round k >= 1 -------------------------------------------------------------------------


@dataclass
class RoundPlan:
    """Seeds and candidates of a round, before anything is computed (pure, reproducible)."""

    seeds: pd.DataFrame  # smiles, gap_1, predicted mean/std, z
    samples: pd.DataFrame  # all decoded samples with flags
    chosen: pd.DataFrame  # the unique novel candidates to compute (within budget)
    surrogate_r2: float
    lmap: latent.LatentMap
    z_labelled: np.ndarray
    labelled: pd.DataFrame
    # seeds labelled by another method than this round's calculator: computed again by it, so
    # seed-vs-sample comparisons stay within one method (their results go to `calculations`)
    reference: list[str] = field(default_factory=list)

    @property
    def to_compute(self) -> list[str]:
        return self.chosen["ligand"].tolist() + self.reference


def plan_round(ctx: RoundContext, k: int) -> RoundPlan:
    """Map the labelled set, choose seeds, sample and filter (no calculation yet)."""
    if ctx.model is None:
        raise ValueError("rounds after round 0 need the trained model")
    spec, store = ctx.spec, ctx.store
    labels = store.read("labels", round=k - 1)
    labelled = labels[(labels["status"] == "ok") & labels["gap_1"].notna()]
    labelled = labelled.drop_duplicates("smiles").reset_index(drop=True)
    if len(labelled) < 2:
        raise ValueError(f"round {k}: fewer than 2 labelled ligands; nothing to map")
    z = sampling.encode_smiles(ctx.model, labelled["smiles"].tolist())
    gap = labelled["gap_1"].to_numpy(dtype=float)
    gap_std = labelled["gap_1_std"].to_numpy(dtype=float) if "gap_1_std" in labelled else None
    sur = fit_surrogate(z, gap, spec.rng_seed, gap_std)
    mean, std = sur.predict(z)
    pool = acquisition.Pool(z, gap, mean, std)
    params = spec.acquisition.model_dump(exclude={"policy"})
    idx = acquisition.choose_seeds(spec.acquisition.policy, pool, spec.seeds_per_round, **params)
    seeds = labelled.iloc[idx][["smiles", "gap_1"]].assign(pred_mean=mean[idx], pred_std=std[idx])
    ligands = store.read("ligands", round=k - 1)
    known = set(ctx.corpus["canonical_smiles"]) | set(ligands["canonical_smiles"])
    earlier = store.read("candidates", round=k - 1)
    if "canonical_smiles" in earlier.columns:
        known |= set(earlier["canonical_smiles"])
    s = spec.sampling
    plan = sampling.SamplingPlan(
        s.samples_per_seed,
        tuple(s.sigmas),
        s.steps_per_sigma,
        s.batch_per_seed,
        seed=spec.rng_seed * 100_003 + k,
    )
    rules = StructureRules(**s.filters.model_dump())
    samples = sampling.lp_sample(
        ctx.model, z[idx], known, plan, seed_ids=seeds["smiles"].tolist(), rules=rules
    )
    chosen = samples[samples["unique"]].copy()
    seed_methods = labelled.set_index("smiles")["method"]
    reference = [s for s in seeds["smiles"] if seed_methods[s] != ctx.calc.method]
    spent = len(store.read("calculations", round=k - 1))
    # recomputed seeds are calculations too: they come out of the same budgets
    allowed = min(spec.budget.per_round, spec.budget.total - spent) - len(reference)
    chosen = chosen.iloc[: max(0, allowed)]
    return RoundPlan(
        seeds.reset_index(drop=True),
        samples,
        chosen.reset_index(drop=True),
        cross_validated_r2(z, gap, seed=spec.rng_seed),
        latent.fit_map(z, spec.rng_seed),
        z,
        labelled,
        reference,
    )


def run_round(
    ctx: RoundContext,
    plan_stage: Callable[[RoundContext, int], RoundPlan] | None = None,
    compute_stage: Callable[[RoundContext, int, list[str]], list[dict[str, Any]]] | None = None,
    ingest_stage: Callable[..., dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """Run the next round end to end and commit it; returns its metrics.

    The one round pipeline: the Prefect flow passes its task-wrapped stages (same functions,
    plus retries and logging), so both paths sequence and time the round identically.
    """
    plan_stage = plan_stage or plan_round
    compute_stage = compute_stage or compute
    ingest_stage = ingest_stage or ingest_round
    with ctx.store.writer():
        k = next_round(ctx)
        t0 = time.perf_counter()
        plan = plan_stage(ctx, k)
        t1 = time.perf_counter()
        records = compute_stage(ctx, k, plan.to_compute)
        t2 = time.perf_counter()
        return ingest_stage(ctx, k, plan, records, {"plan": t1 - t0, "compute": t2 - t1})


def next_round(ctx: RoundContext) -> int:
    """Number of the round to run next (round 0 must be committed)."""
    last = ctx.store.last_round()
    if last is None:
        raise ValueError(f"campaign {ctx.spec.name!r} has no round 0: run init first")
    return last + 1


def ingest_round(
    ctx: RoundContext,
    k: int,
    plan: RoundPlan,
    records: Sequence[dict[str, Any]],
    seconds: dict[str, float] | None = None,
) -> dict[str, Any]:
    """Commit round k (all tables and the manifest at once) and return its metrics.

    `records` are the candidates' results followed by those of `plan.reference` (seeds
    recomputed by this round's calculator): those are stored as calculations, not labels.
    """
    new = plan.chosen["ligand"].tolist()
    records = list(records)
    labels = label_rows(new, records[: len(new)])
    calcs = _calculations(records)
    reference = label_rows(plan.reference, records[len(new) :])
    cols = ["smiles", "method", *GAPS]
    same_method = pd.concat([plan.labelled[cols], reference[cols]])
    same_method = same_method[same_method["method"] == ctx.calc.method]
    seed_gap = same_method.drop_duplicates("smiles").set_index("smiles")[GAPS]
    sample_seed = plan.chosen["seed_id"].tolist()
    z_new = sampling.encode_smiles(ctx.model, new) if new else np.zeros((0, 32))
    round_metrics = _round_metrics(ctx, k, plan, labels, calcs, seed_gap, sample_seed)
    round_metrics["seconds"] = dict(seconds or {})
    tables = {
        "ligands": _ligand_rows(new, "sampled", sample_seed),
        "labels": labels,
        "calculations": calcs,
        "candidates": plan.chosen[
            ["seed_id", "sigma", "step", "ligand", "canonical_smiles"]
        ].rename(columns={"seed_id": "seed", "ligand": "smiles"}),
        "latent": _latent_rows(plan, new, z_new),
    }
    manifest = _manifest(ctx, k, round_metrics, plan.seeds["smiles"].tolist())
    ctx.store.commit_round(k, tables, manifest)
    ctx.progress(f"round {k} committed: {len(new)} candidates, {round_metrics['failed']} failed")
    return round_metrics


def _latent_rows(plan: RoundPlan, new: list[str], z_new: np.ndarray) -> pd.DataFrame:
    """PCA coordinates of the map (labelled set) and of the new ligands, for round plots."""
    xy_old = plan.lmap.coords
    xy_new = plan.lmap.project(z_new) if len(new) else np.zeros((0, 2))
    seeds = set(plan.seeds["smiles"])
    old = pd.DataFrame(
        {
            "smiles": plan.labelled["smiles"],
            "kind": ["seed" if s in seeds else "labelled" for s in plan.labelled["smiles"]],
            "pc1": xy_old[:, 0],
            "pc2": xy_old[:, 1],
            "gap_1": plan.labelled["gap_1"].to_numpy(dtype=float),
        }
    )
    fresh = pd.DataFrame(
        {"smiles": new, "kind": "new", "pc1": xy_new[:, 0], "pc2": xy_new[:, 1], "gap_1": np.nan}
    )
    return pd.concat([old, fresh], ignore_index=True)


def _round_metrics(ctx, k, plan, labels, calcs, seed_gap, sample_seed) -> dict[str, Any]:
    store = ctx.store
    initial = store.read("labels", round=0)
    all_before = store.read("labels", round=k - 1)
    new_gap = labels["gap_1"].to_numpy(dtype=float)
    best_before = (
        float(np.nanmax(all_before["gap_1"])) if all_before["gap_1"].notna().any() else float("nan")
    )
    best_now = float(np.nanmax([best_before, *new_gap])) if len(new_gap) else best_before
    trajectory = [r.manifest.get("metrics", {}).get("best_gap_1") for r in store.rounds()] + [
        best_now
    ]
    n_calc = max(len(calcs), 1)
    seed_rows = seed_gap.reindex(sample_seed).to_numpy(dtype=float).reshape(-1, len(GAPS))
    return {
        "sampling": metrics.sampling_counts(plan.samples),
        "candidates": int(len(plan.chosen)),
        "calculations": int(len(calcs)),
        "failed": int((calcs["status"] == "failed").sum()) if len(calcs) else 0,
        "failure_rate": float((calcs["status"] == "failed").sum() / n_calc) if len(calcs) else 0.0,
        "failures": metrics.failures_by_reason(calcs) if len(calcs) else {},
        "lost_attempts": metrics.lost_attempts(calcs),
        "surrogate_cv_r2": plan.surrogate_r2,
        "new": metrics.distribution(new_gap),
        "seeds": metrics.distribution(plan.seeds["gap_1"].to_numpy(dtype=float)),
        "initial": metrics.distribution(initial["gap_1"].to_numpy(dtype=float)),
        "seed_sample_r2": metrics.seed_sample_r2(seed_rows, labels[GAPS].to_numpy(dtype=float)),
        "seed_sample_pearson": metrics.seed_sample_pearson(seed_rows[:, 0], new_gap),
        "seed_sample_method": ctx.calc.method,
        "seeds_recomputed": len(plan.reference),
        "label_methods": metrics.method_counts(pd.concat([all_before, labels])),
        "best_gap_1": best_now,
        "best_trajectory": trajectory,
    }


def should_stop(ctx: RoundContext) -> str | None:
    """Why the campaign should not run another round (None: go on)."""
    spec, store = ctx.spec, ctx.store
    rounds = store.rounds()
    done = len(rounds) - 1  # round 0 is the initial set
    if done >= spec.stopping.max_rounds:
        return f"max_rounds={spec.stopping.max_rounds} reached"
    spent = len(store.read("calculations"))
    if spent >= spec.budget.total:
        return f"total budget of {spec.budget.total} calculations spent"
    if spec.stopping.patience and done > spec.stopping.patience:
        best = [r.manifest.get("metrics", {}).get("best_gap_1") or float("-inf") for r in rounds]
        if max(best[-spec.stopping.patience :]) <= max(best[: -spec.stopping.patience]):
            return f"best gap_1 has not improved for {spec.stopping.patience} rounds"
    return None
