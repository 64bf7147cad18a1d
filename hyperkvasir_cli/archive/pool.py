"""Worker processes that extract batches of members in parallel, and stop cleanly.

Each worker is a small interpreter (``python -m hyperkvasir_cli.archive.pool``) that
imports only the extraction modules and reads the archive through its own descriptor. It
talks to the parent over two pipes of its own and inherits no other file, so it never holds
the data folder's lock, and when the parent dies its pipe closes and it exits after at most
the member it is writing. Workers run in their own session, so Ctrl-C reaches only the
parent, which then sends each worker SIGTERM: the worker discards the member it was
writing and exits, leaving only complete files under final names.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import traceback
from collections.abc import Iterator
from multiprocessing.connection import Connection, wait
from pathlib import Path
from typing import Any

from hyperkvasir_cli.archive.plan import BatchQueue, MemberTask
from hyperkvasir_cli.archive.stream import CHUNK_SIZE
from hyperkvasir_cli.archive.worker import BatchOutcome, extract_batch
from hyperkvasir_cli.core.errors import ExitCode, HyperkvasirError

STOP_TIMEOUT = 30.0
Batch = list[MemberTask]

# glibc hands a freed buffer above 128 KiB back to the kernel (heap trim or munmap), so a
# fresh worker faulted in every member's read and inflate buffers anew: 330,000 page
# faults for a 1 GiB archive, a third of the run in the kernel. Buffers of up to a few
# chunks now come from a heap that keeps 8 MiB free; the user's own settings win.
# Other C libraries ignore these variables.
ALLOCATOR_ENV = {
    "MALLOC_MMAP_THRESHOLD_": str(4 * CHUNK_SIZE),
    "MALLOC_TRIM_THRESHOLD_": str(8 * CHUNK_SIZE),
}


class WorkerKilled(HyperkvasirError):
    """A worker was killed by a signal from outside; what was extracted is kept (exit 130)."""

    exit_code = ExitCode.INTERRUPTED

    def __init__(self, signal_number: int) -> None:
        try:
            name = signal.Signals(signal_number).name
        except ValueError:
            name = f"signal {signal_number}"
        super().__init__(
            f"an extraction worker was killed by {name}; every file extracted so far is "
            "complete and kept",
            hint="if the system ran out of memory, use fewer --jobs; run the command again to "
            "continue where it stopped",
        )


class WorkerFailed(RuntimeError):
    """A worker crashed or vanished: a bug or the system killed it, not bad input."""


class _Worker:
    def __init__(self, archive: Path, target: Path) -> None:
        task_read, task_write = os.pipe()
        result_read, result_write = os.pipe()
        # The worker must import this very package, also when it runs from a source tree.
        package_parent = str(Path(__file__).resolve().parents[2])
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [package_parent, env.get("PYTHONPATH")]))
        env = {**ALLOCATOR_ENV, **env}
        command = [sys.executable, "-m", __name__, str(task_read), str(result_write)]
        try:
            self.process = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                pass_fds=(task_read, result_write),
                start_new_session=True,
                env=env,
            )
        finally:
            os.close(task_read)
            os.close(result_write)
        self.tasks = Connection(task_write, readable=False)
        self.results = Connection(result_read, writable=False)
        self.tasks.send((archive, target))
        self.batch: Batch | None = None

    def hand_out(self, batch: Batch) -> None:
        self.batch = batch
        self.tasks.send(batch)

    def receive(self) -> BatchOutcome:
        """The outcome of the batch in hand; re-raises the worker's error."""
        self.batch = None
        try:
            kind, payload = self.results.recv()
        except (EOFError, OSError):
            code = self.process.wait()
            if code < 0:  # killed from outside: the OOM killer, an administrator, a limit
                raise WorkerKilled(-code) from None
            raise WorkerFailed(f"an extraction worker exited unexpectedly (code {code})") from None
        if kind == "error":
            raise payload
        if kind == "crash":
            raise WorkerFailed(f"an extraction worker failed:\n{payload}")
        assert isinstance(payload, BatchOutcome)
        return payload

    def stop(self, deadline: float) -> None:
        """Ask the worker to discard what it is writing and exit; kill it if it lingers."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        self.tasks.close()
        try:
            self.process.wait(timeout=max(deadline - time.monotonic(), 0.1))
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.results.close()


class WorkerPool:
    """``workers`` processes extracting from ``archive`` into ``target``; use with ``with``."""

    def __init__(self, archive: Path, target: Path, workers: int) -> None:
        self._workers: list[_Worker] = []
        try:
            for _ in range(workers):
                self._workers.append(_Worker(archive, target))
        except BaseException:
            self.close()
            raise

    @property
    def size(self) -> int:
        return len(self._workers)

    def __enter__(self) -> WorkerPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def run(self, queue: BatchQueue) -> Iterator[tuple[Batch, BatchOutcome]]:
        """Hand out the queue's batches as workers free up; yield each with its outcome.

        The first error of any worker is raised here; :meth:`close` then stops the others.
        """
        for index, worker in enumerate(self._workers):
            _next_batch(worker, queue, index)
        by_connection = {worker.results: index for index, worker in enumerate(self._workers)}
        while busy := [w.results for w in self._workers if w.batch is not None]:
            for ready in wait(busy):
                index = by_connection[ready]  # type: ignore[index]
                worker = self._workers[index]
                batch = worker.batch
                assert batch is not None
                yield batch, worker.receive()
                _next_batch(worker, queue, index)

    def close(self) -> None:
        deadline = time.monotonic() + STOP_TIMEOUT
        for worker in self._workers:
            worker.stop(deadline)
        self._workers = []


def _next_batch(worker: _Worker, queue: BatchQueue, index: int) -> None:
    batch = queue.take(index)
    if batch is not None:
        worker.hand_out(batch)


_stop_requested = False


def _request_stop(signum: int, frame: Any) -> None:
    global _stop_requested
    _stop_requested = True


def serve(tasks: Connection, results: Connection) -> None:
    """The worker's loop: extract each batch received, send back its outcome or error."""
    parent = os.getppid()
    signal.signal(signal.SIGTERM, _request_stop)
    archive, target = tasks.recv()

    def should_stop() -> bool:
        return _stop_requested or os.getppid() != parent

    while not should_stop():
        try:
            batch = tasks.recv()
        except (EOFError, OSError):
            return
        reply: tuple[str, object]
        try:
            reply = ("done", extract_batch(archive, target, batch, should_stop))
        except HyperkvasirError as exc:
            reply = ("error", exc)
        except Exception:
            reply = ("crash", traceback.format_exc())
        try:
            results.send(reply)
        except OSError:
            return


if __name__ == "__main__":
    serve(
        Connection(int(sys.argv[1]), writable=False),
        Connection(int(sys.argv[2]), readable=False),
    )
