"""What every side-file reader shares: opening text, naming a bad line, finding columns."""

from __future__ import annotations

import csv
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TextIO

from hyperkvasir_cli.core.errors import ArchiveError

DELIMITERS = (",", ";", "\t")


def malformed(source: str, line: int | None, problem: str, part: str | None = None) -> ArchiveError:
    """The error for a file that cannot be read as its format says (exit 6)."""
    where = f"{source} line {line}" if line is not None else source
    again = f"`hyperkvasir download {part} --force`" if part else "the download again"
    return ArchiveError(
        f"{where}: {problem}",
        hint=f"the file is damaged or not the published one: run {again}",
    )


@contextmanager
def open_text(path: Path) -> Iterator[TextIO]:
    """The file as UTF-8 text (a byte-order mark is skipped), newlines kept as written."""
    with path.open(encoding="utf-8-sig", newline="") as handle:
        yield handle


def text_lines(handle: TextIO, source: str, part: str | None = None) -> Iterator[tuple[int, str]]:
    """``(line number, text without its line end)``, from 1; bytes that are not UTF-8 raise
    :func:`malformed` naming the line after the last good one."""
    number = 0
    try:
        for number, text in enumerate(handle, start=1):
            yield number, text.rstrip("\r\n")
    except UnicodeDecodeError as exc:
        raise malformed(source, number + 1, f"not UTF-8 text ({exc.reason})", part) from None


def semicolon_rows(
    lines: Iterable[tuple[int, str]],
    source: str,
    headers: Sequence[tuple[str, ...]],
    part: str | None = None,
) -> Iterator[tuple[int, list[str]]]:
    """``(line number, fields)`` for each row that is not blank, from the numbered lines of
    a `;`-separated file whose header is one of ``headers`` (the first is the one named in
    the error); :func:`malformed` (exit 6) for another header or a row with a different
    count of fields."""
    rows = iter(lines)
    number, header = next(rows, (1, ""))
    if tuple(h.strip() for h in header.split(";")) not in headers:
        raise malformed(
            source, number, f"expected the header {';'.join(headers[0])!r}, found {header!r}", part
        )
    columns = len(headers[0])
    for number, text in rows:
        if not text.strip():
            continue
        fields = split_fields(text, ";")
        if len(fields) != columns:
            raise malformed(
                source,
                number,
                f"expected {columns} fields separated by ';', found {len(fields)}",
                part,
            )
        yield number, fields


def sniff_delimiter(header: str) -> str:
    """The delimiter of a CSV header: whichever of `,` `;` TAB splits it into most fields."""
    return max(DELIMITERS, key=lambda d: (header.count(d), -DELIMITERS.index(d)))


def split_fields(text: str, delimiter: str) -> list[str]:
    """One CSV line's fields (quotes honoured); a quoted delimiter stays inside its field."""
    if '"' not in text:
        return text.split(delimiter)
    return next(csv.reader([text], delimiter=delimiter))


def normalise_header(name: str) -> str:
    """``File Name``, ``file_name`` and ``file-name`` all read ``file-name``."""
    return "-".join(name.strip().strip("'\"").lower().replace("_", " ").split())


def find_column(header: Sequence[str], *names: str) -> int | None:
    """The index of the first column whose normalised name is one of ``names``."""
    normalised = [normalise_header(h) for h in header]
    for name in names:
        if name in normalised:
            return normalised.index(name)
    return None


def parse_int(text: str) -> int | None:
    """An integer written as ``12`` or ``12.0``; None for anything else."""
    text = text.strip()
    try:
        return int(text)
    except ValueError:
        pass
    try:
        value = float(text)
    except ValueError:
        return None
    return int(value) if value.is_integer() else None


def parse_float(text: str) -> float | None:
    try:
        value = float(text.strip())
    except ValueError:
        return None
    return value if value == value else None  # NaN is no value
