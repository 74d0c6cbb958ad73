"""Durable file writes: a reader sees the old file or the new one, never a torn mix.

Each helper fsyncs the data and then the directory, so a power loss after return cannot undo it.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path


def fsync_dir(directory: Path) -> None:
    """Persist a directory entry change (create, rename, unlink)."""
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_temp(path: Path, data: bytes) -> Path:
    """Write data to a fresh sibling temp file and fsync it."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex}.tmp")
    with open(tmp, "xb") as out:
        out.write(data)
        out.flush()
        os.fsync(out.fileno())
    return tmp


def atomic_replace(path: Path, data: bytes) -> None:
    """Replace `path` with `data` in one os.replace (the commit point of a round)."""
    tmp = _write_temp(path, data)
    try:
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    fsync_dir(path.parent)


def create_once(path: Path, data: bytes) -> None:
    """Create `path` with `data` complete, or raise FileExistsError if it already exists.

    os.link refuses to overwrite, so two racing creators cannot both win and a crash never
    leaves a half-written file under the final name.
    """
    tmp = _write_temp(path, data)
    try:
        os.link(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    fsync_dir(path.parent)
