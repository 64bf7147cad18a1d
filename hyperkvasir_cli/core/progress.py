"""How the library reports progress and messages without knowing about terminals.

Library code calls a :class:`ProgressReporter`; the command layer supplies one that draws a
bar on a terminal, writes throttled plain lines otherwise, or says nothing (``--quiet``).
A library caller passes nothing and hears nothing (:class:`SilentProgress`), or passes
its own reporter.
"""

from __future__ import annotations

from typing import Literal, Protocol

# What a task's ``advance`` counts: bytes (transfers, hashes, extraction) or files.
Unit = Literal["bytes", "files"]


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

    def info(self, message: str) -> None:
        """What a workflow did or is about to do (``labeled-images: extracted ...``)."""

    def warn(self, message: str) -> None:
        """Something the caller should know that does not stop the work (images left
        out of a split, a result that could not be recorded)."""


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

    def info(self, message: str) -> None:
        pass

    def warn(self, message: str) -> None:
        pass
