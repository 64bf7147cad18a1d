"""Streaming file hashes: flat memory, and reading overlapped with hashing.

A reader thread fills one buffer while the calling thread hashes the other (both the read
and hashlib's update release the GIL), so a large file costs about as long as hashing
alone, not hashing plus reading.

A hash may also be started ahead of time, in a process of its own, while the program is
still loading what it needs to decide what to check (:mod:`hash_ahead`): :func:`hash_file`
of the same file, unchanged, with the same algorithms then takes that result instead of
reading the file again.
"""

from __future__ import annotations

import hashlib
import mmap
import queue
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from hyperkvasir_cli.core.hash_ahead import take_head_start
from hyperkvasir_cli.core.progress import ProgressReporter, SilentProgress

READ_SIZE = 4 * 1024 * 1024
_BUFFERS = 3


@dataclass(frozen=True)
class FileDigest:
    size: int
    digests: dict[str, str]


def _read_ahead(
    path: Path,
    free: queue.Queue[mmap.mmap],
    full: queue.Queue[tuple[mmap.mmap, int] | BaseException],
) -> None:
    try:
        with path.open("rb", buffering=0) as handle:
            while True:
                buffer = free.get()
                count = handle.readinto(buffer)
                full.put((buffer, count or 0))
                if not count:
                    return
    except BaseException as exc:  # handed to the hashing thread, which raises it
        full.put(exc)


def hash_file(
    path: Path, algorithms: Sequence[str] = ("sha256",), progress: ProgressReporter | None = None
) -> FileDigest:
    """Read ``path`` once through every algorithm. Always reads the file in this run (never
    a result kept from an earlier one; a hash this run started ahead of time is taken when
    the file has not changed since it began). Raises OSError when it cannot be read.
    ``progress`` gets ``advance`` calls only, so several files can share one task."""
    started = take_head_start(path, algorithms)
    if started is not None:
        found = started.wait(progress)
        if found is not None:
            return FileDigest(*found)
    return _hash_file(path, algorithms, progress.advance if progress is not None else None)


def _hash_file(
    path: Path, algorithms: Sequence[str], advance: Callable[[int], None] | None
) -> FileDigest:
    digests = [hashlib.new(name) for name in algorithms]
    free: queue.Queue[mmap.mmap] = queue.Queue()
    full: queue.Queue[tuple[mmap.mmap, int] | BaseException] = queue.Queue()
    # Anonymous mappings are page-aligned: the kernel copies into them a little faster.
    for _ in range(_BUFFERS):
        free.put(mmap.mmap(-1, READ_SIZE))
    reader = threading.Thread(target=_read_ahead, args=(path, free, full), daemon=True)
    reader.start()
    size = 0
    while True:
        item = full.get()
        if isinstance(item, BaseException):
            raise item
        buffer, count = item
        if not count:
            break
        with memoryview(buffer) as view:
            chunk = view[:count]
            for digest in digests:
                digest.update(chunk)
            chunk.release()
        free.put(buffer)
        size += count
        if advance is not None:
            advance(count)
    reader.join()
    return FileDigest(
        size, {name: d.hexdigest() for name, d in zip(algorithms, digests, strict=True)}
    )


def sha256_file(
    path: Path, progress: ProgressReporter | None = None, label: str | None = None
) -> str:
    """The sha256 of a whole file, with a progress task of its own."""
    reporter = progress or SilentProgress()
    reporter.start(label or f"hashing {path.name}", path.stat().st_size)
    try:
        return hash_file(path, ("sha256",), reporter).digests["sha256"]
    finally:
        reporter.finish()
