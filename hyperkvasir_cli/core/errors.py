"""One error hierarchy: every error carries its exit code (SPEC.md) and an optional hint.

The command layer turns a :class:`HyperkvasirError` into exactly two stderr lines
(``error: ...`` and ``hint: ...``); anything else that escapes is a bug (exit 1).
"""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    OK = 0
    INTERNAL = 1
    USAGE = 2
    CONFIG = 3
    NETWORK = 4
    INTEGRITY = 5
    ARCHIVE = 6
    DISK_SPACE = 7
    LOCKED = 8
    INTERRUPTED = 130


EXIT_CODE_MEANINGS: dict[ExitCode, str] = {
    ExitCode.OK: "done (also: nothing to do)",
    ExitCode.INTERNAL: "internal error (a bug)",
    ExitCode.USAGE: "usage: unknown part, bad option, a path the system refuses",
    ExitCode.CONFIG: "config or manifest invalid",
    ExitCode.NETWORK: "network or server failure after retries; partial data kept, rerun resumes",
    ExitCode.INTEGRITY: "integrity: size or checksum mismatch (the bad file is kept aside)",
    ExitCode.ARCHIVE: "archive unsafe or corrupt (path escape, bad CRC, truncated zip)",
    ExitCode.DISK_SPACE: "not enough disk space (checked before writing)",
    ExitCode.LOCKED: "another run holds the lock (after --wait-lock SECONDS, default 0)",
    ExitCode.INTERRUPTED: "interrupted; everything done so far is kept and resumable",
}


class HyperkvasirError(Exception):
    """Base of every expected failure. ``message`` says what failed, expected vs found."""

    exit_code: ExitCode = ExitCode.INTERNAL

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint


def error_json(exit_code: int, message: str, hint: str | None = None) -> dict[str, object]:
    """The ``error`` member of a ``--json`` document."""
    return {"exit_code": int(exit_code), "message": message, "hint": hint}


class UsageError(HyperkvasirError):
    exit_code = ExitCode.USAGE


class ConfigError(HyperkvasirError):
    """The config file or the manifest is unreadable or invalid."""

    exit_code = ExitCode.CONFIG


class NetworkError(HyperkvasirError):
    """Every URL failed after retries; the partial download is kept."""

    exit_code = ExitCode.NETWORK


class IntegrityError(HyperkvasirError):
    """A size or checksum mismatch; the bad file has been moved aside."""

    exit_code = ExitCode.INTEGRITY


class ArchiveError(HyperkvasirError):
    """An archive is unsafe or corrupt; nothing unsafe was written."""

    exit_code = ExitCode.ARCHIVE


class DiskSpaceError(HyperkvasirError):
    """Not enough free space; nothing was written."""

    exit_code = ExitCode.DISK_SPACE


class LockedError(HyperkvasirError):
    """Another run holds the data folder's lock."""

    exit_code = ExitCode.LOCKED


INTERRUPTED_MESSAGE = "interrupted; everything done so far is kept, rerun to continue"


class Interrupted(HyperkvasirError):
    """Ctrl-C or SIGTERM, as a command's JSON document reports it (exit 130)."""

    exit_code = ExitCode.INTERRUPTED

    def __init__(self) -> None:
        super().__init__(INTERRUPTED_MESSAGE)


def as_error(exc: BaseException) -> HyperkvasirError:
    """A failure a command reports in its own document: ours, or an interruption."""
    return exc if isinstance(exc, HyperkvasirError) else Interrupted()
