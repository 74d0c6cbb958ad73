"""`gauss campaign …`: create, run and inspect campaigns (history reads the store only)."""

from __future__ import annotations

import json
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from flows.cli_errors import ExitCode, fail, fail_on
from flows.settings import get_settings

app = typer.Typer(help="Campaigns: init, run, history, show, export, plot.", no_args_is_help=True)


class OutputFormat(StrEnum):
    table = "table"
    json = "json"


Format = Annotated[OutputFormat, typer.Option("--format", help="table or json")]


def _store(name: str):
    from storage.store import CampaignStore

    try:
        store = CampaignStore(get_settings().store, name)
    except ValueError as exc:
        fail(str(exc))
    if not store.exists():
        fail(f"no campaign {name!r} under {get_settings().store}")
    return store


def _spec(path: Path):
    from campaigns.spec import SpecError, load_spec
    from flows.settings import with_path_defaults

    try:
        return with_path_defaults(load_spec(path), get_settings())
    except SpecError as exc:
        fail(str(exc))


Profile = Annotated[
    str | None, typer.Option(help="execution profile: local, slurm or pbs (default: spec)")
]


@app.command("init")
def init_cmd(
    spec: Annotated[Path, typer.Argument(help="campaign spec YAML")], profile: Profile = None
) -> None:
    """Create the campaign and its round 0 (the initial set labelled with KD gaps).

    Calculations go through the execution profile's executor, as in `run` (on a cluster: batch
    jobs, never the login node); a profile without its settings is refused before anything runs.
    """
    from campaigns.rounds import init_campaign
    from campaigns.spec import SpecError
    from flows import preflight
    from flows.context import build_context
    from flows.execution import make_executor
    from flows.profiles import ProfileError
    from storage.errors import StoreError
    from storage.store import CampaignStore

    s = _spec(spec)
    settings = get_settings()
    try:
        preflight.check(s, settings)
        run_dir = CampaignStore(settings.store, s.name).path / "runinfo"
        with make_executor(profile or s.profile, run_dir) as executor:
            ctx = build_context(s, settings, executor, need_model=False, progress=typer.echo)
            metrics = init_campaign(ctx)
    except (SpecError, StoreError, ProfileError) as exc:
        fail_on(exc)
    typer.echo(json.dumps(metrics, indent=2, default=str))


@app.command("run")
def run_cmd(
    spec: Annotated[Path, typer.Argument(help="campaign spec YAML")],
    rounds: Annotated[int, typer.Option(help="rounds to run after round 0")] = 1,
    profile: Profile = None,
) -> None:
    """Initialise if needed, then run rounds (a Prefect flow; calculations through Parsl).

    Stops early at the spec's budget or stopping rule. Without PREFECT_API_URL the flow runs
    against a temporary local Prefect server; with it, the runs appear in that server's UI.
    """
    from campaigns.spec import SpecError
    from flows import preflight
    from flows.campaign_flows import refuse_changed_spec, run_campaign
    from flows.profiles import ProfileError
    from storage.errors import StoreError
    from storage.store import CampaignStore

    s = _spec(spec)
    try:
        preflight.check(s, get_settings())
        _refuse_if_locked(s.name)
        store = CampaignStore(get_settings().store, s.name)
        if store.exists():
            refuse_changed_spec(store, s)
        run_campaign(s, rounds_to_run=rounds, profile=profile)
    except (SpecError, StoreError, ProfileError, ValueError) as exc:
        fail_on(exc)
    _print_history(_store(s.name), "table")


def _refuse_if_locked(name: str) -> None:
    """A campaign another writer holds is refused here, before a flow run (and its traceback)."""
    from storage.store import CampaignStore

    store = CampaignStore(get_settings().store, name)
    if store.exists():
        with store.writer():
            pass


def _print_history(store, fmt: OutputFormat) -> None:
    from campaigns.history import MISSING, history, with_units

    table = history(store)
    if fmt == "json":
        typer.echo(table.to_json(orient="records", indent=2))
        return
    typer.echo(with_units(table).to_string(index=False, na_rep=MISSING))
    for update in store.spec_updates():
        changed = ", ".join(
            f"{k} {c['old']!r} -> {c['new']!r}" for k, c in update["changes"].items()
        )
        typer.echo(f"spec updated at {update['at']} after round {update['after_round']}: {changed}")


def _history_help() -> str:
    from campaigns.history import definitions

    lines = definitions().splitlines()
    return (
        "A table of committed rounds and their metrics (JSON: null for undefined; table: "
        "n/a). Columns:\n\n" + "\n\n".join(lines)
    )


@app.command("history", help=_history_help())
def history_cmd(name: str, fmt: Format = OutputFormat.table) -> None:
    _print_history(_store(name), fmt)


