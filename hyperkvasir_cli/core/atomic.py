"""Writes that either happen whole or not at all (temp file, fsync, rename)."""

from __future__ import annotations

import contextlib
import os
import tempfile
import threading
from pathlib import Path


def fsync_directory(directory: Path) -> None:
    """Make a rename in ``directory`` durable; a no-op where directories cannot be opened."""
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


_umask_lock = threading.Lock()
_umask_cache: list[int] = []


def current_umask() -> int:
    """The process's umask, read without changing it where the system reports it (Linux,
    in /proc). Elsewhere it is set and restored once, under a lock, and remembered: a
    process that changes its umask later is not expected there."""
    with contextlib.suppress(OSError, ValueError):
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    with _umask_lock:
        if not _umask_cache:
            mask = os.umask(0o022)
            os.umask(mask)
            _umask_cache.append(mask)
        return _umask_cache[0]


def new_file_mode() -> int:
    """The mode ``open(path, "w")`` gives a new file: 0o666 less the umask (0644 under
    umask 022), so colleagues on a shared server read what the program wrote."""
    return 0o666 & ~current_umask()


def atomic_write_bytes(path: Path, data: bytes, durable: bool = True) -> None:
    """Replace ``path`` with ``data``. On failure the old file is untouched.

    The new file has the mode any new file gets (umask honoured, see
    :func:`new_file_mode`), not the private 0600 of a temporary file.
    ``durable`` also syncs the data and the folder, so the new content survives a power
    cut; without it the replacement is still atomic for every other process."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        if hasattr(os, "fchmod"):
            os.fchmod(fd, new_file_mode())
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            if durable:
                os.fsync(handle.fileno())
        os.replace(tmp_name, path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp_name)
        if exc.filename is None:
            # A write or flush names no file: say which one could not be written.
            raise OSError(exc.errno, exc.strerror, str(path)) from exc
        raise
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp_name)
        raise
    if durable:
        fsync_directory(path.parent)


def atomic_write_text(path: Path, text: str, durable: bool = True) -> None:
    atomic_write_bytes(path, text.encode("utf-8"), durable)
