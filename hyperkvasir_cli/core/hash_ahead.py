"""Hashes begun ahead of time: while a command line still loads what it needs to decide
what to check, its archives' hashes already run, each in a process of its own
(:mod:`hash_worker`); :func:`hyperkvasir_cli.core.hashing.hash_file` of the same file,
unchanged (device, inode, size, modification time), with the same algorithms, takes the
result instead of reading the file again.

On Linux, from a program with no other thread yet (the console script at its start), the
process is a fork of this one: it begins reading at once, where a new interpreter would
take a few tens of milliseconds to start (``subprocess`` itself costs a few to import).
Elsewhere it is ``python -I -S hash_worker.py``.

This module is imported before the command line loads, so it imports little.
"""

from __future__ import annotations

import atexit
import os
import signal
import sys
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import IO, TYPE_CHECKING, NoReturn, Protocol

if TYPE_CHECKING:
    from hyperkvasir_cli.core.progress import ProgressReporter

# (size, {algorithm: hex digest})
Digests = tuple[int, dict[str, str]]


def _identity(path: Path) -> tuple[int, int, int, int]:
    """What tells that a file is still the one a hash began on."""
    stat = os.stat(path)
    return stat.st_dev, stat.st_ino, stat.st_size, stat.st_mtime_ns


class _Worker(Protocol):
    """What a head start needs of its process (a ``subprocess.Popen`` is one)."""

    stdout: IO[bytes] | None

    def poll(self) -> int | None: ...
    def kill(self) -> None: ...
    def wait(self) -> int: ...


class _ForkedWorker:
    """A fork of this process that runs :func:`hash_worker.hash_to` and exits: no new
    interpreter to start, nothing of this one's to run at its exit (``os._exit``)."""

    def __init__(self, path: Path, algorithms: Sequence[str]) -> None:
        read_end, write_end = os.pipe()
        self.returncode: int | None = None
        self.pid = os.fork()
        if self.pid == 0:  # pragma: no cover - the child, which never returns
            _hash_in_child(str(path), list(algorithms), write_end)
        os.close(write_end)
        self.stdout: IO[bytes] | None = os.fdopen(read_end, "rb")

    def poll(self) -> int | None:
        if self.returncode is None:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                self.returncode = os.waitstatus_to_exitcode(status)
        return self.returncode

    def kill(self) -> None:
        if self.returncode is None:
            os.kill(self.pid, signal.SIGKILL)

    def wait(self) -> int:
        if self.returncode is None:
            _, status = os.waitpid(self.pid, 0)
            self.returncode = os.waitstatus_to_exitcode(status)
        return self.returncode


def _hash_in_child(path: str, algorithms: list[str], write_end: int) -> NoReturn:
    """The forked worker: a session of its own (Ctrl-C is the parent's to handle), none of
    the parent's files but the pipe it reports on, as fd 3 (a pipe the user reads, or a
    lock, must not stay open because of it), then the hash; it never returns."""
    code = 1
    try:
        os.setsid()
        os.dup2(write_end, 3)  # first: the pipe may have taken fd 0, 1 or 2 if one was closed
        devnull = os.open(os.devnull, os.O_RDWR)
        for fd in (0, 1, 2):
            os.dup2(devnull, fd)
        os.closerange(4, os.sysconf("SC_OPEN_MAX"))  # the read end, devnull, all the rest
        from hyperkvasir_cli.core.hash_worker import hash_to

        hash_to(path, algorithms, 3)
        code = 0
    except BaseException:  # the parent gets no result and reads the file itself
        pass
    finally:
        os._exit(code)


def _can_fork() -> bool:
    """A fork is safe here: Linux (elsewhere system libraries may not survive a fork
    without exec), and no other thread that could hold a lock at the moment of the fork."""
    return sys.platform.startswith("linux") and threading.active_count() == 1


def _spawn(path: Path, algorithms: Sequence[str]) -> _Worker:
    """A new interpreter running hash_worker.py (where forking is not safe)."""
    import subprocess

    worker = Path(__file__).resolve().with_name("hash_worker.py")
    return subprocess.Popen(
        [sys.executable, "-I", "-S", str(worker), str(path), *algorithms],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        start_new_session=True,  # Ctrl-C is this program's to handle, not the worker's
    )


class HeadStart:
    """A hash of one file begun in a process of its own (:mod:`hash_worker`), for
    :func:`hash_file` to take. A process, not a thread: the loading command line then
    never holds up the hash (a thread waited for the interpreter lock after every block
    while modules were imported)."""

    def __init__(self, path: Path, algorithms: Sequence[str]) -> None:
        self.path, self.algorithms = path, tuple(algorithms)
        self.identity = _identity(path)
        self._process: _Worker = (
            _ForkedWorker(path, self.algorithms) if _can_fork() else _spawn(path, self.algorithms)
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
