"""Prefect flows: thin wrappers that run the campaigns/ functions stage by stage as tasks.

Tasks carry no Prefect cache (NO_CACHE): our own keys already make every stage idempotent —
calculations are keyed by content hash and journaled, rounds commit atomically — and Prefect's
default cache key includes the flow-run id, which would recompute everything anyway.
Calculations fan out through the executor of the execution profile, in batches, from inside
the compute task (never one Prefect task per molecule).
"""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Annotated, Any

from prefect import flow, get_run_logger, task
from prefect.artifacts import (
    create_image_artifact,
    create_markdown_artifact,
    create_table_artifact,
)
from prefect.cache_policies import NO_CACHE
from pydantic import Field

from campaigns import history, rounds
from campaigns.executors import Executor
from campaigns.spec import CampaignSpec
from flows import preflight
from flows.context import build_context
from flows.execution import make_executor
from flows.settings import get_settings, with_path_defaults
from storage.store import CampaignStore


def _logger_progress():
    logger = get_run_logger()
    return lambda msg: logger.info(msg)


@task(name="init-campaign", cache_policy=NO_CACHE)
def init_task(ctx: rounds.RoundContext) -> dict[str, Any]:
    return rounds.init_campaign(ctx)


@task(name="plan-round", cache_policy=NO_CACHE)
def plan_task(ctx: rounds.RoundContext, k: int) -> rounds.RoundPlan:
    """Map the labelled set, choose seeds, LP-sample and filter candidates."""
    return rounds.plan_round(ctx, k)


@task(name="compute", cache_policy=NO_CACHE, retries=1, retry_delay_seconds=5)
def compute_task(ctx: rounds.RoundContext, k: int, ligands: list[str]) -> list[dict]:
    """Run the KD calculations; a retry re-runs only what the journal does not hold."""
    return rounds.compute(ctx, k, ligands)


@task(name="ingest-round", cache_policy=NO_CACHE)
def ingest_task(
    ctx, k: int, plan: rounds.RoundPlan, records: list[dict], seconds: dict[str, float]
) -> dict[str, Any]:
    return rounds.ingest_round(ctx, k, plan, records, seconds)


def _fmt(value: Any, spec: str = ".1f") -> str:
    """Numbers for the summary; missing or undefined metrics read 'n/a'."""
    if value is None or (isinstance(value, float) and value != value):
        return "n/a"
    return format(value, spec)


def _png_data_url(path: Path) -> str:
    return "data:image/png;base64," + base64.b64encode(Path(path).read_bytes()).decode()


