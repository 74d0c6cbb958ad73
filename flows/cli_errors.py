"""One rule for how the `gauss` CLI fails: a message on stderr and an exit code per kind.

| code | meaning |
|---|---|
| 0 | done |
| 1 | a bug: an unexpected exception (its traceback is printed) |
| 2 | usage error: unknown option, bad choice, missing argument (Click's own code) |
| 3 | bad input data: invalid SMILES or spec, missing or unreadable file, unknown campaign |
| 4 | a calculation ran and failed (the row or result says why) |
| 5 | campaign state conflict: locked by another writer, already initialised, spec differs |
| 6 | environment: execution profile without settings, program not installed |
"""

from __future__ import annotations

from enum import IntEnum
from typing import NoReturn

import click
import typer


class ExitCode(IntEnum):
    OK = 0
    BUG = 1
    USAGE = 2
    BAD_INPUT = 3
    CALCULATION_FAILED = 4
    CONFLICT = 5
    ENVIRONMENT = 6


def fail(message: str, code: ExitCode = ExitCode.BAD_INPUT) -> NoReturn:
    """Print `error: message` on stderr (no traceback) and exit with the code's number."""
    typer.secho(f"error: {message}", fg=typer.colors.RED, err=True)
    raise typer.Exit(int(code))


def usage(message: str) -> NoReturn:
    """A usage error (exit 2), like Click's own for a bad option; `--help` tells the rest."""
    ctx = click.get_current_context(silent=True)
    hint = f" (see `{ctx.command_path} --help`)" if ctx is not None else ""
    fail(f"{message}{hint}", ExitCode.USAGE)


def code_for(exc: BaseException) -> ExitCode:
    """The exit code of a domain error raised below the CLI."""
    from campaigns.spec import CampaignStateError
    from flows.profiles import ProfileError
    from storage.errors import CampaignExists, CampaignLocked, RoundConflict

    if isinstance(exc, CampaignLocked | CampaignExists | RoundConflict | CampaignStateError):
        return ExitCode.CONFLICT
    if isinstance(exc, ProfileError):
        return ExitCode.ENVIRONMENT
    return ExitCode.BAD_INPUT


def fail_on(exc: BaseException) -> NoReturn:
    fail(str(exc), code_for(exc))
