"""Checksum files as sha256sum, md5sum, sha1sum, sha512sum and b2sum write and read them.

Written lines are ``<hex>  <path>``, which ``sha256sum -c`` (and its siblings) accept.
Read lines may also carry the ``*`` binary marker, coreutils' backslash escapes for names
holding a newline or a backslash, or be BSD style: ``SHA256 (path) = <hex>``.
Parsing is pure; :func:`verify_listed` does the reading.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from hyperkvasir_cli.check.integrity import (
    ALGORITHMS,
    CheckItem,
    CheckReport,
    Facts,
    ItemResult,
    size_or_zero,
)
from hyperkvasir_cli.core.errors import UsageError
from hyperkvasir_cli.core.hashing import hash_file
from hyperkvasir_cli.core.progress import ProgressReporter, SilentProgress
from hyperkvasir_cli.core.worker_threads import SharedProgress, run_in_threads

SUM_TOOLS: dict[str, str] = {
    "md5": "md5sum",
    "sha1": "sha1sum",
    "sha256": "sha256sum",
    "sha512": "sha512sum",
    "blake2b": "b2sum",
}
HEX_LENGTHS: dict[str, int] = {"md5": 32, "sha1": 40, "sha256": 64, "sha512": 128, "blake2b": 128}
_BSD_TAGS = {
    "MD5": "md5",
    "SHA1": "sha1",
    "SHA256": "sha256",
    "SHA512": "sha512",
    "BLAKE2B": "blake2b",
}
_GNU_LINE = re.compile(r"(?P<hex>[0-9a-fA-F]+) [ *](?P<path>.+)", re.DOTALL)
_BSD_LINE = re.compile(
    r"(?P<tag>[A-Za-z0-9]+?)(?:-(?P<bits>\d+))? \((?P<path>.+)\) = (?P<hex>[0-9a-fA-F]+)",
    re.DOTALL,
)
_ESCAPES = {"\\": "\\", "n": "\n", "r": "\r"}


def escape_path(path: str) -> tuple[str, bool]:
    """The path as coreutils writes it, and whether the line needs its leading backslash."""
    if not any(c in path for c in "\\\n\r"):
        return path, False
    return path.replace("\\", "\\\\").replace("\n", "\\n").replace("\r", "\\r"), True


def unescape_path(text: str) -> str | None:
    """Undo :func:`escape_path`; None when the text holds an unknown escape."""
    result, index = [], 0
    while index < len(text):
        char = text[index]
        if char == "\\":
            replacement = _ESCAPES.get(text[index + 1 : index + 2])
            if replacement is None:
                return None
            result.append(replacement)
            index += 2
        else:
            result.append(char)
            index += 1
    return "".join(result)


def sum_line(hex_digest: str, path: str) -> str:
    """One line of a checksum file, as `sha256sum` prints it."""
    escaped, needs_marker = escape_path(path)
    marker = "\\" if needs_marker else ""
    return f"{marker}{hex_digest}  {escaped}"


def algorithm_from_file_name(name: str) -> str | None:
    """The algorithm a checksum file's name suggests (B2SUMS, SHA512SUMS, x.md5, ...)."""
    lowered = name.lower()
    if "b2" in lowered or "blake2" in lowered:
        return "blake2b"
    for algorithm in ("sha512", "sha256", "sha1", "md5"):
        if algorithm in lowered:
            return algorithm
    return None


@dataclass(frozen=True)
class ListedFile:
    line: int
    algorithm: str
    digest: str
    path: str


@dataclass
class ParsedCheckFile:
    entries: list[ListedFile] = field(default_factory=list)
    malformed: list[int] = field(default_factory=list)  # line numbers
    # Well-formed lines of another algorithm than the one asked for: line numbers by it.
    other_algorithms: dict[str, list[int]] = field(default_factory=dict)


def parse_sum_line(
    text: str, algorithm: str | None = None, wide: str = "sha512"
) -> tuple[str, str, str] | None:
    """``(algorithm, hex digest, path)`` of one line, or None when it is not well formed.

    With ``algorithm`` given the line must be of that algorithm; otherwise the BSD tag or
    the digest's length tells it, and 128 hex digits are ``wide`` (sha512 or blake2b).
    """
    escaped = text.startswith("\\")
    body = text[1:] if escaped else text
    if algorithm in ("sha512", "blake2b"):
        wide = algorithm
    if (bsd := _BSD_LINE.fullmatch(body)) and bsd["bits"] in (None, "512"):
        found = _BSD_TAGS.get(bsd["tag"].upper())
        hex_digest, raw_path = bsd["hex"], bsd["path"]
    elif gnu := _GNU_LINE.fullmatch(body):
        hex_digest, raw_path = gnu["hex"], gnu["path"]
        found = _algorithm_of_length(len(hex_digest), wide)
    else:
        return None
    if found is None or found != (algorithm or found) or len(hex_digest) != HEX_LENGTHS[found]:
        return None
    path = unescape_path(raw_path) if escaped else raw_path
    if not path:
        return None
    return found, hex_digest.lower(), path