def where_table(results: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per calculation: batch job, node, start, and each lost attempt with its cause."""
    return [
        {
            "smiles": r["smiles"],
            "status": r["status"],
            "job_id": r.get("job_id") or "",
            "node": r.get("node") or "",
            "started_at": r.get("started_at") or "",
            "failed_attempts": "; ".join(
                f"{a.get('cause')} (job {a.get('job_id') or '?'} on {a.get('node') or '?'})"
                for a in r.get("failed_attempts", [])
            ),
        }
        for r in results
    ]


@task(name="round-artifacts", cache_policy=NO_CACHE)
def artifacts_task(store: CampaignStore, k: int) -> list[str]:
    """Markdown summary, best-candidates table and plots of round k, visible in the UI."""
    info = history.show(store, k)
    m = info["manifest"].get("metrics", {})
    method = info["manifest"].get("calculator", {}).get("method", "")
    key = f"{store.name}-round-{k}"
    new = m.get("new") or m.get("initial") or {}
    summary = [
        f"# {store.name}: round {k}",
        f"KD values of this round's new ligands computed by: **{method}**",
        "",
        "| metric | value |",
        "|---|---|",
        f"| seeds | {len(info['seeds'])} |",
        f"| candidates (unique, novel, passing the structural rules) | {m.get('candidates', 0)} |",
        f"| calculations stored (candidates + seeds recomputed) | {m.get('calculations', 0)} |",
        f"| failed | {m.get('failed', 0)} ({_fmt(m.get('failure_rate', 0), '.0%')}) |",
        f"| attempts lost to infrastructure (retried) | {m.get('lost_attempts', 0)} |",
        f"| median first gap of new ligands (cm⁻¹) | {_fmt(new.get('median'))} |",
        f"| best first gap so far (cm⁻¹) | {_fmt(m.get('best_gap_1'))} |",
        f"| seed-vs-sample R² (7 gaps, same method) | {_fmt(m.get('seed_sample_r2'), '.2f')} |",
        f"| seed-vs-sample Pearson r (gap 1) | {_fmt(m.get('seed_sample_pearson'), '.2f')} |",
        f"| surrogate CV R² | {_fmt(m.get('surrogate_cv_r2'), '.2f')} |",
        "",
        "gap_i: energy of Kramers doublet i+1 above the ground doublet (cm⁻¹). Seed-vs-sample "
        "R² (paper, Sec. II.C): 1 − Σ(sample − seed)² / Σ(sample − mean)², per gap, averaged; "
        "negative when samples sit further from their seeds than from their own mean. "
        "n/a: undefined (fewer than 2 pairs).",
    ]
    label_methods = m.get("label_methods") or {}
    if len(label_methods) > 1:
        summary += ["", "**Labels come from more than one method** (not mixed in R²):", ""]
        summary += [f"- {name}: {n}" for name, n in label_methods.items()]
    if m.get("failures"):
        summary += ["", "Failures by reason:", ""]
        summary += [f"- {reason}: {n}" for reason, n in m["failures"].items()]
    ids = [str(create_markdown_artifact("\n".join(summary), key=key, description="summary"))]
    best = sorted(
        (r for r in info["results"] if r.get("status") == "ok"),
        key=lambda r: -(r.get("gap_1") or 0),
    )[:20]
    seeds = {c["smiles"]: c["seed"] for c in info["candidates"]}
    table = [
        {
            "smiles": r["smiles"],
            "gap_1 (cm-1)": round(r["gap_1"], 1),
            "gap_7 (cm-1)": round(r["gap_7"], 1),
            "seed": seeds.get(r["smiles"], ""),
            "method": r.get("method", ""),
        }
        for r in best
    ]
    if table:
        ids.append(
            str(
                create_table_artifact(
                    table,
                    key=f"{key}-best",
                    description="best 20 by first KD gap; gap_1/gap_7: energy of KD 2/KD 8 "
                    "above the ground doublet (cm-1)",
                )
            )
        )
    placements = where_table(info["results"])
    if placements:
        ids.append(
            str(create_table_artifact(placements, key=f"{key}-where", description="where it ran"))
        )
    for path in history.round_plots(store, k):
        ids.append(
            str(
                create_image_artifact(
                    _png_data_url(path), key=f"{key}-{path.stem[10:]}", description=path.name
                )
            )
        )
    return ids


def _context(spec: CampaignSpec, executor: Executor, need_model: bool) -> rounds.RoundContext:
    return build_context(spec, get_settings(), executor, need_model, _logger_progress())


@flow(name="run-round", log_prints=True)
def run_round_flow(campaign: str, profile: str | None = None) -> dict[str, Any]:
    """One round of an existing campaign (the scheduled, unattended unit of work)."""
    store = CampaignStore(get_settings().store, campaign)
    spec = CampaignSpec.model_validate(store.spec())
    preflight.check(spec, get_settings())
    with make_executor(profile or spec.profile, store.path / "runinfo") as executor:
        ctx = _context(spec, executor, need_model=True)
        reason = rounds.should_stop(ctx)
        if reason:
            get_run_logger().info("campaign %s: not running a round: %s", campaign, reason)
            return {"stopped": reason}
        metrics = rounds.run_round(ctx, plan_task, compute_task, ingest_task)
    artifacts_task(ctx.store, ctx.store.last_round())
    return metrics


RoundsToRun = Annotated[
    int,
    Field(
        ge=0,
        le=1000,
        description="rounds to run after round 0 in this launch (0: only round 0; stops "
        "earlier at the spec's budget or stopping rule); a later launch continues the campaign",
    ),
]


@flow(name="run-campaign", log_prints=True)
def run_campaign(
    spec: CampaignSpec, rounds_to_run: RoundsToRun = 1, profile: str | None = None
) -> list[dict[str, Any]]:
    """Create the campaign if needed (round 0), then run rounds until the count or a stop rule.

    `profile` overrides the spec's execution profile for this run only (where calculations
    run does not change what they compute); the CLI's `--profile`.
    """
    return _campaign(spec, rounds_to_run, profile)


@flow(name="launch-campaign", log_prints=True)
def launch_campaign(spec: CampaignSpec, rounds_to_run: RoundsToRun = 1) -> list[dict[str, Any]]:
    """The UI's campaign launch: round 0 if the campaign is new, then rounds.

    Every round's results also land on this run's Artifacts tab (`<name>-campaign`).

    Args:
        spec: the campaign; its `profile` says where calculations run (local, slurm, pbs).
        rounds_to_run: rounds to run after round 0 in this launch (fewer when the budget or
            the stopping rule ends the campaign); launching again continues the campaign.
    """
    return _campaign(spec, rounds_to_run, None)


def _campaign(spec: CampaignSpec, rounds_to_run: int, profile: str | None) -> list[dict]:
    spec = with_path_defaults(spec, get_settings())
    store = CampaignStore(get_settings().store, spec.name)
    results: list[dict[str, Any]] = []
    preflight.check(spec, get_settings())
    if store.exists():
        refuse_changed_spec(store, spec)
    if not store.exists() or store.last_round() is None:
        with make_executor(profile or spec.profile, store.path / "runinfo") as executor:
            results.append(init_task(_context(spec, executor, need_model=False)))
        artifacts_task(store, 0)
    for _ in range(rounds_to_run):
        metrics = run_round_flow(spec.name, profile)
        results.append(metrics)
        if "stopped" in metrics:
            break
    campaign_artifact(store)
    return results


def refuse_changed_spec(store: CampaignStore, spec: CampaignSpec) -> None:
    """A spec that differs from the stored campaign's is refused, saying how to go on."""
    from campaigns.spec import CampaignStateError, classify_changes, spec_changes

    changes = spec_changes(store.spec(), spec.model_dump(mode="json"))
    if not changes:
        return
    science = classify_changes(changes)[2]
    shown = "; ".join(f"{k}: stored {a!r}, given {b!r}" for k, (a, b) in changes.items())
    how = (
        "apply it with `gauss campaign update SPEC.yaml` (it is recorded in the history)"
        if not science
        else f"{', '.join(science)} change the science: start a new campaign under another "
        f"name, or delete this one with `gauss campaign delete {spec.name}`"
    )
    raise CampaignStateError(f"campaign {spec.name!r} exists with another spec ({shown}); {how}")


