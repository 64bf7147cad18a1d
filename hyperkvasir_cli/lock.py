"""The data folder's lock: one writer at a time.

The lock is an OS-level file lock (``flock``), so the kernel releases it when its holder
dies: a lock left by a killed run is taken over at once, never obeyed forever. Who holds
it (pid, command, since when) is written beside it for the error message.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path

import filelock

from hyperkvasir_cli.clock import iso_utc
from hyperkvasir_cli.errors import LockedError


def _holder_description(info_path: Path) -> str:
    try:
        info = json.loads(info_path.read_text("utf-8"))
        return f"pid {info['pid']} ({info['command']}, since {info['since']})"
    except (OSError, ValueError, KeyError, TypeError):
        return "another process"


@contextlib.contextmanager
def data_lock(lock_path: Path, wait_seconds: float = 0.0) -> Iterator[None]:
    """Hold the lock for the duration of the block; LockedError when it cannot be had."""
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    info_path = lock_path.with_name(lock_path.name + ".info")
    lock = filelock.FileLock(str(lock_path), timeout=wait_seconds if wait_seconds > 0 else 0)
    try:
        lock.acquire()
    except filelock.Timeout:
        waited = f" after waiting {wait_seconds:g} s" if wait_seconds > 0 else ""
        raise LockedError(
            f"the data folder {lock_path.parent} is locked by {_holder_description(info_path)}"
            f"{waited}",
            hint="wait for that run to finish, or pass --wait-lock SECONDS to wait for it",
        ) from None
    try:
        info = {
            "pid": os.getpid(),
            "command": " ".join(["hyperkvasir", *sys.argv[1:]])[:200],
            "since": iso_utc(datetime.now(timezone.utc)),
        }
        with contextlib.suppress(OSError):
            info_path.write_text(json.dumps(info), "utf-8")
        yield
    finally:
        with contextlib.suppress(OSError):
            info_path.unlink()
        lock.release()
