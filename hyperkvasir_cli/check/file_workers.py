"""Worker processes that compare extracted files with their members, in batches.

Threads would share one interpreter lock: per small file, Python's share of the work
(open, stat, read, CRC-32 of ~100 KB, close, the outcome) kept two threads at the speed of
one, and the archive's hash running beside them in the same process waited for the lock
after every block. Each worker is a small interpreter (``python -I -S``) running
:mod:`hyperkvasir_cli.check.file_compare`, which imports the standard library only.

Batches are handed out as workers finish them (two in hand each, so none waits for the
next), which keeps the workers busy alike however the machine's other load falls. Workers
only read; they run in their own session (Ctrl-C reaches only this process, which then
kills them) and exit when their stdin closes, so they never outlive the check.
"""

from __future__ import annotations

import queue
import subprocess
import sys
import threading
from collections.abc import Callable, Sequence
from pathlib import Path

from hyperkvasir_cli.check import file_compare
from hyperkvasir_cli.check.file_compare import Outcome, read_frame, write_frame

# A batch is this many files, or fewer that add up to BATCH_BYTES: small files are handed
# out in dozens, videos a few at a time.
BATCH_FILES = 64
BATCH_BYTES = 64 * 1024 * 1024
_IN_HAND = 2

Job = tuple[str, int, int]  # path under the base folder, size, CRC-32


class WorkerFailed(RuntimeError):
    """A worker exited without answering: a bug, or the system killed it."""


def batches(jobs: Sequence[Job]) -> list[tuple[int, list[Job]]]:
    """``jobs`` cut into batches, each with the index of its first job."""
    cut: list[tuple[int, list[Job]]] = []
    start = 0
    while start < len(jobs):
        end, size = start, 0
        while end < len(jobs) and end - start < BATCH_FILES:
            if end > start and size >= BATCH_BYTES:
                break
            size += jobs[end][1]
            end += 1
        cut.append((start, list(jobs[start:end])))
        start = end
    return cut


def compare_in_workers(
    base: str,
    jobs: Sequence[Job],
    quick: bool,
    algorithm: str | None,
    workers: int,
    advance: Callable[[int], None],
) -> list[Outcome | None]:
    """:func:`file_compare.compare_file` of every job (``base/path``), in ``workers``
    processes; outcomes in the order of ``jobs``. ``advance`` gets the bytes read (from
    several threads, one per worker)."""
    work: queue.SimpleQueue[tuple[int, list[Job]]] = queue.SimpleQueue()
    for batch in batches(jobs):
        work.put(batch)
    outcomes: list[Outcome | None] = [None] * len(jobs)
    errors: list[BaseException] = []
    processes = [_start_worker() for _ in range(max(1, min(workers, len(jobs))))]

    def feed(process: subprocess.Popen[bytes]) -> None:
        try:
            _serve(process, (base, quick, algorithm), work, outcomes, advance)
        except OSError as exc:  # its pipe broke: the worker is gone
            errors.append(WorkerFailed(f"a worker checking extracted files is gone ({exc})"))
        except BaseException as exc:  # re-raised by the calling thread
            errors.append(exc)

    threads = [threading.Thread(target=feed, args=(p,), daemon=True) for p in processes]
    finished = False
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        finished = not errors
    finally:
        for process in processes:
            _stop(process, finished)
    if errors:
        raise errors[0]
    return outcomes


def _start_worker() -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-I", "-S", str(Path(file_compare.__file__).resolve())],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        bufsize=0,
        start_new_session=True,
    )


def _serve(
    process: subprocess.Popen[bytes],
    settings: tuple[str, bool, str | None],
    work: queue.SimpleQueue[tuple[int, list[Job]]],
    outcomes: list[Outcome | None],
    advance: Callable[[int], None],
) -> None:
    """Keep one worker busy until the work runs out; store its outcomes."""
    assert process.stdin is not None and process.stdout is not None
    tasks, answers = process.stdin.fileno(), process.stdout.fileno()
    write_frame(tasks, settings)
    in_hand: list[int] = []

    def hand_out() -> None:
        try:
            start, batch = work.get_nowait()
        except queue.Empty:
            return
        write_frame(tasks, batch)
        in_hand.append(start)

    for _ in range(_IN_HAND):
        hand_out()
    while in_hand:
        answer = read_frame(answers)
        if not isinstance(answer, tuple):
            code = process.wait()
            raise WorkerFailed(f"a worker checking extracted files exited (code {code})")
        if answer[0] == "p":
            advance(answer[1])
            continue
        _, read, found = answer
        start = in_hand.pop(0)
        outcomes[start : start + len(found)] = found
        advance(read)
        hand_out()
    write_frame(tasks, [])


def _stop(process: subprocess.Popen[bytes], finished: bool) -> None:
    """Let a worker that was told the work is over exit; kill one still busy (after an
    error or Ctrl-C here): it only reads, so nothing is lost."""
    try:
        process.wait(timeout=5.0 if finished else 0)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
    for pipe in (process.stdin, process.stdout):
        if pipe is not None:
            pipe.close()