def campaign_artifact(store: CampaignStore) -> str:
    """One artifact on the run a user launched: every round's metrics and latent map.

    Rounds >= 1 run as sub-flow runs with their own artifacts; this one keeps the whole
    campaign on the parent run's Artifacts tab.
    """
    table = history.history(store)
    units = table.attrs.get("units", {})
    cols = [c for c in table.columns if c != "committed_at"]
    head = [f"{c} ({units[c]})" if c in units else c for c in cols]
    lines = [
        f"# Campaign {store.name}: {len(table)} committed rounds",
        "",
        "| " + " | ".join(head) + " |",
        "|" + "---|" * len(cols),
    ]
    for row in table[cols].itertuples(index=False):
        cells = [_fmt(v, ".2f") if isinstance(v, float) else str(v) for v in row]
        lines.append("| " + " | ".join(cells) + " |")
    lines += ["", "Columns: `gauss campaign history --help`. Per round (sub-flow runs):", ""]
    for r in store.rounds():
        method = r.manifest.get("calculator", {}).get("method", "")
        lines.append(f"- round {r.round}: artifacts `{store.name}-round-{r.round}*`; {method}")
    last = store.last_round()
    plot = store.path / "plots" / f"round-{last:03d}-latent.png"
    if plot.is_file():  # the latest map only: a months-long campaign keeps this small
        lines += ["", f"![round {last} latent map]({_png_data_url(plot)})"]
    return str(
        create_markdown_artifact(
            "\n".join(lines), key=f"{store.name}-campaign", description="whole campaign"
        )
    )


@flow(name="label-proxies", log_prints=True)
def label_proxies(
    n: int = 36000, out: str = "data/proxy_labels.parquet", seed: int = 0, workers: int = 2
) -> dict[str, Any]:
    """Label a seeded corpus sample with the embedded proxy calculator (GFN2-xTB + D4)."""
    from calculators.proxy_xtb import label_corpus_sample

    table = label_corpus_sample(get_settings().corpus, n, Path(out), seed, workers, False)
    ok = int((table["status"] == "ok").sum())
    create_markdown_artifact(
        f"# proxy labels\n{ok} of {len(table)} ok, written to `{out}`; method: "
        f"{table['method'].iloc[0] if len(table) else ''}",
        key="proxy-labels",
    )
    return {"rows": len(table), "ok": ok, "out": out}


@flow(name="train-model", log_prints=True)
def train_model(
    labels: str = "data/proxy_labels_calibrated.parquet",
    out: str = "models/gauss2-calibrated",
    n_unlabelled: int = 20000,
    max_epochs: int = 100,
    seed: int = 0,
) -> dict[str, Any]:
    """Train (or resume) the GAUSS-II VAE on the corpus with proxy labels (GPU when present)."""
    import pandas as pd

    from gauss import corpus
    from gauss.dataset import train_from_corpus
    from gauss.train import TrainConfig

    corpus_df = corpus.load(get_settings().corpus)
    cfg = TrainConfig(max_epochs=max_epochs, seed=seed, progress=False)
    summary, _ = train_from_corpus(corpus_df, pd.read_parquet(labels), Path(out), n_unlabelled, cfg)
    best = summary.get("best", {})
    create_markdown_artifact(
        f"# model {out}\nepochs {summary['epochs']}; best validation: string accuracy "
        f"{_fmt(best.get('val_string_accuracy'), '.3f')}, token accuracy "
        f"{_fmt(best.get('val_token_accuracy'), '.3f')}, proxy R2 {best.get('val_r2')}",
        key="train-model",
    )
    return summary
