"""The terminal environment: streams, is-a-tty, quiet/debug, and how output is rendered.

Results go to stdout; logs, progress, warnings and errors to stderr. Progress bars only
when stderr is a terminal; otherwise plain timestamped lines, at most one every few
seconds per task. Tests replace the streams and the tty flag.
"""

from __future__ import annotations

import errno
import json
import math
import sys
import traceback
from collections.abc import Iterable
from typing import Any, TextIO

from hyperkvasir_cli.core.clock import Clock, SystemClock, iso_utc
from hyperkvasir_cli.core.errors import HyperkvasirError
from hyperkvasir_cli.core.progress import ProgressReporter, SilentProgress, Unit
from hyperkvasir_cli.core.units import format_bytes, format_duration

PLAIN_PROGRESS_INTERVAL = 5.0


PIPED_WIDTH = 1000


def _is_terminal(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def _raise_broken_pipe() -> None:
    raise BrokenPipeError(errno.EPIPE, "Broken pipe")


class Console:
    def __init__(
        self,
        *,
        quiet: bool = False,
        debug: bool = False,
        stderr_is_tty: bool | None = None,
        clock: Clock | None = None,
    ) -> None:
        self.quiet = quiet
        self.debug = debug
        self._stderr_is_tty = stderr_is_tty
        self.clock: Clock = clock or SystemClock()
        self.json_emitted = False

    @property
    def stdout(self) -> TextIO:
        return sys.stdout

    @property
    def stderr(self) -> TextIO:
        return sys.stderr

    @property
    def stderr_is_tty(self) -> bool:
        if self._stderr_is_tty is not None:
            return self._stderr_is_tty
        return _is_terminal(self.stderr)

    # results (stdout)
    def out(self, text: str = "") -> None:
        self.stdout.write(text + "\n")
        self.stdout.flush()

    def emit_json(self, document: Any) -> None:
        self.stdout.write(json.dumps(document, indent=2, ensure_ascii=False, default=str) + "\n")
        self.stdout.flush()
        self.json_emitted = True

    def emit_json_list(self, document: dict[str, Any], key: str, items: Iterable[Any]) -> None:
        """One JSON document: ``document`` with ``key`` holding ``items``, written one item
        a line as they come, so a list of 100,000 entries is never held as one string."""
        head = json.dumps(document, indent=2, ensure_ascii=False, default=str)
        opening = head[:-1].rstrip() + ("," if document else "") + f'\n  "{key}": ['
        self.stdout.write(opening)
        separator = "\n    "
        for item in items:
            self.stdout.write(separator + json.dumps(item, ensure_ascii=False, default=str))
            separator = ",\n    "
        self.stdout.write("\n  ]\n}\n")
        self.stdout.flush()
        self.json_emitted = True

    def render(self, renderable: Any) -> None:
        """Print a rich renderable (a table) to stdout."""
        from rich.console import Console as RichConsole

        # Piped into a file or another program, a table keeps every character: rich would
        # otherwise assume 80 columns and cut paths and names short with an ellipsis.
        width = None if _is_terminal(self.stdout) else PIPED_WIDTH
        console = RichConsole(file=self.stdout, highlight=False, soft_wrap=True, width=width)
        # rich ends the process with exit 1 on a closed pipe (`| head`); the command layer
        # stops quietly with 141 instead, as for any other output.
        console.on_broken_pipe = _raise_broken_pipe  # type: ignore[method-assign]
        console.print(renderable)

    # logs (stderr)
    def _log_line(self, text: str) -> None:
        if self.stderr_is_tty:
            self.stderr.write(text + "\n")
        else:
            self.stderr.write(f"{iso_utc(self.clock.now())} {text}\n")
        self.stderr.flush()

    def info(self, message: str) -> None:
        if not self.quiet:
            self._log_line(message)

    def warn(self, message: str) -> None:
        if not self.quiet:
            self._log_line(f"warning: {message}")

    def error(self, error: HyperkvasirError) -> None:
        self.stderr.write(f"error: {error.message}\n")
        if error.hint:
            self.stderr.write(f"hint: {error.hint}\n")
        self.stderr.flush()

    def internal_error(self, exc: BaseException) -> None:
        if self.debug:
            traceback.print_exception(type(exc), exc, exc.__traceback__, file=self.stderr)
        self.stderr.write(f"error: internal error: {type(exc).__name__}: {exc}\n")
        self.stderr.write(
            "hint: this is a bug; rerun with --debug for the traceback and report it\n"
        )
        self.stderr.flush()

    def progress(self, unit: Unit = "bytes") -> ProgressReporter:
        """A reporter for this environment; ``unit`` is what ``advance`` counts."""
        if self.quiet:
            return SilentProgress()
        if self.stderr_is_tty:
            return RichProgress(self.stderr, unit)
        return PlainProgress(self, unit)


class ConsoleMessages(SilentProgress):
    """The session's reporter in the command layer: a workflow's messages become the
    console's log lines (``--quiet`` silences them); tasks get their own reporters from
    :meth:`Console.progress`."""

    def __init__(self, console: Console) -> None:
        self._console = console

    def note(self, message: str) -> None:
        self._console.info(message)

    def info(self, message: str) -> None:
        self._console.info(message)

    def warn(self, message: str) -> None:
        self._console.warn(message)


def _amount(value: float | None, unit: Unit) -> str:
    if unit == "bytes":
        return format_bytes(value)
    return "an unknown number of files" if value is None else f"{int(value):,} files"


class PlainProgress(ConsoleMessages):
    """Timestamped lines for logs: a start line, at most one line every few seconds, an end;
    messages are the console's log lines, as :class:`ConsoleMessages` writes them.

    Counting files, a task too small to need a log line stays silent."""

    QUIET_BELOW_FILES = 1000

    def __init__(
        self, console: Console, unit: Unit = "bytes", interval: float = PLAIN_PROGRESS_INTERVAL
    ) -> None:
        super().__init__(console)
        self._clock = console.clock
        self._unit: Unit = unit
        self._interval = interval
        self._label = ""
        self._total: int | None = None
        self._done = 0
        self._started_at = 0.0
        self._started_done = 0
        self._last_line = 0.0
        self._silent = False
        self._announced = False
        self._logged_done: int | None = None  # the count the last progress line showed

    def start(self, label: str, total: int | None, completed: int = 0) -> None:
        self._label, self._total, self._done = label, total, completed
        self._started_at = self._last_line = self._clock.monotonic()
        self._started_done = completed
        self._silent = (
            self._unit == "files" and total is not None and total < self.QUIET_BELOW_FILES
        )
        self._announced = False
        self._logged_done = None

    def extend(self, label: str, total: int | None, completed: int) -> None:
        # Bytes a joining phase found already done are not work of this run: the rate
        # and the ETA stay those of the bytes actually processed.
        self._started_done += completed - self._done
        self._label, self._total, self._done = label, total, completed

    def _log(self, line: str) -> None:
        if not self._silent:
            self._console.info(line)

    def _status(self) -> str:
        elapsed = max(self._clock.monotonic() - self._started_at, 1e-9)
        rate = (self._done - self._started_done) / elapsed
        parts = [_amount(self._done, self._unit)]
        if self._total:
            # Rounded down: 100.0% only when every byte is done, never for 99.96%.
            percent = math.floor(1000 * self._done / self._total) / 10
            parts[0] = f"{percent:.1f}% {parts[0]} of "
            parts[0] += _amount(self._total, self._unit)
            if rate > 0:
                parts.append(f"ETA {format_duration((self._total - self._done) / rate)}")
        if self._unit == "bytes":
            parts.insert(1, f"{format_bytes(rate)}/s")
        return ", ".join(parts)

    def _announce(self) -> None:
        """The start line, written when the first unit moves: an attempt that moves
        nothing (an unreachable mirror) leaves only its failure in the log."""
        if not self._announced:
            self._announced = True
            completed = self._started_done
            start = f" from {_amount(completed, self._unit)}" if completed else ""
            self._log(f"{self._label}: started{start}, {_amount(self._total, self._unit)} in all")

    def advance(self, amount: int) -> None:
        self._announce()
        self._done += amount
        now = self._clock.monotonic()
        if now - self._last_line >= self._interval:
            self._last_line = now
            self._log_status()

    def _log_status(self) -> None:
        self._logged_done = self._done
        self._log(f"{self._label}: {self._status()}")

    def finish(self) -> None:
        """The closing line, unless the last line already said the same count."""
        if self._announced and self._logged_done != self._done:
            self._log_status()


def _binary_speed_column() -> Any:
    """A rich column showing the speed in KiB/s, MiB/s (binary units, as the sizes)."""
    from rich.progress import ProgressColumn
    from rich.text import Text

    class BinarySpeedColumn(ProgressColumn):
        def render(self, task: Any) -> Text:
            speed = task.finished_speed or task.speed
            shown = "?" if speed is None else f"{format_bytes(speed)}/s"
            return Text(shown, style="progress.data.speed")

    return BinarySpeedColumn()


class RichProgress:
    """A rich bar with ETA (and speed, for bytes), for a person at a terminal."""

    def __init__(self, stream: TextIO, unit: Unit = "bytes") -> None:
        from rich.console import Console as RichConsole
        from rich.progress import (
            BarColumn,
            DownloadColumn,
            MofNCompleteColumn,
            Progress,
            ProgressColumn,
            TextColumn,
            TimeRemainingColumn,
        )

        self._console = RichConsole(file=stream)
        # KiB and MiB on the bar and its speed, as in the logs (rich's own speed column
        # says MB/s beside MiB).
        counts: list[ProgressColumn] = (
            [DownloadColumn(binary_units=True), _binary_speed_column()]
            if unit == "bytes"
            else [MofNCompleteColumn()]
        )
        self._progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            *counts,
            TimeRemainingColumn(),
            console=self._console,
            transient=False,
        )
        self._task: Any = None

    def start(self, label: str, total: int | None, completed: int = 0) -> None:
        if self._task is None:
            self._progress.start()
        else:
            self._progress.remove_task(self._task)
        self._task = self._progress.add_task(label, total=total, completed=completed)

    def extend(self, label: str, total: int | None, completed: int) -> None:
        if self._task is None:
            self.start(label, total, completed)
        else:
            self._progress.update(self._task, description=label, total=total, completed=completed)

    def advance(self, amount: int) -> None:
        if self._task is not None:
            self._progress.advance(self._task, amount)

    def finish(self) -> None:
        if self._task is not None:
            self._progress.stop()
            self._task = None

    def note(self, message: str) -> None:
        self._console.print(message, highlight=False)

    def info(self, message: str) -> None:
        self._console.print(message, highlight=False)

    def warn(self, message: str) -> None:
        self._console.print(f"warning: {message}", highlight=False)
