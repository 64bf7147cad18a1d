"""A program that hashes one file and reports on stdout: run as
``python -I -S hash_worker.py PATH ALGORITHM...`` by :mod:`hyperkvasir_cli.core.hash_ahead`,
or its :func:`hash_to` called in a fork of the console script (on Linux).

It imports the standard library only (it starts in a few milliseconds) and runs beside the
program that started it without sharing its interpreter lock: a hash in a thread of the
loading command line waited for the lock after every block while the command imported
its modules. A reader thread fills one buffer while the main thread hashes the other.

Lines on stdout: ``p BYTES`` as the bytes are hashed (every :data:`REPORT_STEP`), then
``d SIZE HEX...`` (one digest per algorithm, in order), or ``e MESSAGE`` when the file
cannot be read. When stdout closes (the program that asked is gone), it stops.
"""

from __future__ import annotations

import hashlib
import mmap
import os
import sys
import threading

READ_SIZE = 1024 * 1024
_BUFFERS = 3
REPORT_STEP = 32 * 1024 * 1024


def hash_to(path: str, algorithms: list[str], out: int) -> None:
    """Hash ``path`` with every algorithm, writing progress and the result to ``out``."""
    digests = [hashlib.new(name) for name in algorithms]
    free = [memoryview(mmap.mmap(-1, READ_SIZE)) for _ in range(_BUFFERS)]
    full: list[tuple[memoryview, int] | OSError] = []
    ready = threading.Condition()

    def read_ahead(fd: int) -> None:
        try:
            while True:
                with ready:
                    ready.wait_for(lambda: bool(free))
                    buffer = free.pop()
                count = os.readv(fd, [buffer])
                with ready:
                    full.append((buffer, count))
                    ready.notify_all()
                if not count:
                    return
        except OSError as exc:
            with ready:
                full.append(exc)
                ready.notify_all()

    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_BINARY", 0))
    except OSError as exc:
        _say(out, f"e {exc}")
        return
    if hasattr(os, "posix_fadvise"):
        try:  # noqa: SIM105 (contextlib costs more to import than this)
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_SEQUENTIAL)
        except OSError:  # only a hint (a pipe, say, takes none): read without it
            pass
    threading.Thread(target=read_ahead, args=(fd,), daemon=True).start()
    size = reported = 0
    while True:
        with ready:
            ready.wait_for(lambda: bool(full))
            item = full.pop(0)
        if isinstance(item, OSError):
            _say(out, f"e {item}")
            return
        buffer, count = item
        if not count:
            break
        chunk = buffer[:count]
        for digest in digests:
            digest.update(chunk)
        chunk.release()
        with ready:
            free.append(buffer)
            ready.notify_all()
        size += count
        if size - reported >= REPORT_STEP:
            _say(out, f"p {size - reported}")
            reported = size
    os.close(fd)
    _say(out, " ".join(["d", str(size), *(d.hexdigest() for d in digests)]))


def _say(out: int, line: str) -> None:
    os.write(out, (line.replace("\n", " ") + "\n").encode("utf-8", "backslashreplace"))


if __name__ == "__main__":
    # The program that asked is gone (stdout closed) or stopping: nothing left to say.
    # (contextlib would cost more to import than this.)
    try:  # noqa: SIM105
        hash_to(sys.argv[1], sys.argv[2:], sys.stdout.fileno())
    except (BrokenPipeError, KeyboardInterrupt):
        pass
