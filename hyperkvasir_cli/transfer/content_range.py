"""Parsing the Range and Content-Range headers: small pure functions."""

from __future__ import annotations

import re
from dataclasses import dataclass

_CONTENT_RANGE = re.compile(r"^\s*bytes\s+(?:(\d+)-(\d+)|\*)/(\d+|\*)\s*$", re.IGNORECASE)
_RANGE = re.compile(r"^\s*bytes=(\d+)-(\d*)\s*$", re.IGNORECASE)


@dataclass(frozen=True)
class ContentRange:
    """``bytes first-last/total``; first/last are None for ``bytes */total``."""

    first: int | None
    last: int | None
    total: int | None


def parse_content_range(value: str | None) -> ContentRange | None:
    """The parsed header, or None when it is absent or malformed (never trust a bad one)."""
    if not value:
        return None
    match = _CONTENT_RANGE.match(value)
    if not match:
        return None
    first, last, total = match.groups()
    parsed_total = None if total == "*" else int(total)
    if first is None:
        return ContentRange(None, None, parsed_total)
    start, end = int(first), int(last)
    if end < start or (parsed_total is not None and end >= parsed_total):
        return None
    return ContentRange(start, end, parsed_total)


def parse_range_header(value: str | None) -> tuple[int, int | None] | None:
    """A single ``bytes=first-[last]`` request range, as servers see it."""
    if not value:
        return None
    match = _RANGE.match(value)
    if not match:
        return None
    first = int(match.group(1))
    last = int(match.group(2)) if match.group(2) else None
    if last is not None and last < first:
        return None
    return first, last


def range_header(start: int, end: int | None) -> str:
    """``Range`` for bytes ``[start, end)``; ``end`` None means to the end of the file."""
    return f"bytes={start}-" if end is None else f"bytes={start}-{end - 1}"
