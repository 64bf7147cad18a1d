"""Equality checks for large values that fail with a short message.

pytest explains a failed ``a == b`` on bytes, strings or lists with a difflib diff of the
two. On a few MiB of binary data, or a list of thousands of items, that diff runs for
minutes (on CI, where pytest does not truncate its explanations, without end in practice),
so a failing test looks like a hung worker. These checks compare in one pass and fail with
what tells the two apart: the lengths, the first differing byte or item, and for bytes
the sha256 of each side.

Use them wherever a value may be large: downloaded files, archives, members, listings.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path

_STEP = 64 * 1024
_SHOWN = 16  # bytes shown from the first difference on


def first_difference(found: bytes, expected: bytes) -> int | None:
    """The offset of the first byte where the two differ (the shorter one's length when
    one is a prefix of the other); None when they are equal."""
    if found == expected:
        return None
    shorter = min(len(found), len(expected))
    low = 0
    # Whole blocks first (a C-speed comparison each), then bytes inside the first bad block.
    while low + _STEP <= shorter and found[low : low + _STEP] == expected[low : low + _STEP]:
        low += _STEP
    for offset in range(low, min(low + _STEP, shorter)):
        if found[offset] != expected[offset]:
            return offset
    return shorter


def describe_bytes(found: bytes, expected: bytes, what: str = "the bytes") -> str | None:
    """Why ``found`` is not ``expected``, in a few lines; None when they are equal."""
    offset = first_difference(found, expected)
    if offset is None:
        return None

    def digest(data: bytes) -> str:
        return hashlib.sha256(data).hexdigest()[:16]

    return (
        f"{what} differ: {len(found)} B found, {len(expected)} B expected; first difference "
        f"at byte {offset} (found {found[offset : offset + _SHOWN].hex() or 'the end'}, "
        f"expected {expected[offset : offset + _SHOWN].hex() or 'the end'}); sha256 found "
        f"{digest(found)}..., expected {digest(expected)}..."
    )


def assert_same_bytes(found: bytes | Path, expected: bytes | Path, what: str = "") -> None:
    """Fail unless the two are the same bytes; a :class:`Path` stands for its contents."""
    label = what or (str(found) if isinstance(found, Path) else "the bytes")
    found_bytes = found.read_bytes() if isinstance(found, Path) else bytes(found)
    wanted = expected.read_bytes() if isinstance(expected, Path) else bytes(expected)
    message = describe_bytes(found_bytes, wanted, label)
    if message is not None:
        raise AssertionError(message)


def assert_same_items(
    found: Sequence[object], expected: Sequence[object], what: str = "the items"
) -> None:
    """Fail unless the two sequences hold equal items in the same order, naming the
    first index where they differ (items shown by a shortened repr)."""
    if len(found) == len(expected) and all(a == b for a, b in zip(found, expected, strict=True)):
        return
    index = next(
        (i for i, (a, b) in enumerate(zip(found, expected, strict=False)) if a != b),
        min(len(found), len(expected)),
    )

    def shown(items: Sequence[object]) -> str:
        return _short(repr(items[index])) if index < len(items) else "nothing (the end)"

    raise AssertionError(
        f"{what} differ: {len(found)} found, {len(expected)} expected; first difference at "
        f"index {index}: found {shown(found)}, expected {shown(expected)}"
    )


def _short(text: str, limit: int = 200) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."
