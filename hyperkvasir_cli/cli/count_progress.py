"""Progress counted in files rather than bytes (header reads, mask decoding, links).

Same rules as the console's byte progress: a bar on a terminal; otherwise timestamped
lines, at most one every few seconds; nothing with ``--quiet``.
"""

from __future__ import annotations

from typing import Any

from hyperkvasir_cli.cli.console import PLAIN_PROGRESS_INTERVAL, Console
from hyperkvasir_cli.progress import ProgressReporter, SilentProgress
from hyperkvasir_cli.units import format_duration


def count_progress(console: Console) -> ProgressReporter:
    if console.quiet:
        return SilentProgress()
    if console.stderr_is_tty:
        return RichCountProgress(console)
    return PlainCountProgress(console)


# Tasks smaller than this finish before a log line could help; they stay silent.
QUIET_BELOW = 1000


class PlainCountProgress:
    def __init__(self, console: Console, interval: float = PLAIN_PROGRESS_INTERVAL) -> None:
        self._console = console
        self._silent = False
        self._interval = interval
        self._label = ""
        self._total: int | None = None
        self._done = 0
        self._started_at = self._last_line = 0.0

    def start(self, label: str, total: int | None, completed: int = 0) -> None:
        self._label, self._total, self._done = label, total, completed
        self._started_at = self._last_line = self._console.clock.monotonic()
        self._silent = total is not None and total < QUIET_BELOW
        if not self._silent:
            of = f" of {total:,}" if total is not None else ""
            self._console.info(f"{label}: started, {completed:,}{of} files")

    def advance(self, amount: int) -> None:
        self._done += amount
        now = self._console.clock.monotonic()
        if not self._silent and now - self._last_line >= self._interval:
            self._last_line = now
            of = f" of {self._total:,}" if self._total is not None else ""
            self._console.info(f"{self._label}: {self._done:,}{of} files")

    def finish(self) -> None:
        if self._silent:
            return
        elapsed = self._console.clock.monotonic() - self._started_at
        self._console.info(
            f"{self._label}: finished, {self._done:,} files in {format_duration(elapsed)}"
        )

    def note(self, message: str) -> None:
        self._console.info(message)


class RichCountProgress:
    def __init__(self, console: Console) -> None:
        from rich.console import Console as RichConsole
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeRemainingColumn,
        )

        self._console = RichConsole(file=console.stderr)
        self._progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeRemainingColumn(),
            console=self._console,
        )
        self._task: Any = None

    def start(self, label: str, total: int | None, completed: int = 0) -> None:
        if self._task is None:
            self._progress.start()
        else:
            self._progress.remove_task(self._task)
        self._task = self._progress.add_task(label, total=total, completed=completed)

    def advance(self, amount: int) -> None:
        if self._task is not None:
            self._progress.advance(self._task, amount)

    def finish(self) -> None:
        if self._task is not None:
            self._progress.stop()
            self._task = None

    def note(self, message: str) -> None:
        self._console.print(message, highlight=False)
