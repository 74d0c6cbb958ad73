"""In-progress calculation journal: finished-but-uncommitted results survive an orchestrator kill.

One append-only JSON-lines file per round, fsync'ed after every batch. A kill mid-write can only
tear the last line; that line is ignored on read and cut off before the next append (its
calculation simply runs again). The store clears a round's journal once the round commits.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from storage.atomic import fsync_dir
from storage.errors import StoreCorrupted


def prefer_ok_unique(records: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """One record per key, in first-seen order: an ok record beats a failed one, else the first."""
    chosen: dict[str, dict[str, Any]] = {}
    for rec in records:
        key = rec["key"]
        old = chosen.get(key)
        if old is None or (old.get("status") != "ok" and rec.get("status") == "ok"):
            chosen[key] = dict(rec)
    return list(chosen.values())


def _encode(records: Iterable[Mapping[str, Any]]) -> bytes:
    lines = []
    for rec in records:
        if not isinstance(rec, Mapping) or not isinstance(rec.get("key"), str):
            raise ValueError(f"journal record needs a string 'key': {str(rec)[:120]}")
        lines.append(json.dumps(dict(rec), sort_keys=True, separators=(",", ":")))
    return "".join(line + "\n" for line in lines).encode()


def _cut_torn_tail(path: Path) -> None:
    """Drop a partial last line left by a kill mid-append, so later lines stay parseable."""
    with open(path, "r+b") as fh:
        size = fh.seek(0, os.SEEK_END)
        if size == 0:
            return
        fh.seek(size - 1)
        if fh.read(1) == b"\n":
            return
        fh.seek(0)
        data = fh.read()
        fh.truncate(data.rfind(b"\n") + 1)
        fh.flush()
        os.fsync(fh.fileno())


class Journal:
    """Per-round JSON-lines spool files in one directory (the caller holds the writer lock)."""

    def __init__(self, directory: Path):
        self.directory = directory

    def path(self, round_no: int) -> Path:
        return self.directory / f"round-{round_no:06d}.jsonl"

    def append(self, round_no: int, records: Iterable[Mapping[str, Any]]) -> int:
        """Append records durably; returns how many were written."""
        data = _encode(records)
        if not data:
            return 0
        self.directory.mkdir(parents=True, exist_ok=True)
        path = self.path(round_no)
        fresh = not path.exists()
        if not fresh:
            _cut_torn_tail(path)
        with open(path, "ab") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        if fresh:
            fsync_dir(self.directory)
        return data.count(b"\n")

    def read(self, round_no: int) -> list[dict[str, Any]]:
        """Records of the round, one per key (see prefer_ok_unique); [] if none."""
        path = self.path(round_no)
        if not path.exists():
            return []
        lines = path.read_bytes().split(b"\n")
        records = []
        for number, line in enumerate(lines[:-1], start=1):  # lines[-1]: b"" or a torn tail
            try:
                records.append(json.loads(line))
            except ValueError as exc:
                raise StoreCorrupted(f"journal {path} line {number} is not JSON: {exc}") from exc
        return prefer_ok_unique(records)

    def clear(self, round_no: int) -> None:
        path = self.path(round_no)
        if path.exists():
            path.unlink()
            fsync_dir(self.directory)
