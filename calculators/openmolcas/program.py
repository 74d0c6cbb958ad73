"""How OpenMolcas' ``pymolcas`` driver is launched, and what its banner says.

Facts this module relies on (checked with the Debian package, OpenMolcas 22.10, see
docs/openmolcas.md):

* ``/usr/bin/pymolcas`` starts with ``#!/usr/bin/env python3``. Launched from the project's
  virtual environment that picks the venv's Python, whose pyparsing is too new for pymolcas'
  input parser (``TypeError: pyparsing_unicode() takes no arguments``). So pymolcas is run
  explicitly under the interpreter it was installed for (``/usr/bin/python3`` for a package in
  ``/usr/bin``), never through its shebang.
* ``MOLCAS_WORKDIR`` must exist before the run ("parnell failed to create a WorkDir"); the
  scratch of a run is ``$MOLCAS_WORKDIR/<project>``, the project being the input's stem.
* ``MOLCAS_MEM`` is in MB; threads follow ``OMP_NUM_THREADS`` (and OpenBLAS' own variable).

The command is ``env -u PYTHONPATH -u PYTHONHOME VAR=... <python> <pymolcas> <input>``: an
argument list, no shell, so it runs the same through SubprocessLauncher and ParslLauncher.
"""

from __future__ import annotations

import functools
import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

PROGRAM = "pymolcas"  # the name launchers' `executables` mappings know it by
ENV_PROGRAM = "env"  # what is really executed: env sets the variables, then runs Python
DEFAULT_PYMOLCAS = "/usr/bin/pymolcas"
PYMOLCAS_ENV_VAR = "GAUSS_PYMOLCAS"  # optional override of the pymolcas path
SCRATCH_DIR = "molcas_scratch"  # private MOLCAS_WORKDIR inside the calculation's workdir
_LEAKY_ENV = ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")


@dataclass(frozen=True)
class MolcasResources:
    """Per-task resources of one pymolcas run (not part of any calculation key)."""

    mem_mb: int = 2000  # MOLCAS_MEM
    threads: int = 1  # OMP_NUM_THREADS
    keep_scratch: bool = False  # MOLCAS_KEEP_WORKDIR: integrals/orbitals are large

    def __post_init__(self) -> None:
        if int(self.mem_mb) < 64:
            raise ValueError(f"MOLCAS_MEM of {self.mem_mb} MB is too small to run anything")
        if int(self.threads) < 1:
            raise ValueError(f"threads must be >= 1, got {self.threads}")


def pymolcas_path(override: str | None = None) -> str:
    """The pymolcas script: explicit override, $GAUSS_PYMOLCAS, PATH, then /usr/bin/pymolcas."""
    if override:
        return override
    if os.environ.get(PYMOLCAS_ENV_VAR):
        return os.environ[PYMOLCAS_ENV_VAR]
    found = shutil.which(PROGRAM)
    return found or DEFAULT_PYMOLCAS


def interpreter_for(script: str) -> str:
    """The Python that `script` was installed for, read from its shebang.

    ``#!/path/python`` -> that path. ``#!/usr/bin/env python3`` -> the ``python3`` beside the
    script (a conda/venv bin directory) when there is one, else ``/usr/bin/python3`` (the
    distribution's, which is what a package under /usr/bin was built for).
    """
    try:
        with open(script, "rb") as fh:
            first = fh.readline().decode(errors="replace").strip()
    except OSError:
        return "/usr/bin/python3"
    if not first.startswith("#!"):
        return "/usr/bin/python3"
    parts = first[2:].split()
    if not parts:
        return "/usr/bin/python3"
    if Path(parts[0]).name != "env":
        return parts[0]
    name = next((p for p in parts[1:] if not p.startswith("-")), "python3")
    beside = Path(script).resolve().parent / name
    if beside.exists() and Path(script).resolve().parent != Path("/usr/bin"):
        return str(beside)
    return f"/usr/bin/{name}"


def scratch_dir(workdir: Path) -> Path:
    """The private MOLCAS_WORKDIR of a calculation (absolute: workers cd elsewhere first)."""
    return Path(workdir).resolve() / SCRATCH_DIR