@app.command("show")
def show_cmd(
    name: str,
    round: Annotated[int, typer.Option("--round", help="round number")],
    fmt: Format = OutputFormat.table,
) -> None:
    """Seeds, candidates and results of one round, as committed."""
    import pandas as pd

    from campaigns.history import MISSING, show, with_units

    try:
        info = show(_store(name), round)
    except ValueError as exc:
        fail(str(exc))
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
        cols = ["smiles", "status", "gap_1", "gap_7", "method", "job_id", "node", "lost"]
        shown = results[[c for c in cols + ["reason"] if c in results]]
        typer.echo(with_units(shown).to_string(index=False, na_rep=MISSING))
        typer.echo(
            "gap_i: energy of Kramers doublet i+1 above the ground doublet; lost: attempts "
            "lost to infrastructure; job_id/node '-': ran outside a batch job"
        )


@app.command("export")
def export_cmd(
    name: str,
    round: Annotated[int, typer.Option("--round", help="round number")],
    out: Annotated[Path, typer.Option(help="Parquet file")],
) -> None:
    """Every labelled ligand as of a round (with origin and seed) to Parquet."""
    from campaigns.history import export
    from storage.errors import StoreError

    try:
        typer.echo(f"wrote {export(_store(name), round, out)}")
    except (ValueError, StoreError) as exc:
        fail_on(exc)


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
        fail(str(exc))


@app.command("update")
def update_cmd(
    spec: Annotated[Path, typer.Argument(help="the campaign's spec YAML, edited")],
) -> None:
    """Apply the spec's changes to a stored campaign when they do not change the science.

    Updatable: budget.*, stopping.*, profile, and corpus/model paths that point to the same
    file (same sha256 as recorded). Anything else (sampling, acquisition, calculators, initial
    set, seeds, rng_seed) is refused: start a new campaign under another name, or delete this
    one with `gauss campaign delete NAME`. Each update is recorded and shown by `history`.
    """
    from campaigns.spec import classify_changes, spec_changes
    from storage.errors import StoreError

    s = _spec(spec)
    store = _store(s.name)
    changes = spec_changes(store.spec(), s.model_dump(mode="json"))
    if not changes:
        typer.echo(f"campaign {s.name!r}: nothing to update")
        return
    updatable, moved, science = classify_changes(changes)
    if science:
        shown = ", ".join(f"{k} ({changes[k][0]!r} -> {changes[k][1]!r})" for k in science)
        fail(
            f"campaign {s.name!r}: these fields change the science and cannot be updated: "
            f"{shown}. Start a new campaign (another `name:`), or delete this one with "
            f"`gauss campaign delete {s.name}`.",
            ExitCode.CONFLICT,
        )
    for field, (old, new) in moved.items():
        _check_same_file(store, field, old, new)
    try:
        update = store.update_spec({**updatable, **moved})
    except StoreError as exc:
        fail_on(exc)
    for field, change in update["changes"].items():
        typer.echo(f"{s.name}: {field}: {change['old']!r} -> {change['new']!r}")


def _check_same_file(store, field: str, old, new) -> None:
    """A moved corpus/model must be the very file the campaign used (sha256 as recorded)."""
    from gauss.corpus import file_sha256

    new_path = Path(str(new))
    if not new_path.is_file():
        fail(f"{field}: {new_path} does not exist")
    recorded = [r.manifest.get(f"{field}_sha256") for r in store.rounds()]
    recorded = [h for h in recorded if h]
    if not recorded and Path(str(old)).is_file():
        recorded = [file_sha256(Path(str(old)))]
    if not recorded:
        fail(f"{field}: no recorded sha256 to check {new_path} against", ExitCode.CONFLICT)
    if file_sha256(new_path) != recorded[-1]:
        fail(
            f"{field}: {new_path} is not the file this campaign used (sha256 differs): "
            "a different corpus/model changes the science; start a new campaign",
            ExitCode.CONFLICT,
        )


@app.command("delete")
def delete_cmd(
    name: str,
    yes: Annotated[bool, typer.Option("--yes", help="do not ask for confirmation")] = False,
) -> None:
    """Delete a campaign and every round of it (asks you to type its name unless --yes)."""
    from storage.errors import StoreError

    store = _store(name)
    if not yes:
        rounds = len(store.rounds())
        typed = typer.prompt(f"delete campaign {name!r} ({rounds} rounds)? type its name")
        if typed != name:
            fail("not confirmed; nothing deleted", ExitCode.USAGE)
    try:
        store.delete()
    except StoreError as exc:
        fail_on(exc)
    typer.echo(f"deleted campaign {name!r}")
