"""`gauss server`: a Prefect server bound to 127.0.0.1 only, for the UI and deployments."""

from __future__ import annotations

import os
import signal
import sys
from typing import Annotated

import typer

from flows.supervise import run_supervised


def server(
    port: Annotated[int, typer.Option(help="port on 127.0.0.1")] = 4200,
) -> None:
    """Start a local Prefect server (UI + API) on 127.0.0.1 and print its address.

    Ctrl-C or SIGTERM stops it and every process it started (its whole process group).

    Only the loopback address is used: reach it from elsewhere through an SSH tunnel.
    """
    url = f"http://127.0.0.1:{port}"
    typer.echo(f"Prefect UI: {url}   API: {url}/api")
    typer.echo(f"In other shells: export PREFECT_API_URL={url}/api")
    env = dict(
        os.environ, PREFECT_SERVER_ANALYTICS_ENABLED="false", PREFECT_UI_API_URL=f"{url}/api"
    )
    cmd = [
        sys.executable,
        "-m",
        "prefect",
        "server",
        "start",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
    ]
    code = run_supervised(cmd, env)
    raise typer.Exit(0 if code in (128 + signal.SIGINT, 128 + signal.SIGTERM) else code)
