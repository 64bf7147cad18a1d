"""Planning the byte ranges of a download: pure functions over sidecar segments.

Segments tile ``[0, total)`` without gaps or overlap. Connections carve *pieces* off the
front of the first unclaimed segment, so the file fills from its start, in order, whatever
the number of connections: the hash that follows the contiguous prefix stays close behind,
and little is left to hash once the last byte lands. Every request asks for exactly one
piece (``bytes=a-b``), and a piece is never cut while its request is in flight, so no byte
crosses the wire twice. Pieces shrink as the unclaimed bytes run out, so every connection
finishes at about the same time (the slowest tail is what makes multi-connection
downloads slow).
"""

from __future__ import annotations

from collections.abc import Iterable

from hyperkvasir_cli.transfer.sidecar import Segment

MIN_PIECE = 1024 * 1024
MAX_PIECE = 64 * 1024 * 1024
_ALIGN = 64 * 1024


def piece_size(unclaimed: int, connections: int) -> int:
    """The next piece for one connection: half its share of what nobody has claimed yet,
    between MIN_PIECE and MAX_PIECE, in whole 64 KiB blocks. A lone connection asks for
    everything at once: it has nobody to share the end with."""
    if connections <= 1:
        return max(unclaimed, MIN_PIECE)
    share = unclaimed // max(2 * connections, 1)
    size = min(max(share, MIN_PIECE), MAX_PIECE)
    return size - size % _ALIGN


def unclaimed_bytes(segments: Iterable[Segment], busy: set[int]) -> int:
    """Bytes still missing from segments nobody is fetching (None-ended ones count 0)."""
    return sum(s.remaining or 0 for s in segments if id(s) not in busy)


def next_free_segment(segments: Iterable[Segment], busy: set[int]) -> Segment | None:
    """The first unfinished segment nobody is fetching."""
    for segment in sorted(segments, key=lambda s: s.start):
        if not segment.complete and id(segment) not in busy:
            return segment
    return None


def claim_piece(segments: list[Segment], busy: set[int], size: int) -> Segment | None:
    """Claim the first ``size`` missing bytes of the first free segment (the whole segment
    when its end is unknown or it is no larger). Returns the claimed segment, whose
    missing bytes are exactly the piece to request, or None when every segment is taken.

    A segment longer than the piece is split at the piece's end: the claimed part keeps the
    bytes already done, the rest becomes a free segment. ``busy`` holds the ``id()`` of
    segments being fetched; the caller adds the claimed one and holds the segments' lock.
    """
    segment = next_free_segment(segments, busy)
    if segment is None:
        return None
    if segment.end is not None and segment.end - segment.offset > size:
        rest = Segment(start=segment.offset + size, end=segment.end)
        segment.end = rest.start
        segments.append(rest)
        segments.sort(key=lambda s: s.start)
    return segment


def merge_finished(segments: list[Segment], busy: set[int]) -> None:
    """Join neighbouring complete segments nobody holds, so the list (and the sidecar)
    stays short however many pieces a download takes."""
    merged: list[Segment] = []
    for segment in sorted(segments, key=lambda s: s.start):
        last = merged[-1] if merged else None
        if (
            last is not None
            and last.complete
            and segment.complete
            and last.end == segment.start
            and id(last) not in busy
            and id(segment) not in busy
        ):
            last.end = segment.end
            last.done += segment.done
            continue
        merged.append(segment)
    segments[:] = merged


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


def is_finished(segments: Iterable[Segment]) -> bool:
    segs = list(segments)
    return bool(segs) and all(s.complete for s in segs)
