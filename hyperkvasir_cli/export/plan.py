"""Cutting a split's items into shards and row groups by bytes: a pure decision.

The plan depends only on the items' sizes, so the same input always gives the same shard
boundaries, and each shard's name can carry the shard count (``train-00000-of-00003``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

ROW_GROUP_BYTES = 100 * 1000 * 1000  # about 100 MB of images per Parquet row group
DEFAULT_SHARD_BYTES = 500 * 1000 * 1000


@dataclass(frozen=True)
class ShardPlan:
    """Items ``[start, end)`` of the split, in row groups of ``groups`` (end offsets)."""

    index: int
    start: int
    end: int
    group_ends: tuple[int, ...]

    @property
    def rows(self) -> int:
        return self.end - self.start

    def groups(self) -> list[tuple[int, int]]:
        starts = (self.start, *self.group_ends[:-1])
        return list(zip(starts, self.group_ends, strict=True))


def plan_shards(
    sizes: Sequence[int], shard_bytes: int, group_bytes: int = ROW_GROUP_BYTES
) -> list[ShardPlan]:
    """Row groups close once they hold ``group_bytes`` (or ``shard_bytes``, if smaller);
    a shard closes after the row group that brings it to ``shard_bytes``. Every shard has
    at least one row; an empty split is one empty shard."""
    group_limit = max(1, min(group_bytes, shard_bytes))
    shards: list[ShardPlan] = []
    start, group_ends = 0, []
    shard_total = group_total = 0
    for index, size in enumerate(sizes):
        shard_total += size
        group_total += size
        if group_total >= group_limit:
            group_ends.append(index + 1)
            group_total = 0
            if shard_total >= shard_bytes:
                shards.append(ShardPlan(len(shards), start, index + 1, tuple(group_ends)))
                start, group_ends, shard_total = index + 1, [], 0
    if start < len(sizes) or not shards:
        if not group_ends or group_ends[-1] != len(sizes):
            group_ends.append(len(sizes))
        shards.append(ShardPlan(len(shards), start, len(sizes), tuple(group_ends)))
    return shards


def shard_name(split: str, index: int, count: int, suffix: str) -> str:
    """``<split>/<split>-00000-of-00003.<suffix>``, as the Hugging Face Hub names shards."""
    return f"{split}/{split}-{index:05d}-of-{count:05d}.{suffix}"


_UNITS = {"": 1, "k": 1000, "m": 1000**2, "g": 1000**3, "t": 1000**4}


def parse_size(text: str) -> int:
    """Bytes from ``500M``, ``500MB``, ``1.5G``, ``512MiB`` or a plain number of bytes
    (K, M, G, T are powers of 1000; KiB, MiB, GiB, TiB of 1024). ValueError otherwise."""
    cleaned = text.strip().lower().removesuffix("b").strip()
    binary = cleaned.endswith("i")
    cleaned = cleaned.removesuffix("i")
    number, unit = cleaned, ""
    if cleaned and cleaned[-1] in "kmgt":
        number, unit = cleaned[:-1].strip(), cleaned[-1]
    try:
        value = float(number)
    except ValueError:
        raise ValueError(f"not a size like 500M, 1G or 512MiB: {text!r}") from None
    if binary and not unit:
        raise ValueError(f"not a size like 500M, 1G or 512MiB: {text!r}")
    factor = 1024 ** "_kmgt".index(unit) if binary else _UNITS[unit]
    size = int(value * factor)
    if size <= 0:
        raise ValueError(f"size must be positive, found {text!r}")
    return size
