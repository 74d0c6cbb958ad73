"""One writer per campaign: a non-blocking fcntl.flock on a lock file in the campaign directory.

The kernel drops a flock when its holder dies, so a crashed orchestrator never leaves a stale lock
behind; the pid/host written into the file are only there to name the holder in the error. The
descriptor is opened close-on-exec, so programs the orchestrator launches do not inherit it (a
fork without exec would, and would keep the campaign locked while it lives).
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
import time
from pathlib import Path

from storage.errors import CampaignLocked


def _holder_info() -> bytes:
    stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    info = {"pid": os.getpid(), "host": socket.gethostname(), "since": stamp}
    return json.dumps(info).encode()


def _read_holder(fd: int) -> dict[str, object] | None:
    """Best effort: the holder may not have written its details yet."""
    try:
        raw = os.pread(fd, 4096, 0)
        info = json.loads(raw) if raw else None
    except (OSError, ValueError):
        return None
    return info if isinstance(info, dict) else None


class WriterLock:
    """Exclusive, non-blocking, re-entrant (within one object) writer lock of one campaign."""

    def __init__(self, path: Path, campaign: str):
        self.path = path
        self.campaign = campaign
        self._fd: int | None = None
        self._depth = 0

    @property
    def held(self) -> bool:
        return self._fd is not None

    def acquire(self) -> None:
        """Take the lock or raise CampaignLocked naming the holder; nested calls just count."""
        if self._fd is not None:
            self._depth += 1
            return
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _read_holder(fd)
            os.close(fd)
            raise CampaignLocked(self.campaign, holder) from None
        except BaseException:
            os.close(fd)
            raise
        os.ftruncate(fd, 0)
        os.pwrite(fd, _holder_info(), 0)
        self._fd, self._depth = fd, 1

    def release(self) -> None:
        """Drop one level; the last one clears the holder details and unlocks."""
        if self._fd is None:
            return
        self._depth -= 1
        if self._depth > 0:
            return
        fd, self._fd = self._fd, None
        try:
            os.ftruncate(fd, 0)
        finally:
            os.close(fd)  # closing the last descriptor releases the flock

    def __enter__(self) -> WriterLock:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()
