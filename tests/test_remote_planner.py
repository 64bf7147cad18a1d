"""The range planner: every selected member fetched once, in ranges that waste little and
keep every connection busy (property tests over random archive layouts)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from hyperkvasir_cli.archive.index import ZipMember
from hyperkvasir_cli.archive.plan import MemberTask
from hyperkvasir_cli.remote.planner import (
    MAX_GAP,
    WASTE_RATIO,
    coalesce,
    member_ends,
    plan_ranges,
)


def _layout(sizes: list[int]) -> tuple[list[ZipMember], int]:
    """Members laid out back to back with the given sizes; the directory's offset."""
    members = []
    offset = 0
    for index, size in enumerate(sizes):
        members.append(ZipMember(f"d/{index:05d}.jpg", size, size, 0, 0, offset))
        offset += size
    return members, offset


def _tasks(members: list[ZipMember], chosen: list[bool]) -> list[MemberTask]:
    return [MemberTask(m.name, m, False) for m, keep in zip(members, chosen, strict=True) if keep]


layouts = st.lists(st.integers(min_value=31, max_value=400_000), min_size=1, max_size=200)


@settings(max_examples=200, deadline=None)
@given(layouts, st.data(), st.integers(min_value=1, max_value=8))
def test_each_selected_member_is_fetched_once_inside_its_range(
    sizes: list[int], data: st.DataObject, connections: int
) -> None:
    members, directory = _layout(sizes)
    chosen = data.draw(st.lists(st.booleans(), min_size=len(sizes), max_size=len(sizes)))
    tasks = _tasks(members, chosen)
    ranges = plan_ranges(tasks, members, directory, connections)
    planned = [t.path for r in ranges for t in r.tasks]
    assert planned == [t.path for t in tasks]  # each once, in archive order
    ends = member_ends(members, directory)
    previous_end = 0
    for request in ranges:
        assert request.tasks and previous_end <= request.start < request.end <= directory
        for task in request.tasks:
            first = task.member.header_offset
            assert request.start <= first and ends[first] <= request.end
        previous_end = request.end


@settings(max_examples=200, deadline=None)
@given(layouts, st.data())
def test_unwanted_bytes_stay_within_the_waste_ratio(sizes: list[int], data: st.DataObject) -> None:
    members, directory = _layout(sizes)
    chosen = data.draw(st.lists(st.booleans(), min_size=len(sizes), max_size=len(sizes)))
    tasks = _tasks(members, chosen)
    ends = member_ends(members, directory)
    wanted = sum(ends[t.member.header_offset] - t.member.header_offset for t in tasks)
    ranges = coalesce(tasks, ends)
    fetched = sum(r.size for r in ranges)
    assert fetched - wanted <= WASTE_RATIO * wanted
    for request in ranges:  # no gap inside a range is larger than a request costs
        for before, after in zip(request.tasks, request.tasks[1:], strict=False):
            gap = after.member.header_offset - ends[before.member.header_offset]
            assert gap <= MAX_GAP


@settings(max_examples=200, deadline=None)
@given(layouts, st.integers(min_value=1, max_value=8), st.data())
def test_contiguous_members_take_one_request_per_connection_at_most(
    sizes: list[int], connections: int, data: st.DataObject
) -> None:
    members, directory = _layout(sizes)
    first = data.draw(st.integers(min_value=0, max_value=len(sizes) - 1))
    last = data.draw(st.integers(min_value=first, max_value=len(sizes) - 1))
    chosen = [first <= i <= last for i in range(len(sizes))]
    ranges = plan_ranges(_tasks(members, chosen), members, directory, connections)
    assert 1 <= len(ranges) <= min(connections, last - first + 1)


def test_a_class_of_equal_images_is_shared_evenly_by_the_connections() -> None:
    members, directory = _layout([360_000] * 1028)
    ranges = plan_ranges(_tasks(members, [True] * 1028), members, directory, 4)
    assert [len(r.tasks) for r in ranges] == [257, 257, 257, 257]


def test_small_gaps_are_fetched_rather_than_asked_for_again() -> None:
    # Every other member of 300 kB images, between them 2 kB csv rows: one range.
    sizes = [300_000, 2_000] * 50
    members, directory = _layout(sizes)
    chosen = [i % 2 == 0 for i in range(len(sizes))]
    ranges = plan_ranges(_tasks(members, chosen), members, directory, 1)
    assert len(ranges) == 1
    # Large members between them are skipped: one range per wanted member.
    sizes = [300_000, 2_000_000] * 10
    members, directory = _layout(sizes)
    chosen = [i % 2 == 0 for i in range(len(sizes))]
    assert len(plan_ranges(_tasks(members, chosen), members, directory, 1)) == 10
