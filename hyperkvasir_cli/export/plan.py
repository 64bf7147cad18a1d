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
