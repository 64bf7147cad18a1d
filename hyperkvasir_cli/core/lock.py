"""The data folder's lock: one writer at a time; and the short lock that the config file
and the records each take around a read-modify-write (:func:`file_lock`).

The lock is an OS-level file lock (``flock``), so the kernel releases it when its holder
dies: a lock left by a killed run is taken over at once, never obeyed forever. Who holds
it (pid, command, since when) is written beside it for the error message.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
from collections.abc import Callable, Iterator
from datetime import datetime, timezone
from pathlib import Path

import filelock

from hyperkvasir_cli.core.clock import iso_utc
from hyperkvasir_cli.core.errors import ConfigError, LockedError


def _holder_description(info_path: Path) -> str:
    try:
        info = json.loads(info_path.read_text("utf-8"))
        return f"pid {info['pid']} ({info['command']}, since {info['since']})"
    except (OSError, ValueError, KeyError, TypeError):
        return "another process"


@contextlib.contextmanager
def data_lock(
    lock_path: Path, wait_seconds: float = 0.0, on_wait: Callable[[str], None] | None = None
) -> Iterator[None]:
    """Hold the lock for the duration of the block; LockedError when it cannot be had.

    When another run holds it and ``wait_seconds`` > 0, ``on_wait`` hears who and for how
    long this run will wait, before it waits."""
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    info_path = lock_path.with_name(lock_path.name + ".info")
    lock = filelock.FileLock(str(lock_path), timeout=0)
    try:
        try:
            lock.acquire()
        except filelock.Timeout:
            if wait_seconds <= 0:
                raise
            if on_wait is not None:
                holder = _holder_description(info_path)
                on_wait(f"waiting up to {wait_seconds:g} s for the lock held by {holder}")
            lock.acquire(timeout=wait_seconds)
    except filelock.Timeout:
        holder = _holder_description(info_path)
        if wait_seconds > 0:
            raise LockedError(
                f"the data folder {lock_path.parent} is still locked by {holder} after "
                f"waiting {wait_seconds:g} s",
                hint="that run is still busy; wait longer (a larger --wait-lock), or check "
                "that it is not stuck",
            ) from None
        raise LockedError(
            f"the data folder {lock_path.parent} is locked by {holder}",
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


@contextlib.contextmanager
def file_lock(lock_path: Path, timeout: float, what: str, hint: str) -> Iterator[None]:
    """Hold ``lock_path`` (an OS-level file lock, its folder made when missing) around a
    short read-modify-write, waiting up to ``timeout`` seconds for another run to release
    it; ConfigError "``what`` stayed locked by another run for ``timeout`` s" with
    ``hint`` when it did not."""
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    lock = filelock.FileLock(str(lock_path))
    try:
        lock.acquire(timeout=timeout)
    except filelock.Timeout:
        raise ConfigError(
            f"{what} stayed locked by another run for {timeout:g} s", hint=hint
        ) from None
    try:
        yield
    finally:
        lock.release()
