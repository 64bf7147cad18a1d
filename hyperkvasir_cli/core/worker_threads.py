"""Threads for read-only checks: an ordered parallel map, a background task, one progress
task that many threads and phases share, and a reusable read buffer per thread.

Threads suffice because the heavy calls (file reads, hashlib updates, zlib.crc32 and
inflate on large buffers) release the GIL. Workers are daemon threads: the checks only
read, so an interrupted run may exit at once instead of waiting for a 30 GB hash.
"""

from __future__ import annotations

import mmap
import queue
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Generic, TypeVar

from hyperkvasir_cli.core.progress import ProgressReporter

# Large enough that hashlib and zlib release the GIL and syscalls are rare, small enough
# to stay in the CPU caches. Measured: 1 MiB matches a plain read() loop; 64 KiB is slower.
READ_BUFFER_SIZE = 1024 * 1024
# Files handed to a worker at a time: thousands of small files should not each pay a
# hand-off, and the last batches should still spread over every worker.
MAX_BATCH = 64

T = TypeVar("T")
R = TypeVar("R")

_buffers = threading.local()


def read_buffer() -> memoryview:
    """This thread's reusable read buffer. It is page-aligned (an anonymous mapping): the
    kernel copies into aligned memory measurably faster than into a bytearray."""
    view: memoryview | None = getattr(_buffers, "view", None)
    if view is None:
        view = memoryview(mmap.mmap(-1, READ_BUFFER_SIZE))
        _buffers.view = view
    return view


def run_in_threads(func: Callable[[T], R], items: Iterable[T], jobs: int) -> list[R]:
    """``[func(x) for x in items]`` computed by ``jobs`` threads; results in input order.

    An exception in ``func`` stops the other workers after their current batch and is
    re-raised here.
    """
    work = list(items)
    if jobs <= 1 or len(work) <= 1:
        return [func(x) for x in work]
    size = max(1, min(MAX_BATCH, len(work) // (jobs * 8)))
    batches: queue.SimpleQueue[tuple[int, list[T]]] = queue.SimpleQueue()
    count = 0
    for count, start in enumerate(range(0, len(work), size), start=1):
        batches.put((count - 1, work[start : start + size]))
    results: list[list[R]] = [[] for _ in range(count)]
    errors: list[BaseException] = []

    def worker() -> None:
        while not errors:
            try:
                index, batch = batches.get_nowait()
            except queue.Empty:
                return
            try:
                results[index] = [func(x) for x in batch]
            except BaseException as exc:  # re-raised in the calling thread
                errors.append(exc)

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(min(jobs, count))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]
    return [result for batch_results in results for result in batch_results]


class Background(Generic[R]):
    """``func()`` running in a daemon thread; :meth:`result` waits for it (or re-raises)."""

    def __init__(self, func: Callable[[], R]) -> None:
        self._func = func
        self._result: list[R] = []
        self._error: list[BaseException] = []
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            self._result.append(self._func())
        except BaseException as exc:  # re-raised by result()
            self._error.append(exc)

    def result(self) -> R:
        self._thread.join()
        if self._error:
            raise self._error[0]
        return self._result[0]


class SharedProgress:
    """A ProgressReporter that worker threads and concurrent phases may share.

    A phase that starts while another runs joins the one task shown (totals add up, unless
    the whole work was ``planned`` up front) instead of replacing it; the task finishes
    when the last phase does. Within
    :meth:`held`, phases that run one after another also join one task, which finishes
    when the block ends: one start line in logs for one command's work. The task is
    called ``label`` when given, else after the phases.
    """

    def __init__(
        self, inner: ProgressReporter, label: str | None = None, planned: int | None = None
    ) -> None:
        self._inner = inner
        self._label = label
        self._lock = threading.Lock()
        self._labels: list[str] = []
        self._active = 0
        self._holds = 0
        self._open = False  # the inner task is started and not yet finished
        self._total: int | None = None
        self._done = 0
        # The whole work, known before the first phase: shown from the start, so that the
        # total never grows as later phases join (their own totals are then not added).
        self._planned = planned

    @contextmanager
    def held(self) -> Iterator[None]:
        """Keep the task open between phases until the block ends."""
        with self._lock:
            self._holds += 1
        try:
            yield
        finally:
            with self._lock:
                self._holds -= 1
                self._finish_if_idle()

    def start(self, label: str, total: int | None, completed: int = 0) -> None:
        with self._lock:
            if not self._open:
                self._labels, self._total, self._done = [], None, 0
            self._active += 1
            self._labels.append(label)
            if self._planned is not None:
                self._total = self._planned
            elif total is not None:
                self._total = (self._total or 0) + total
            self._done += completed
            shown = self._label or " + ".join(self._labels)
            if self._open:
                self._inner.extend(shown, self._total, self._done)
            else:
                self._open = True
                self._inner.start(shown, self._total, self._done)

    def extend(self, label: str, total: int | None, completed: int) -> None:
        """More work for the phase that is running: it adds to the one task shown."""
        with self._lock:
            if label not in self._labels:
                self._labels.append(label)
            if total is not None and self._planned is None:
                self._total = (self._total or 0) + total
            self._done += completed
            self._inner.extend(self._label or " + ".join(self._labels), self._total, self._done)

    def advance(self, amount: int) -> None:
        with self._lock:
            self._done += amount
            self._inner.advance(amount)

    def finish(self) -> None:
        with self._lock:
            self._active = max(self._active - 1, 0)
            self._finish_if_idle()

    def _finish_if_idle(self) -> None:
        if self._active == 0 and self._holds == 0 and self._open:
            self._open = False
            if self._planned is not None and self._done != self._total:
                # The plan was an estimate (a selection, a refused member): the closing
                # line says what was done, as 100%.
                self._total = self._done
                self._inner.extend(self._label or " + ".join(self._labels), self._done, self._done)
            self._inner.finish()

    def note(self, message: str) -> None:
        with self._lock:
            self._inner.note(message)

    def info(self, message: str) -> None:
        with self._lock:
            self._inner.info(message)

    def warn(self, message: str) -> None:
        with self._lock:
            self._inner.warn(message)
