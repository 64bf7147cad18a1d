"""Hashes begun ahead of time: while a command line still loads what it needs to decide
what to check, its archives' hashes already run, each in a process of its own
(:mod:`hash_worker`); :func:`hyperkvasir_cli.core.hashing.hash_file` of the same file,
unchanged (device, inode, size, modification time), with the same algorithms, takes the
result instead of reading the file again.

This module is imported before the command line loads, so it imports little.
"""

from __future__ import annotations

import atexit
import os
import subprocess
import sys
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from hyperkvasir_cli.core.progress import ProgressReporter

# (size, {algorithm: hex digest})
Digests = tuple[int, dict[str, str]]


def _identity(path: Path) -> tuple[int, int, int, int]:
    """What tells that a file is still the one a hash began on."""
    stat = os.stat(path)
    return stat.st_dev, stat.st_ino, stat.st_size, stat.st_mtime_ns


class HeadStart:
    """A hash of one file begun in a process of its own (:mod:`hash_worker`), for
    :func:`hash_file` to take. A process, not a thread: the loading command line then
    never holds up the hash (a thread waited for the interpreter lock after every block
    while modules were imported)."""

    def __init__(self, path: Path, algorithms: Sequence[str]) -> None:
        self.path, self.algorithms = path, tuple(algorithms)
        self.identity = _identity(path)
        worker = Path(__file__).resolve().with_name("hash_worker.py")
        self._process = subprocess.Popen(
            [sys.executable, "-I", "-S", str(worker), str(path), *self.algorithms],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            start_new_session=True,  # Ctrl-C is this program's to handle, not the worker's
        )

    def wait(self, progress: ProgressReporter | None) -> Digests | None:
        """The digest once ready (``progress`` advanced as it gets there), or None when
        the file could not be read or changed while it was hashed (then the caller reads
        it again, and a progress bar may overshoot: a rare case, and only a display)."""
        assert self._process.stdout is not None
        found: Digests | None = None
        reported = 0
        try:
            for line in self._process.stdout:
                kind, *fields = line.decode("utf-8", "replace").split()
                if kind == "p" and progress is not None:
                    progress.advance(int(fields[0]))
                    reported += int(fields[0])
                elif kind == "d" and len(fields) == len(self.algorithms) + 1:
                    size, *hexes = fields
                    found = int(size), dict(zip(self.algorithms, hexes, strict=True))
        finally:
            self.cancel()
        try:
            unchanged = _identity(self.path) == self.identity
        except OSError:
            return None
        if found is None or not unchanged:
            return None
        if progress is not None:
            progress.advance(found[0] - reported)
        return found

    def cancel(self) -> None:
        """Stop the worker (if it still runs) and collect it."""
        if self._process.poll() is None:
            self._process.kill()
        self._process.wait()
        if self._process.stdout is not None:
            self._process.stdout.close()


_head_starts: dict[str, HeadStart] = {}
_head_starts_lock = threading.Lock()


def start_hashing(path: Path, algorithms: Sequence[str] = ("sha256",)) -> None:
    """Begin hashing ``path`` in the background now; a later ``hash_file`` of it, the
    file unchanged, with the same algorithms, takes the result. A file that cannot be
    read is left for that call to find."""
    key = os.path.abspath(path)
    with _head_starts_lock:
        if key in _head_starts:
            return
        try:
            _head_starts[key] = HeadStart(Path(key), algorithms)
        except OSError:
            return
        if len(_head_starts) == 1:
            atexit.register(cancel_head_starts)


def cancel_head_starts() -> None:
    """Stop every head start no one took (the command ended before it needed them)."""
    with _head_starts_lock:
        started = list(_head_starts.values())
        _head_starts.clear()
    for head_start in started:
        head_start.cancel()


def take_head_start(path: Path, algorithms: Sequence[str]) -> HeadStart | None:
    """The head start for this file and these algorithms, once (None: none, or the file
    changed since it began)."""
    with _head_starts_lock:
        started = _head_starts.pop(os.path.abspath(path), None)
    if started is None:
        return None
    try:
        unchanged = _identity(path) == started.identity
    except OSError:
        unchanged = False
    if unchanged and started.algorithms == tuple(algorithms):
        return started
    started.cancel()
    return None
