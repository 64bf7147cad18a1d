"""Comparing extracted files with their members (size, then CRC-32), and the worker
program that does it for a large tree in a process of its own.

:func:`compare_file` judges one file. A worker (``python -I -S file_compare.py``, run by
:mod:`hyperkvasir_cli.check.file_workers`) judges batches of files it reads from stdin and
answers on stdout. It imports the standard library only and no module of this package, so
it starts in a few milliseconds; several of them check a tree of 10,000 small files without
sharing one interpreter lock, and each file costs a few system calls and a CRC-32.

Messages both ways are frames: 8 bytes of length (little-endian), then a ``marshal``
payload. The first frame to a worker is ``(base, quick, algorithm)``; each later one is a
batch, a list of ``(path under base, size, crc)``; an empty batch or the end of stdin ends
the worker. For each batch the worker sends ``("p", bytes)`` frames while it reads (every
:data:`PROGRESS_STEP` bytes) and then ``("d", bytes, outcomes)``: one entry per file,
``None`` when the file is as expected and nothing else was asked (see
:func:`compare_file`), else ``(result, reason, found)``.
"""

from __future__ import annotations

import marshal
import mmap
import os
import stat
import sys
import zlib

TYPE_CHECKING = False  # typing and collections cost a worker more to import than its work
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

# Opening a FIFO left where a file should be must not hang the check.
_OPEN_FLAGS = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0)
BUFFER_SIZE = 1024 * 1024
PROGRESS_STEP = 32 * 1024 * 1024
OK_CONTENT = "size and CRC-32 match the central directory"
OK_SIZE = "size matches the central directory"

# (result, reason, found facts)
Outcome = tuple[str, str, dict[str, int | str]]


def new_buffer() -> memoryview:
    """A reusable read buffer: an anonymous mapping, page-aligned, into which the kernel
    copies a little faster than into a bytearray."""
    return memoryview(mmap.mmap(-1, BUFFER_SIZE))


def ok_outcome(size: int, crc: int, quick: bool) -> Outcome:
    """What :func:`compare_file`'s ``None`` stands for: the file is what it should be."""
    if quick:
        return "ok", OK_SIZE, {"size": size}
    return "ok", OK_CONTENT, {"size": size, "crc32": f"{crc:08x}"}


def compare_file(
    path: str,
    size: int,
    crc: int,
    quick: bool,
    algorithm: str | None,
    view: memoryview,
    advance: Callable[[int], None] | None = None,
) -> Outcome | None:
    """Compare the file at ``path`` with a member of ``size`` bytes and CRC-32 ``crc``:
    its size, then (unless ``quick``) its content, read in ``view``-sized blocks.

    None when it matches and no ``algorithm`` digest was asked for (the facts found are
    then those expected: :func:`ok_outcome`); otherwise the outcome. ``advance`` gets the
    bytes read, block by block.
    """
    try:
        if quick:
            return _compare_sizes(os.stat(path), size)
        fd = os.open(path, _OPEN_FLAGS)
    except (FileNotFoundError, NotADirectoryError):
        return "missing", "missing: the file does not exist", {}
    except OSError as exc:
        return "failed", f"cannot read: {exc.strerror or exc}", {}
    try:
        sized = _compare_sizes(os.fstat(fd), size)
        if sized is not None:
            return sized
        return _compare_content(fd, size, crc, algorithm, view, advance)
    except OSError as exc:
        return "failed", f"cannot read: {exc.strerror or exc}", {}
    finally:
        os.close(fd)


def _compare_sizes(status: os.stat_result, size: int) -> Outcome | None:
    if not stat.S_ISREG(status.st_mode):
        return "changed", "changed: not a regular file", {}
    if status.st_size != size:
        reason = f"changed: size expected {size} B, found {status.st_size} B"
        return "changed", reason, {"size": status.st_size}
    return None


def _compare_content(
    fd: int,
    size: int,
    expected_crc: int,
    algorithm: str | None,
    view: memoryview,
    advance: Callable[[int], None] | None,
) -> Outcome | None:
    digest = None
    if algorithm:
        import hashlib  # only then: the worker starts faster without OpenSSL

        digest = hashlib.new(algorithm)
    crc = read = 0
    while count := os.readv(fd, [view]):
        chunk = view[:count]
        crc = zlib.crc32(chunk, crc)
        if digest is not None:
            digest.update(chunk)
        read += count
        if advance is not None:
            advance(count)
    found: dict[str, int | str] = {"size": read, "crc32": f"{crc:08x}"}
    if digest is not None and algorithm:
        found[algorithm] = digest.hexdigest()
    if read != size:
        reason = f"changed: size expected {size} B, found {read} B while reading"
        return "changed", reason, found
    if crc != expected_crc:
        reason = f"changed: CRC-32 expected {expected_crc:08x}, found {crc:08x}"
        return "changed", reason, found
    if digest is not None:
        return "ok", OK_CONTENT, found
    return None


# the worker program ---------------------------------------------------------------------


def read_frame(fd: int) -> Any:
    """The next frame's payload from ``fd``; None at the end of the stream."""
    header = _read_exactly(fd, 8)
    if header is None:
        return None
    body = _read_exactly(fd, int.from_bytes(header, "little"))
    if body is None:
        return None
    return marshal.loads(body)


def write_frame(fd: int, payload: Any) -> None:
    body = marshal.dumps(payload)
    data = memoryview(len(body).to_bytes(8, "little") + body)
    while data:
        data = data[os.write(fd, data) :]


def _read_exactly(fd: int, count: int) -> bytes | None:
    parts = []
    while count:
        part = os.read(fd, min(count, 1 << 20))
        if not part:
            return None
        parts.append(part)
        count -= len(part)
    return b"".join(parts)


def serve(tasks: int, answers: int) -> None:
    """The worker's loop: judge each batch read from ``tasks``, answer on ``answers``."""
    settings = read_frame(tasks)
    if settings is None:
        return
    base, quick, algorithm = settings
    view = new_buffer()
    while batch := read_frame(tasks):
        done = reported = 0

        def advance(count: int) -> None:
            nonlocal done, reported
            done += count
            if done - reported >= PROGRESS_STEP:
                write_frame(answers, ("p", done - reported))
                reported = done

        outcomes = [
            compare_file(f"{base}/{path}", size, crc, quick, algorithm, view, advance)
            for path, size, crc in batch
        ]
        write_frame(answers, ("d", done - reported, outcomes))


if __name__ == "__main__":
    # The checking process gone or stopping: nothing is left to answer. (contextlib
    # would cost the worker more to import than this.)
    try:  # noqa: SIM105
        serve(sys.stdin.fileno(), sys.stdout.fileno())
    except (BrokenPipeError, KeyboardInterrupt):
        pass
