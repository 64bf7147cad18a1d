"""The large-value checks fail at once with a short message that says where."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.downloads import random_bytes
from tests.same import assert_same_bytes, assert_same_items, first_difference

BIG = random_bytes(4 * 1024 * 1024, seed=1)


def test_two_versions_of_a_large_file_are_told_apart_by_offset_and_digest() -> None:
    spliced = BIG[:3_000_001] + random_bytes(len(BIG) - 3_000_001, seed=2)
    with pytest.raises(AssertionError) as raised:
        assert_same_bytes(spliced, BIG, "the archive")
    message = str(raised.value)
    assert message.startswith("the archive differ: 4194304 B found, 4194304 B expected")
    assert "first difference at byte 3000001" in message and "sha256 found" in message
    assert len(message) < 400


def test_a_file_stands_for_its_bytes_and_a_prefix_differs_at_its_end(tmp_path: Path) -> None:
    path = tmp_path / "a.bin"
    path.write_bytes(BIG)
    assert_same_bytes(path, BIG)
    with pytest.raises(AssertionError, match=f"{path} differ: 4194304 B found, 4194305 B"):
        assert_same_bytes(path, BIG + b"x")
    assert first_difference(BIG, BIG + b"x") == len(BIG)
    assert first_difference(b"", b"") is None and first_difference(b"ab", b"ax") == 1


def test_long_lists_name_the_first_differing_index() -> None:
    items = [f"member-{i}" for i in range(100_000)]
    assert_same_items(items, list(items))
    changed = [*items[:70_000], "other", *items[70_001:]]
    with pytest.raises(AssertionError) as raised:
        assert_same_items(changed, items, "the members")
    assert str(raised.value) == (
        "the members differ: 100000 found, 100000 expected; first difference at index "
        "70000: found 'other', expected 'member-70000'"
    )
    with pytest.raises(AssertionError, match="index 3: found nothing"):
        assert_same_items(items[:3], items[:4])
