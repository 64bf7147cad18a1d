"""The sha256 of a download, computed while it runs: a thread that follows the file's
contiguous prefix as the connections fill it, so the digest is ready when the last byte
lands.

The bytes are hashed where they already are, in the page cache: each window of the file
is mapped (no copy into the process) and handed to hashlib, which releases the GIL while
it hashes, so the connections go on receiving meanwhile. Once hashed, a window's write-back
to disk is started (Linux), so the sync before the final rename finds little left to write.
"""

from __future__ import annotations

import hashlib
import mmap
import os
import sys
import threading
from collections.abc import Callable

from hyperkvasir_cli.transfer.connection import SharedState
from hyperkvasir_cli.transfer.segments import contiguous_end, is_finished

HASH_WINDOW = 16 * 1024 * 1024
# Hashing waits until this much is ready (or the file is complete): fewer, larger updates.
HASH_AT_LEAST = 4 * 1024 * 1024
# How often the hasher looks for more (it is woken at once when a piece ends).
HASH_POLL = 0.01
_POPULATE = getattr(mmap, "MAP_POPULATE", 0)


def _writeback_starter() -> Callable[[int, int, int], None] | None:
    """``sync_file_range(fd, offset, length, SYNC_FILE_RANGE_WRITE)``: start writing a
    range to disk without waiting for it (Linux only; elsewhere None)."""
    if not sys.platform.startswith("linux"):
        return None
    import ctypes

    try:
        function = ctypes.CDLL(None, use_errno=True).sync_file_range
    except (AttributeError, OSError):
        return None
    function.argtypes = [ctypes.c_int, ctypes.c_int64, ctypes.c_int64, ctypes.c_uint]
    write = 2  # SYNC_FILE_RANGE_WRITE

    def start(fd: int, offset: int, length: int) -> None:
        function(fd, offset, length, write)  # a hint: failure only means no head start

    return start


class PrefixHasher:
    """sha256 of the file, following the contiguous prefix as it grows."""

    def __init__(self, fd: int, shared: SharedState) -> None:
        self.fd, self.s = fd, shared
        self._hash = hashlib.sha256()
        self._position = 0
        self._done = threading.Event()
        self._writeback = _writeback_starter()
        self._buffer: bytearray | None = None  # for files that cannot be mapped

    def run(self) -> None:
        while True:
            with self.s.lock:
                target = contiguous_end(self.s.sidecar.segments)
                finished = is_finished(self.s.sidecar.segments)
            ready = target - self._position
            if ready >= HASH_AT_LEAST or (finished and ready > 0):
                self._hash_to(target)
                continue
            if finished:
                self._done.set()
                return
            if self.s.stop.is_set():
                return
            self.s.data_ready.wait(HASH_POLL)
            self.s.data_ready.clear()

    def _hash_to(self, target: int) -> None:
        while self._position < target and not self.s.stop.is_set():
            length = min(HASH_WINDOW, target - self._position)
            self._hash_window(self._position, length)
            if self._writeback is not None:
                self._writeback(self.fd, self._position, length)
            self._position += length

    def _hash_window(self, start: int, length: int) -> None:
        skip = start % mmap.ALLOCATIONGRANULARITY
        try:
            window = mmap.mmap(
                self.fd,
                skip + length,
                flags=mmap.MAP_SHARED | _POPULATE,
                prot=mmap.PROT_READ,
                offset=start - skip,
            )
        except (OSError, ValueError):
            self._hash_read(start, length)
            return
        with window, memoryview(window) as view:
            self._hash.update(view[skip : skip + length])

    def _hash_read(self, start: int, length: int) -> None:
        """The same bytes read into a reused buffer, where mapping is not possible."""
        if self._buffer is None:
            self._buffer = bytearray(HASH_WINDOW)
        with memoryview(self._buffer) as view:
            while length > 0:
                count = os.preadv(self.fd, [view[: min(length, len(view))]], start)
                if count <= 0:
                    raise OSError(f"the partial file ended at byte {start}")
                self._hash.update(view[:count])
                start += count
                length -= count

    def hexdigest(self) -> str:
        if not self._done.is_set():
            raise RuntimeError("hash requested before the file was complete")
        return self._hash.hexdigest()
