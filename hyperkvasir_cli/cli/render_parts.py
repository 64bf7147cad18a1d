"""The pieces every rendered report is made of: sections (a title, columns, rows), the
report of a part, and the small formats of their cells. The renderers of each subject
(render_stats, render_tables) build on these and the console prints them."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

BAR_WIDTH = 16  # with the other columns, the class table fits 80 columns
_EIGHTHS = " ▏▎▍▌▋▊▉"


def bar(count: int, largest: int, width: int = BAR_WIDTH) -> str:
    """A bar of block characters, ``width`` long at ``largest``; any non-zero count shows."""
    if count <= 0 or largest <= 0:
        return ""
    eighths = max(1, round(8 * width * count / largest))
    full, rest = divmod(eighths, 8)
    return "█" * full + (_EIGHTHS[rest] if rest else "")


def signed(difference: int | None) -> str:
    if difference is None:
        return ""
    return f"{difference:+,d}" if difference else "0"


def plural(count: int, one: str, many: str) -> str:
    return f"{count:,} {one if count == 1 else many}"


def number(value: int | None) -> str:
    return "" if value is None else f"{value:,}"


@dataclass(frozen=True)
class Section:
    title: str
    columns: tuple[str, ...]
    rows: Sequence[tuple[str, ...]]
    numeric: frozenset[str] = frozenset()  # columns to align right
    flagged: Sequence[bool] = ()  # rows that differ from published
    # Terminal tables leave out `detail` columns and show `groups` (one label per row) as
    # headings between rows instead, so that the class table fits 80 columns.
    detail: frozenset[str] = frozenset()
    groups: Sequence[str] = ()


@dataclass(frozen=True)
class PartReport:
    heading: str
    sections: list[Section]
    notes: list[str]  # one line per difference from the published counts


def key_values(title: str, pairs: Iterable[tuple[str, str]]) -> Section:
    return Section(title, ("", "value"), [(k, v) for k, v in pairs], frozenset({"value"}))
