"""How core modules report progress without knowing about terminals.

Core code calls a :class:`ProgressReporter`; the command layer supplies one that draws a
bar on a terminal, writes throttled plain lines otherwise, or says nothing (``--quiet``).
"""

from __future__ import annotations

from typing import Protocol


class ProgressReporter(Protocol):
    def start(self, label: str, total: int | None, completed: int = 0) -> None:
        """A new task (a transfer, a hash, an extraction) begins."""

    def extend(self, label: str, total: int | None, completed: int) -> None:
        """More work joins the current task: its label, total and count change, while the
        task, its start and its rate go on (one task shown, one start line logged)."""

    def advance(self, amount: int) -> None:
        """``amount`` more units (bytes, files) of the current task are done."""

    def finish(self) -> None:
        """The current task is over (successfully or not)."""

    def note(self, message: str) -> None:
        """A milestone worth a log line (a retry, a mirror switch, a restart)."""


class SilentProgress:
    """Reports nothing; the default for library callers."""

    def start(self, label: str, total: int | None, completed: int = 0) -> None:
        pass

    def extend(self, label: str, total: int | None, completed: int) -> None:
        pass

    def advance(self, amount: int) -> None:
        pass

    def finish(self) -> None:
        pass

    def note(self, message: str) -> None:
        pass
