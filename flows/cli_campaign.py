"""`gauss campaign …`: create, run and inspect campaigns (history reads the store only)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from flows.settings import get_settings

app = typer.Typer(help="Campaigns: init, run, history, show, export, plot.", no_args_is_help=True)
Format = Annotated[str, typer.Option("--format", help="table or json")]


def _fail(message: str) -> None:
    typer.secho(f"error: {message}", fg=typer.colors.RED, err=True)
    raise typer.Exit(2)


def _store(name: str):
    from storage.store import CampaignStore

    try:
        store = CampaignStore(get_settings().store, name)
    except ValueError as exc:
        _fail(str(exc))
    if not store.exists():
        _fail(f"no campaign {name!r} under {get_settings().store}")
    return store


def _spec(path: Path):
    from campaigns.spec import SpecError, load_spec

    try:
        return load_spec(path)
    except SpecError as exc:
        _fail(str(exc))


@app.command("init")
def init_cmd(spec: Annotated[Path, typer.Argument(help="campaign spec YAML")]) -> None:
    """Create the campaign and its round 0 (the initial set labelled with KD gaps)."""
    from campaigns.rounds import init_campaign
    from campaigns.spec import SpecError
    from flows.context import build_context
    from storage.errors import StoreError

    s = _spec(spec)
    try:
        ctx = build_context(s, get_settings(), need_model=False, progress=typer.echo)
        metrics = init_campaign(ctx)
    except (SpecError, StoreError) as exc:
        _fail(str(exc))
    typer.echo(json.dumps(metrics, indent=2, default=str))


@app.command("run")
def run_cmd(
    spec: Annotated[Path, typer.Argument(help="campaign spec YAML")],
    rounds: Annotated[int, typer.Option(help="rounds to run after round 0")] = 1,
    profile: Annotated[
        str | None, typer.Option(help="execution profile: local, slurm or pbs (default: spec)")
    ] = None,
) -> None:
    """Initialise if needed, then run rounds (a Prefect flow; calculations through Parsl).

    Stops early at the spec's budget or stopping rule. Without PREFECT_API_URL the flow runs
    against a temporary local Prefect server; with it, the runs appear in that server's UI.
    """
    from campaigns.spec import SpecError
    from flows.campaign_flows import run_campaign
    from flows.profiles import ProfileError
    from storage.errors import StoreError

    s = _spec(spec)
    try:
        run_campaign(s, rounds_to_run=rounds, profile=profile)
    except (SpecError, StoreError, ProfileError, ValueError) as exc:
        _fail(str(exc))
    _print_history(_store(s.name), "table")


def _print_history(store, fmt: str) -> None:
    from campaigns.history import history

    table = history(store)
    if fmt == "json":
        typer.echo(table.to_json(orient="records", indent=2))
    else:
        typer.echo(table.to_string(index=False))


@app.command("history")
def history_cmd(name: str, fmt: Format = "table") -> None:
    """A table of committed rounds and their metrics."""
    _print_history(_store(name), fmt)


@app.command("show")
def show_cmd(
    name: str,
    round: Annotated[int, typer.Option("--round", help="round number")],
    fmt: Format = "table",
) -> None:
    """Seeds, candidates and results of one round, as committed."""
    import pandas as pd

    from campaigns.history import show

    try:
        info = show(_store(name), round)
    except ValueError as exc:
        _fail(str(exc))
    if fmt == "json":
        typer.echo(json.dumps(info, indent=2, default=str))
        return
    typer.echo(f"round {round}: seeds {len(info['seeds'])}")
    for smi in info["seeds"]:
        typer.echo(f"  seed {smi}")
    results = pd.DataFrame(info["results"])
    if len(results):
        results["lost"] = results["failed_attempts"].map(len)  # attempts lost to infrastructure
        for column in ("job_id", "node"):  # "-": ran outside any batch job, or not recorded
            if column in results:
                results[column] = results[column].fillna("-")
        cols = ["smiles", "status", "gap_1", "gap_7", "job_id", "node", "lost", "reason"]
        typer.echo(results[[c for c in cols if c in results]].to_string(index=False))


@app.command("export")
def export_cmd(
    name: str,
    round: Annotated[int, typer.Option("--round", help="round number")],
    out: Annotated[Path, typer.Option(help="Parquet file")],
) -> None:
    """Every labelled ligand as of a round (with origin and seed) to Parquet."""
    from campaigns.history import export

    typer.echo(f"wrote {export(_store(name), round, out)}")


@app.command("plot")
def plot_cmd(
    name: str, round: Annotated[int, typer.Option("--round", help="round number")]
) -> None:
    """Latent map and KD-shift PNGs of one round, into the campaign's plots/ folder."""
    from campaigns.history import round_plots

    try:
        for path in round_plots(_store(name), round):
            typer.echo(f"wrote {path}")
    except ValueError as exc:
        _fail(str(exc))
