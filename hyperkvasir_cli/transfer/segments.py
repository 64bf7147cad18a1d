"""Planning the byte ranges of a download: pure functions over sidecar segments.

Segments tile ``[0, total)`` without gaps or overlap. A connection that finishes early
takes the second half of the largest unfinished segment, so every connection stays busy
until the end (the slowest tail is what makes multi-connection downloads slow).
"""

from __future__ import annotations

from collections.abc import Iterable

from hyperkvasir_cli.transfer.sidecar import Segment

MIN_SEGMENT = 4 * 1024 * 1024
_ALIGN = 64 * 1024


def plan_segments(total: int, connections: int, min_segment: int = MIN_SEGMENT) -> list[Segment]:
    """Split ``total`` bytes into at most ``connections`` segments of at least ``min_segment``."""
    count = max(1, min(connections, total // max(min_segment, 1)))
    bounds = [total * i // count for i in range(count + 1)]
    return [Segment(start=bounds[i], end=bounds[i + 1]) for i in range(count)]


def contiguous_end(segments: Iterable[Segment]) -> int:
    """How many bytes from offset 0 are on disk without a gap."""
    position = 0
    for segment in sorted(segments, key=lambda s: s.start):
        if segment.start != position:
            break
        position = segment.offset
        if not segment.complete:
            break
    return position


def split_largest(
    segments: list[Segment], busy: set[int], min_segment: int = MIN_SEGMENT
) -> Segment | None:
    """Halve the busy segment with the most bytes left; return the new tail segment.

    ``busy`` holds the ``id()`` of segments being fetched. Returns None when no segment
    has enough left to be worth a new connection. The caller holds the segments' lock.
    """
    candidates = [s for s in segments if id(s) in busy and not s.complete and s.end is not None]
    if not candidates:
        return None
    largest = max(candidates, key=lambda s: s.remaining or 0)
    remaining = largest.remaining or 0
    if remaining < 2 * min_segment:
        return None
    middle = largest.offset + remaining // 2
    middle -= middle % _ALIGN
    if middle <= largest.offset or largest.end is None or middle >= largest.end:
        return None
    tail = Segment(start=middle, end=largest.end)
    largest.end = middle
    segments.append(tail)
    segments.sort(key=lambda s: s.start)
    return tail


def next_free_segment(segments: Iterable[Segment], busy: set[int]) -> Segment | None:
    """The first unfinished segment nobody is fetching."""
    for segment in sorted(segments, key=lambda s: s.start):
        if not segment.complete and id(segment) not in busy:
            return segment
    return None


def is_finished(segments: Iterable[Segment]) -> bool:
    segs = list(segments)
    return bool(segs) and all(s.complete for s in segs)
