"""Checking a finished download against what was expected, and explaining a mismatch."""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from hyperkvasir_cli.errors import IntegrityError
from hyperkvasir_cli.units import format_bytes

_HTML_MARKERS = (b"<!doctype html", b"<html", b"<head", b"<?xml")


def quarantine(path: Path, moment: datetime) -> Path:
    """Move a bad file aside (never delete evidence); returns its new name."""
    stamp = moment.strftime("%Y%m%dT%H%M%SZ")
    target = path.with_name(f"{path.name.removesuffix('.part')}.bad-{stamp}")
    counter = 1
    while target.exists():
        counter += 1
        target = target.with_name(f"{path.name.removesuffix('.part')}.bad-{stamp}-{counter}")
    os.replace(path, target)
    return target


def looks_like_html(path: Path) -> bool:
    try:
        with path.open("rb") as handle:
            head = handle.read(512).lstrip().lower()
    except OSError:
        return False
    return head.startswith(_HTML_MARKERS)


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
) -> Mismatch | None:
    """None when the file matches what is expected (or nothing is); otherwise it is moved
    aside (never deleted) and the mismatch described."""
    size_ok = expected_size is None or size == expected_size
    hash_ok = expected_sha256 is None or sha256 == expected_sha256
    if size_ok and hash_ok:
        return None
    cause = likely_cause(path, size, expected_size)
    kept = quarantine(path, moment)
    found = f"{size} B ({format_bytes(size)}), sha256 {sha256}"
    return Mismatch(expectation(expected_size, expected_sha256), found, cause, kept)


def check_download(
    path: Path,
    *,
    size: int,
    sha256: str,
    expected_size: int | None,
    expected_sha256: str | None,
    what: str,
    moment: datetime,
) -> None:
    """Raise IntegrityError (exit 5) after moving the file aside when it does not match.

    On success nothing happens; on failure nothing is left at ``path``.
    """
    bad = set_aside_if_bad(
        path,
        size=size,
        sha256=sha256,
        expected_size=expected_size,
        expected_sha256=expected_sha256,
        moment=moment,
    )
    if bad is None:
        return
    raise IntegrityError(
        f"{what}: downloaded file does not match the manifest: expected {bad.expected}, "
        f"found {bad.found}; likely cause: {bad.cause}",
        hint=f"the bad file was kept aside as {bad.kept}; rerun to fetch it again, or check "
        "the manifest and the server (--manifest to describe a new version)",
    )
