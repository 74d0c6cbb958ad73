"""Run a child service in its own process group and stop the whole group with us.

`gauss server` starts `prefect server start`, which starts its own children (uvicorn, services).
A plain subprocess.call left them serving after SIGTERM to the wrapper; here SIGINT/SIGTERM are
forwarded to the child's process group, which gets `grace_s` to stop before SIGKILL.
"""

from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import Mapping, Sequence


def run_supervised(
    cmd: Sequence[str], env: Mapping[str, str] | None = None, grace_s: float = 20.0
) -> int:
    """Run cmd until it exits or we are signalled; returns its exit code (ours on a signal)."""
    proc = subprocess.Popen(list(cmd), env=dict(env) if env else None, start_new_session=True)
    received: list[int] = []

    def forward(signum, _frame) -> None:
        received.append(signum)
        _signal_group(proc, signal.SIGTERM if signum == signal.SIGTERM else signal.SIGINT)

    previous = {s: signal.signal(s, forward) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        while True:
            try:
                code = proc.wait(timeout=grace_s if received else None)
                break
            except subprocess.TimeoutExpired:
                _signal_group(proc, signal.SIGKILL)
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
        _signal_group(proc, signal.SIGKILL)  # children the leader left behind
    return 128 + received[0] if received else code


def _signal_group(proc: subprocess.Popen, signum: int) -> None:
    try:
        os.killpg(proc.pid, signum)
    except ProcessLookupError:
        pass
