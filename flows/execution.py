"""The one executor factory: every entry point (CLI, Prefect flows, benchmarks) gets the
executor of an execution profile here, so `campaign init` and scheduled rounds submit alike.

No Prefect here; Parsl is imported only when a Parsl profile is used.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path

from campaigns.executors import Executor, LocalExecutor
from flows.settings import get_settings


@contextlib.contextmanager
def make_executor(profile: str, run_dir: Path) -> Iterator[Executor]:
    """The executor of an execution profile: Parsl (local HTEX, Slurm, PBS), cleaned up after."""
    settings = get_settings()
    if settings.executor == "process":
        yield LocalExecutor(settings.workers or 2)
        return
    from flows.parsl_exec import ParslExecutor
    from flows.profiles import LocalProfile, ProfileError, load_profiles_file

    if settings.profiles is not None:
        chosen = load_profiles_file(settings.profiles, profile)
    elif profile == "local":
        chosen = LocalProfile(cores=settings.workers or None)
    else:
        raise ProfileError(
            f"profile {profile!r} needs its settings: point GAUSS_PROFILES at a profiles YAML "
            "(see examples/profiles.yaml)"
        )
    venv_bin_on_path()
    # Parsl logs every task at DEBUG into run_dir/.../parsl.log; keep it out of flow logs
    logging.getLogger("parsl").propagate = False
    with ParslExecutor(chosen, run_dir, chunk_size=8) as executor:
        yield executor


def venv_bin_on_path() -> None:
    """Parsl's HTEX starts interchange.py and its workers from PATH: use this interpreter's."""
    bin_dir = str(Path(sys.executable).parent)
    if shutil.which("interchange.py") is None:
        os.environ["PATH"] = os.pathsep.join([bin_dir, os.environ.get("PATH", "")])
