"""Which byte ranges to ask for, given the members to fetch (pure).

A member occupies ``[header_offset, next member's header_offset)`` in the archive (its
local header, its data and any data descriptor; the last one ends where the central
directory starts), so a range never has to guess a local header's length. Neighbouring
members are asked for in one request when the bytes between them (members not selected)
cost less than a request does on a slow server, and never so many that more than
:data:`WASTE_RATIO` of what is fetched is unwanted. The ranges are then cut at member
boundaries into at least as many pieces as there are connections, of similar size, so
that every connection has a share of the work.
"""

from __future__ import annotations

import bisect
import itertools
from collections.abc import Sequence
from dataclasses import dataclass

from hyperkvasir_cli.archive.index import ZipMember
from hyperkvasir_cli.archive.plan import MemberTask

# A request on a server that gives 0.25 MB/s per connection costs about a quarter of a
# second in round trips and set-up: as much time as 64 KiB of body.
MAX_GAP = 64 * 1024
# At most this share of the bytes fetched belongs to members nobody asked for.
WASTE_RATIO = 0.04
# A range is not cut for more connections below this size: a request costs about as much
# as 64 KiB of body, and a few small ranges finish soon on one connection anyway.
MIN_PIECE = 1024 * 1024


@dataclass(frozen=True)
class RangeTask:
    """One ranged request: bytes ``[start, end)`` holding ``tasks`` (in archive order)."""

    start: int
    end: int
    tasks: tuple[MemberTask, ...]

    @property
    def size(self) -> int:
        return self.end - self.start


def member_ends(members: Sequence[ZipMember], directory_offset: int) -> dict[int, int]:
    """Where each member's bytes end (by header offset): at the next member's header,
    the last one's at the central directory."""
    starts = sorted({m.header_offset for m in members})
    ends = {}
    for index, start in enumerate(starts):
        ends[start] = starts[index + 1] if index + 1 < len(starts) else directory_offset
    return ends


def coalesce(
    tasks: Sequence[MemberTask],
    ends: dict[int, int],
    *,
    max_gap: int = MAX_GAP,
    waste_ratio: float = WASTE_RATIO,
) -> list[RangeTask]:
    """One range per run of neighbours: a member joins the range before it when the gap
    is at most ``max_gap`` and the unwanted bytes stay within ``waste_ratio`` of the
    wanted ones."""
    ranges: list[RangeTask] = []
    ordered = sorted(tasks, key=lambda t: t.member.header_offset)
    current: list[MemberTask] = []
    start = end = wanted = waste = 0
    for task in ordered:
        first = task.member.header_offset
        last = ends[first]
        gap = first - end
        if current and gap <= max_gap and waste + gap <= waste_ratio * (wanted + last - first):
            current.append(task)
            waste += gap
        else:
            if current:
                ranges.append(RangeTask(start, end, tuple(current)))
            current, start, waste, wanted = [task], first, 0, 0
        wanted += last - first
        end = last
    if current:
        ranges.append(RangeTask(start, end, tuple(current)))
    return ranges


def _cut(task: RangeTask, pieces: int) -> list[RangeTask]:
    """``task`` cut into at most ``pieces`` ranges of about equal size, each cut at the
    member boundary nearest to where an equal share would end."""
    starts = [t.member.header_offset for t in task.tasks]
    cuts: list[int] = []  # indexes of the members that begin a new piece
    for share in range(1, pieces):
        ideal = task.start + task.size * share // pieces
        index = bisect.bisect_left(starts, ideal)
        if index < len(starts) and index > 0 and ideal - starts[index - 1] < starts[index] - ideal:
            index -= 1
        if 0 < index < len(starts) and (not cuts or index > cuts[-1]):
            cuts.append(index)
    bounds = [0, *cuts, len(starts)]
    result = []
    for first, last in itertools.pairwise(bounds):
        begin = task.start if first == 0 else starts[first]
        end = task.end if last == len(starts) else starts[last]
        result.append(RangeTask(begin, end, task.tasks[first:last]))
    return result


def spread(
    ranges: Sequence[RangeTask], connections: int, min_piece: int = MIN_PIECE
) -> list[RangeTask]:
    """The ranges, large ones cut so that ``connections`` connections share the bytes
    about evenly (no piece cut smaller than ``min_piece``); in archive order."""
    total = sum(r.size for r in ranges)
    if connections <= 1 or not ranges:
        return list(ranges)
    share = max(min_piece, 1, -(-total // connections))
    pieces: list[RangeTask] = []
    for task in ranges:
        pieces.extend(_cut(task, -(-task.size // share)) if task.size > share else [task])
    return pieces


def plan_ranges(
    tasks: Sequence[MemberTask],
    members: Sequence[ZipMember],
    directory_offset: int,
    connections: int,
    *,
    max_gap: int = MAX_GAP,
    waste_ratio: float = WASTE_RATIO,
    min_piece: int = MIN_PIECE,
) -> list[RangeTask]:
    """The requests that fetch ``tasks`` (members of the archive whose every member is
    ``members``) over ``connections`` connections."""
    ends = member_ends(members, directory_offset)
    ranges = coalesce(tasks, ends, max_gap=max_gap, waste_ratio=waste_ratio)
    return spread(ranges, connections, min_piece)


def fetched_bytes(ranges: Sequence[RangeTask]) -> int:
    return sum(r.size for r in ranges)


def first_unfinished(task: RangeTask, done: int) -> RangeTask:
    """What is left of ``task`` once its first ``done`` members are written."""
    rest = task.tasks[done:]
    return RangeTask(rest[0].member.header_offset, task.end, rest) if rest else task