def _algorithm_of_length(length: int, wide: str) -> str | None:
    if length == 128:
        return wide
    return next((a for a in ALGORITHMS if HEX_LENGTHS[a] == length), None)


def parse_check_file(
    lines: Iterable[str], algorithm: str | None = None, wide: str = "sha512"
) -> ParsedCheckFile:
    """Every checksum line; blank lines and `#` comments are skipped. With ``algorithm``,
    lines of another algorithm are set apart; other lines are malformed."""
    parsed = ParsedCheckFile()
    for number, raw in enumerate(lines, start=1):
        text = raw.rstrip("\n").removesuffix("\r")
        if not text.strip() or text.lstrip().startswith("#"):
            continue
        line = parse_sum_line(text, algorithm, wide)
        if line is not None:
            parsed.entries.append(ListedFile(number, *line))
            continue
        other = parse_sum_line(text, None, wide) if algorithm else None
        if other is not None:
            parsed.other_algorithms.setdefault(other[0], []).append(number)
        else:
            parsed.malformed.append(number)
    return parsed


def verify_listed(
    entries: Sequence[ListedFile],
    base: Path,
    jobs: int = 1,
    progress: ProgressReporter | None = None,
) -> list[CheckItem]:
    """Hash every listed file (relative paths from ``base``) and compare; one item each."""
    reporter = SharedProgress(progress or SilentProgress())
    total = sum(size_or_zero(base / e.path) for e in entries)
    reporter.start(f"checking {len(entries)} listed files", total)
    try:
        return run_in_threads(lambda e: _check_listed(e, base, reporter), entries, jobs)
    finally:
        reporter.finish()


def _check_listed(entry: ListedFile, base: Path, progress: ProgressReporter) -> CheckItem:
    def item(result: ItemResult, reason: str, found: Facts | None = None) -> CheckItem:
        expected: Facts = {entry.algorithm: entry.digest}
        return CheckItem(
            None, "listed", entry.path, result, reason, expected, found or {}, "check-file"
        )

    try:
        digest = hash_file(base / entry.path, (entry.algorithm,), progress)
    except (FileNotFoundError, NotADirectoryError):
        return item("missing", f"missing: {(base / entry.path).resolve()} does not exist")
    except OSError as exc:
        return item("failed", f"cannot read: {exc.strerror or exc}")
    found_hex = digest.digests[entry.algorithm]
    found: Facts = {"size": digest.size, entry.algorithm: found_hex}
    if found_hex != entry.digest:
        reason = (
            f"{entry.algorithm}: expected {entry.digest}, found {found_hex} (line {entry.line})"
        )
        return item("failed", reason, found)
    return item("ok", f"{entry.algorithm} matches line {entry.line}", found)


def verify_check_file(
    path: Path,
    algorithm: str | None = None,
    jobs: int = 1,
    progress: ProgressReporter | None = None,
) -> CheckReport:
    """Verify every file a checksum file lists (relative paths from its own folder).

    Raises UsageError (exit 2) when the file cannot be read (naming the path it looked
    for) or lists nothing of ``algorithm`` (naming the algorithm its lines hold);
    malformed lines and lines of another algorithm are skipped and counted in a note.
    """
    wide = algorithm or algorithm_from_file_name(path.name)
    try:
        # Line by line: a list of 100,000 files never sits in memory as one string.
        with path.open(encoding="utf-8", errors="surrogateescape", newline="") as handle:
            parsed = parse_check_file(
                handle, algorithm, "blake2b" if wide == "blake2b" else "sha512"
            )
    except OSError as exc:
        raise UsageError(
            f"--check {path}: cannot read {path.resolve()}: {exc.strerror or exc}"
        ) from exc
    others = sorted(parsed.other_algorithms)
    if not parsed.entries and others and algorithm:
        raise UsageError(
            f"--check {path}: the file holds {' and '.join(others)} lines, not {algorithm} "
            f"(--algorithm {algorithm})",
            hint=f"drop --algorithm, or use --algorithm {others[0]}",
        )
    if not parsed.entries:
        raise UsageError(
            f"--check {path}: no checksum lines found",
            hint="expected lines like `<hex>  <path>` or `SHA256 (<path>) = <hex>`",
        )
    report = CheckReport()
    if parsed.malformed:
        shown = ", ".join(str(n) for n in parsed.malformed[:10])
        report.notes.append(
            f"{path}: {len(parsed.malformed)} improperly formatted line(s) skipped (line {shown})"
        )
    for other, numbers in parsed.other_algorithms.items():
        shown = ", ".join(str(n) for n in numbers[:10])
        report.notes.append(
            f"{path}: {len(numbers)} {other} line(s) skipped, as --algorithm is {algorithm} "
            f"(line {shown})"
        )
    report.items = verify_listed(parsed.entries, path.parent, jobs, progress)
    return report
