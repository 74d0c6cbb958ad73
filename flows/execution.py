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
from typing import TYPE_CHECKING

from campaigns.executors import Executor, LocalExecutor
from flows.settings import Settings, get_settings

if TYPE_CHECKING:
    from flows.profiles import LocalProfile, PbsProfile, SlurmProfile

CHUNK_SIZE = 8  # molecules per Parsl task: amortises task overhead, keeps progress fine-grained


@contextlib.contextmanager
def make_executor(
    profile: str | LocalProfile | SlurmProfile | PbsProfile,
    run_dir: Path,
    settings: Settings | None = None,
    chunk_size: int = CHUNK_SIZE,
) -> Iterator[Executor]:
    """The executor of an execution profile: Parsl (local HTEX, Slurm, PBS), cleaned up after.

    `profile` is a profile name (resolved from the settings' profiles file) or a profile object
    (benchmarks build theirs); GAUSS_EXECUTOR=process gives a plain local process pool instead.
    """
    settings = settings or get_settings()
    if settings.executor == "process":
        yield LocalExecutor(settings.workers or 2)
        return
    from flows.parsl_exec import ParslExecutor

    chosen = resolve_profile(profile, settings) if isinstance(profile, str) else profile
    venv_bin_on_path()
    # Parsl logs every task at DEBUG into run_dir/.../parsl.log; keep it out of flow logs
    logging.getLogger("parsl").propagate = False
    with ParslExecutor(chosen, run_dir, chunk_size=chunk_size) as executor:
        yield executor


def resolve_profile(name: str, settings: Settings) -> LocalProfile | SlurmProfile | PbsProfile:
    """A named profile from GAUSS_PROFILES; `local` also works without a file."""
    from flows.profiles import LocalProfile, ProfileError, load_profiles_file

    if settings.profiles is not None:
        return load_profiles_file(settings.profiles, name)
    if name == "local":
        return LocalProfile(cores=settings.workers or None)
    raise ProfileError(
        f"profile {name!r} needs its settings: point GAUSS_PROFILES at a profiles YAML "
        "(see examples/profiles.yaml)"
    )


def venv_bin_on_path() -> None:
    """Parsl's HTEX starts interchange.py and its workers from PATH: use this interpreter's."""
    bin_dir = str(Path(sys.executable).parent)
    if shutil.which("interchange.py") is None:
        os.environ["PATH"] = os.pathsep.join([bin_dir, os.environ.get("PATH", "")])
