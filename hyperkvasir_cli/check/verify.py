"""Checking a finished download against what was expected, and explaining a mismatch.

A zip part whose manifest publishes no sha256 has nothing to compare with at its first
download: before its sha256 is recorded as the first-seen value, the file must at least be
a readable zip (:func:`zip_problem`), so that an HTML error page or a truncated transfer
is never recorded as the part.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from hyperkvasir_cli.archive.index import read_members
from hyperkvasir_cli.core.errors import HyperkvasirError
from hyperkvasir_cli.core.units import format_bytes

if TYPE_CHECKING:
    from hyperkvasir_cli.core.records import PartRecord

_HTML_MARKERS = (b"<!doctype html", b"<html", b"<head", b"<?xml")
NOT_A_ZIP_EXPECTED = "a readable zip archive"
NOT_A_ZIP = "something that is not a zip archive (an HTML page?)"


def record_matches_file(record: PartRecord | None, path: Path) -> bool:
    """The record's verification still describes the file on disk (same size)."""
    if record is None or record.verified_at is None or record.size is None:
        return False
    try:
        return path.stat().st_size == record.size
    except OSError:
        return False


def bad_copies(final: Path) -> list[Path]:
    """The copies of ``final`` set aside as bad (``<file>.bad-<time>``), oldest first."""
    try:
        found = [p for p in final.parent.iterdir() if p.name.startswith(f"{final.name}.bad-")]
    except OSError:
        return []
    return sorted(found, key=lambda p: p.name)


def quarantine(path: Path, moment: datetime) -> Path:
    """Move a bad file aside as ``<file>.bad-<time>`` (for a look at what was served) and
    return its new name. Only the newest bad copy of a file is kept: a cron job against a
    server whose file keeps failing must not fill the disk with one copy a night."""
    final = path.with_name(path.name.removesuffix(".part"))
    stamp = moment.strftime("%Y%m%dT%H%M%SZ")
    target = final.with_name(f"{final.name}.bad-{stamp}")
    counter = 1
    while target.exists():
        counter += 1
        target = final.with_name(f"{final.name}.bad-{stamp}-{counter}")
    older = bad_copies(final)
    os.replace(path, target)
    for copy in older:
        with contextlib.suppress(OSError):
            copy.unlink()
    return target


def looks_like_html(path: Path) -> bool:
    try:
        with path.open("rb") as handle:
            head = handle.read(512).lstrip().lower()
    except OSError:
        return False
    return head.startswith(_HTML_MARKERS)


def is_html_type(content_type: str | None) -> bool:
    """A ``Content-Type`` that says HTML: what servers label error and login pages."""
    return content_type is not None and "text/html" in content_type.lower()


def zip_problem(path: Path, content_type: str | None = None) -> str | None:
    """Why the file at ``path`` cannot be a zip part's archive; None when it can.

    Only the end records and the central directory are read (cheap even for 58 GB). A file
    whose response was labelled ``text/html`` is suspect even when its directory reads.
    """
    labelled = (
        f"the server labelled it Content-Type: {content_type}, as it does error pages"
        if is_html_type(content_type)
        else ""
    )
    if looks_like_html(path):
        return "it is an HTML page (an error or login page), not a zip archive" + (
            f"; {labelled}" if labelled else ""
        )
    try:
        read_members(path)
    except HyperkvasirError as exc:  # "<file> is not a readable zip archive (...)"
        return f"{exc.message}; {labelled}" if labelled else exc.message
    if labelled:
        return f"{labelled}, so it is not taken for the zip archive although it reads as one"
    return None


def likely_cause(path: Path, size: int, expected_size: int | None) -> str:
    """The most probable reason a file is not what the manifest says, for the message."""
    if looks_like_html(path):
        return "the server sent an HTML page (an error or login page) instead of the file"
    if expected_size is not None and size < expected_size:
        return "the file is truncated (the transfer ended early)"
    if expected_size is not None and size > expected_size:
        return "the server's file is larger than expected: it was probably replaced upstream"
    return (
        "same size, different content: the server's file was replaced upstream, or the data "
        "was corrupted in transit or on disk"
    )


@dataclass(frozen=True)
class Mismatch:
    """A finished file that is not the one expected, and where it was moved."""

    expected: str
    found: str
    cause: str
    kept: Path
    web_page: bool = False  # an HTML page: a server answer (maintenance, login), not data

    def describe(self) -> str:
        return f"found {self.found}; likely cause: {self.cause}; kept aside as {self.kept}"


def expectation(expected_size: int | None, expected_sha256: str | None) -> str:
    text = f"{expected_size if expected_size is not None else 'any size'} B"
    if expected_sha256:
        text += f", sha256 {expected_sha256}"
    return text


def set_aside_if_bad(
    path: Path,
    *,
    size: int,
    sha256: str,
    expected_size: int | None,
    expected_sha256: str | None,
    moment: datetime,
    content_type: str | None = None,
) -> Mismatch | None:
    """None when the file matches what is expected (or nothing is); otherwise it is moved
    aside (never deleted) and the mismatch described. ``content_type`` is the label the
    server gave the body, when it came from a server."""
    size_ok = expected_size is None or size == expected_size
    hash_ok = expected_sha256 is None or sha256 == expected_sha256
    if size_ok and hash_ok:
        return None
    web_page = looks_like_html(path) or is_html_type(content_type)
    cause = likely_cause(path, size, expected_size)
    if web_page and not looks_like_html(path):
        cause = f"the server labelled it Content-Type: {content_type}: a web page, not the file"
    kept = quarantine(path, moment)
    found = f"{size} B ({format_bytes(size)}), sha256 {sha256}"
    return Mismatch(expectation(expected_size, expected_sha256), found, cause, kept, web_page)


def set_aside_if_not_zip(
    path: Path, *, size: int, sha256: str, content_type: str | None, moment: datetime
) -> Mismatch | None:
    """None when ``path`` is a readable zip (see :func:`zip_problem`); otherwise it is moved
    aside (never deleted) and described as a file that is not a zip."""
    problem = zip_problem(path, content_type)
    if problem is None:
        return None
    web_page = looks_like_html(path) or is_html_type(content_type)
    kept = quarantine(path, moment)
    found = f"{size} B ({format_bytes(size)}), sha256 {sha256}"
    return Mismatch(NOT_A_ZIP_EXPECTED, found, problem, kept, web_page)