def molcas_command(
    input_name: str,
    workdir: Path,
    resources: MolcasResources = MolcasResources(),  # noqa: B008 - frozen, immutable
    pymolcas: str | None = None,
) -> tuple[str, list[str]]:
    """(program, args) for Launcher.launch(program, args, workdir, stdout).

    Runs pymolcas on `input_name` (relative to workdir) with a private MOLCAS_WORKDIR under
    workdir (created here: pymolcas will not create it), MOLCAS_MEM and thread counts from
    `resources`, under the interpreter it was built for. `pymolcas` overrides the script's path
    (e.g. a launcher's ``executables["pymolcas"]``).
    """
    if "/" in input_name or not input_name.strip():
        raise ValueError(f"input name {input_name!r} must be a plain file name in workdir")
    scratch = scratch_dir(workdir)
    scratch.mkdir(parents=True, exist_ok=True)
    script = pymolcas_path(pymolcas)
    threads = str(int(resources.threads))
    args = [arg for name in _LEAKY_ENV for arg in ("-u", name)]
    args += [
        f"MOLCAS_MEM={int(resources.mem_mb)}",
        f"MOLCAS_WORKDIR={scratch}",
        f"MOLCAS_KEEP_WORKDIR={'YES' if resources.keep_scratch else 'NO'}",
        f"OMP_NUM_THREADS={threads}",
        f"OPENBLAS_NUM_THREADS={threads}",
        f"MKL_NUM_THREADS={threads}",
        interpreter_for(script),
        script,
        input_name,
    ]
    return ENV_PROGRAM, args


def molcas_available(pymolcas: str | None = None) -> bool:
    """True when pymolcas and its interpreter exist here (for pytest skip conditions)."""
    script = pymolcas_path(pymolcas)
    if not Path(script).is_file():
        return False
    return Path(interpreter_for(script)).exists() and shutil.which(ENV_PROGRAM) is not None


def unavailable_reason(pymolcas: str | None = None) -> str:
    """Why molcas_available() is False, for a skip message."""
    script = pymolcas_path(pymolcas)
    if not Path(script).is_file():
        return f"pymolcas not found ({script}); install it with `apt-get install -y openmolcas`"
    return f"the interpreter {interpreter_for(script)} of {script} is missing"


# --- the banner ------------------------------------------------------------------------

_BANNER = {
    # "version: v22.10 ?" (the "?" marks a build outside a git checkout)
    "openmolcas": re.compile(r"^.*\bversion:\s+(v?\d+\.\d+[^\s?]*)", re.MULTILINE),
    "openmolcas_tag": re.compile(r"^\s*(?:\S+\s+)?tag:[ \t]*(\S+)[ \t]*$", re.MULTILINE),
    "pymolcas": re.compile(r"pymolcas version\s+(\S+)"),
    "pymolcas_build": re.compile(r"^\s*\*\s+build\s+([0-9a-f]+)\s*\*", re.MULTILINE),
}
_LIBXC = re.compile(r"Using Libxc version:\s+(\S+)")


def program_versions(text: str, head_lines: int = 200) -> dict[str, str]:
    """Versions from the pymolcas banner of a real output; {} when there is none.

    The banner (first ~50 lines) prints ``version: v22.10 ?``, ``tag:`` and a box with
    ``pymolcas version py2.23`` / ``build <hash>``; only the head is searched so a later
    "version" word is never mistaken for it. A KS-DFT run adds ``Using Libxc version: X``.
    """
    head = "\n".join(text.splitlines()[:head_lines])
    found = {}
    for name, pattern in _BANNER.items():
        match = pattern.search(head)
        if match:
            found[name] = match.group(1)
    libxc = _LIBXC.search(text)
    if libxc:
        found["libxc"] = libxc.group(1)
    return found


@functools.lru_cache(maxsize=8)
def installed_versions(pymolcas: str | None = None) -> dict[str, str]:
    """Versions of the local installation, from ``pymolcas --banner`` (0.1 s); {} if none.

    For method strings written before a run; a stored result takes its versions from the
    banner of the output that produced it (program_versions), which wins where they differ.
    """
    if not molcas_available(pymolcas):
        return {}
    script = pymolcas_path(pymolcas)
    env = {k: v for k, v in os.environ.items() if k not in _LEAKY_ENV}
    try:
        proc = subprocess.run(  # argument list, never a shell
            [interpreter_for(script), script, "--banner"],
            capture_output=True,
            text=True,
            timeout=60,
            env=env,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return {}
    return program_versions(proc.stdout)


def openmolcas_label(versions: dict[str, str]) -> str:
    """'OpenMolcas v22.10' (or 'OpenMolcas (version unknown)') for method strings."""
    return f"OpenMolcas {versions.get('openmolcas', '(version unknown)')}"
