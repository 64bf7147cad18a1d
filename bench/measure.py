"""Timing and peak memory of one command, and medians over repeated runs.

Every command runs under ``bench/launcher.py``, which forks it, times it and reads
``os.wait4`` for it (see that file for why the benchmark does not fork commands itself).
Memory, as measured here (Linux):

- ``peak_rss``: ``ru_maxrss`` from ``wait4`` on the command's process. Linux folds the peak
  of every child the process waited for into its own, so for
  ``bash -c 'curl ... && sha256sum ...'`` this is the largest *single* process of the tree
  (bash, curl or sha256sum), never a sum. A process starts at its parent's resident size
  at fork, so no command reports less than the launcher's few MB (see :func:`memory_floor`).
- ``peak_tree_pss``: the sum of PSS (proportional set size: shared pages split between the
  processes sharing them) over the command's process tree, sampled every 100 ms. This
  catches a worker pool whose processes are each small but add up. A peak between two
  samples is missed, so it is a lower bound.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

LAUNCHER = Path(__file__).with_name("launcher.py")
SAMPLE_INTERVAL = 0.1
TIMEOUT = 900.0  # seconds; a hung command must not hang the whole run
STDOUT_LIMIT = 64 << 20  # `--json` over 10,662 files prints a few MB
STDERR_TAIL = 4096


@dataclass(frozen=True)
class Run:
    """One finished command."""

    argv: tuple[str, ...]
    seconds: float
    exit_code: int
    peak_rss: int  # bytes, largest single process of the tree
    peak_tree_pss: int  # bytes, sampled sum over the tree; 0 when never sampled
    max_processes: int
    timed_out: bool
    stdout: str
    stderr: str

    @property
    def succeeded(self) -> bool:
        return self.exit_code == 0

    @property
    def peak_memory(self) -> int:
        return max(self.peak_rss, self.peak_tree_pss)

    def failure(self) -> str:
        """One line saying how the command failed, for the notes column."""
        program = Path(self.argv[0]).name
        if self.timed_out:
            return f"`{program}` still ran after {TIMEOUT:g} s and was killed"
        if self.exit_code < 0:
            return f"`{program}` killed by signal {-self.exit_code}"
        return f"`{program}` exited {self.exit_code}: {_last_words(self.stderr)}"


_BOX_DRAWING = " │╭╮╰╯─"


def _last_words(stderr: str) -> str:
    """The line of ``stderr`` that says what went wrong (`error:` lines first)."""
    lines = [line.strip(_BOX_DRAWING) for line in stderr.splitlines()]
    said = [line for line in lines if line and not line.startswith(("Usage:", "Try "))]
    errors = [line for line in said if line.startswith("error:")]
    return (errors or said or ["no output"])[-1]


def _children_by_parent() -> dict[int, list[int]]:
    children: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            stat = Path(entry.path, "stat").read_text()
        except OSError:
            continue  # the process ended while we looked
        # The command name may hold spaces and parentheses; fields resume after the last ")".
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry.name))
    return children


def _process_tree(root: int) -> list[int]:
    children = _children_by_parent()
    tree, pending = [], [root]
    while pending:
        pid = pending.pop()
        tree.append(pid)
        pending.extend(children.get(pid, []))
    return tree


def _pss_bytes(pid: int) -> int:
    try:
        text = Path(f"/proc/{pid}/smaps_rollup").read_text()
    except OSError:
        return 0
    for line in text.splitlines():
        if line.startswith("Pss:"):
            return int(line.split()[1]) * 1024
    return 0


def _kill_command(launcher: int) -> None:
    """SIGKILL every process of the command (a pipeline's too), not the launcher."""
    for pid in _process_tree(launcher)[1:]:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


class _TreeSampler(threading.Thread):
    """Samples the command's summed PSS; kills the command once ``kill_when()`` holds or
    it runs past :data:`TIMEOUT`."""

    def __init__(self, launcher: int, kill_when: Callable[[], bool] | None) -> None:
        super().__init__(daemon=True)
        self.launcher = launcher
        self.kill_when = kill_when
        self.deadline = time.monotonic() + TIMEOUT
        self.timed_out = False
        self.peak_pss = 0
        self.max_processes = 1
        self._finished = threading.Event()

    def run(self) -> None:
        while not self._finished.wait(SAMPLE_INTERVAL):
            command = _process_tree(self.launcher)[1:]  # the launcher itself is not measured
            self.max_processes = max(self.max_processes, len(command))
            self.peak_pss = max(self.peak_pss, sum(_pss_bytes(pid) for pid in command))
            if self.kill_when is not None and self.kill_when():
                _kill_command(self.launcher)
                self.kill_when = None
            if not self.timed_out and time.monotonic() > self.deadline:
                _kill_command(self.launcher)
                self.timed_out = True

    def stop(self) -> None:
        self._finished.set()
        self.join()


def _read_back(handle: IO[bytes], limit: int, tail: bool) -> str:
    size = handle.seek(0, os.SEEK_END)
    handle.seek(max(size - limit, 0) if tail else 0)
    return handle.read(limit).decode("utf-8", "replace")


def _launch(
    argv: Sequence[str],
    report: Path,
    streams: tuple[IO[bytes], IO[bytes]],
    env: Mapping[str, str] | None,
    cwd: Path | None,
    kill_when: Callable[[], bool] | None,
) -> _TreeSampler:
    """Run ``argv`` under the launcher to the end; the sampler holds what it saw."""
    launcher = [sys.executable, "-I", "-S", str(LAUNCHER), str(report), *argv]
    out, err = streams
    process = subprocess.Popen(
        launcher, stdout=out, stderr=err, stdin=subprocess.DEVNULL, env=env, cwd=cwd
    )
    sampler = _TreeSampler(process.pid, kill_when)
    sampler.start()
    try:
        process.wait()
    except BaseException:
        _kill_command(process.pid)
        process.wait()
        raise
    finally:
        sampler.stop()
    return sampler


def run_command(
    argv: Sequence[str],
    *,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    kill_when: Callable[[], bool] | None = None,
) -> Run:
    """Run ``argv`` to the end and measure it; a failing command is a result, not an error.

    A program that cannot be started exits 127. ``kill_when`` is polled with the memory
    samples; once it returns True the command gets SIGKILL and the run reports exit -9.
    """
    with (
        tempfile.TemporaryDirectory() as scratch,
        tempfile.TemporaryFile() as out,
        tempfile.TemporaryFile() as err,
    ):
        report = Path(scratch) / "report"
        sampler = _launch(argv, report, (out, err), env, cwd, kill_when)
        exit_code, seconds, max_rss_kib = report.read_text().split()
        return Run(
            argv=tuple(argv),
            seconds=float(seconds),
            exit_code=int(exit_code),
            peak_rss=int(max_rss_kib) * 1024,
            peak_tree_pss=sampler.peak_pss,
            max_processes=sampler.max_processes,
            timed_out=sampler.timed_out,
            stdout=_read_back(out, STDOUT_LIMIT, tail=False),
            stderr=_read_back(err, STDERR_TAIL, tail=True),
        )


def memory_floor() -> int:
    """The least peak memory any command can report: ``true`` run under the launcher."""
    return run_command(["true"]).peak_rss


@dataclass(frozen=True)
class Sample:
    """Repeated runs of one command: the median time, the worst memory, or why it failed."""

    runs: tuple[Run, ...]
    failure: str | None = None

    @property
    def available(self) -> bool:
        return self.failure is None and bool(self.runs)

    @property
    def seconds(self) -> float:
        return statistics.median(run.seconds for run in self.runs)

    @property
    def peak_memory(self) -> int:
        return max(run.peak_memory for run in self.runs)

    def spread_text(self) -> str | None:
        """``min-max s`` over the runs (None for fewer than two)."""
        if len(self.runs) < 2:
            return None
        times = [run.seconds for run in self.runs]
        return f"{min(times):.2f}-{max(times):.2f} s"

    @property
    def pool_note(self) -> str | None:
        """Says so when a worker pool made the tree's sum the larger memory figure."""
        worst = max(self.runs, key=lambda run: run.peak_memory)
        if worst.max_processes > 1 and worst.peak_tree_pss > worst.peak_rss:
            return f"memory: {worst.max_processes} processes, summed PSS"
        return None


def unavailable(reason: str) -> Sample:
    return Sample(runs=(), failure=reason)


Task = Callable[[], Run]
Check = Callable[[Run], str | None]


@dataclass(frozen=True)
class Contender:
    """One command of a row: how to run it once (setup included, untimed), what a good run
    must show beyond exit 0 (``check`` returns why not, or None), and which programs it
    needs installed."""

    task: Task
    check: Check | None = None
    tools: tuple[str, ...] = ()

    def attempt(self) -> tuple[Run, str | None]:
        """One run, and why it does not count (None when it does); its stdout is dropped."""
        run = self.task()
        problem = run.failure() if not run.succeeded else self._check(run)
        return dataclasses.replace(run, stdout=""), problem

    def _check(self, run: Run) -> str | None:
        return self.check(run) if self.check else None


def measure_round_robin(
    contenders: Mapping[str, Contender], *, repeat: int, budget: float, min_rounds: int = 1
) -> dict[str, Sample]:
    """Run every contender once per round, in turn, so a pair shares the machine's state.

    Each round starts with the next contender, so none always runs first (right after the
    previous round's writes) or always last. Rounds stop after ``repeat`` or once
    ``budget`` seconds are spent, but not before ``min_rounds``. A contender that fails is
    not run again; its sample carries the reason.
    """
    runs: dict[str, list[Run]] = {name: [] for name in contenders}
    failures: dict[str, str] = {}
    started = time.perf_counter()
    names = list(contenders)
    for round_number in range(max(repeat, 1)):
        shift = round_number % len(names)
        for name in names[shift:] + names[:shift]:
            contender = contenders[name]
            if name in failures:
                continue
            run, problem = contender.attempt()
            if problem is not None:
                failures[name] = problem
            else:
                runs[name].append(run)
        if len(failures) == len(contenders):
            break
        if time.perf_counter() - started >= budget and round_number + 1 >= min_rounds:
            break
    return {
        name: unavailable(failures[name]) if name in failures else Sample(tuple(runs[name]))
        for name in contenders
    }
