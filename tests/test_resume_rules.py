"""The pure rules behind resuming: what a server's answer means, ranges, segments, backoff."""

from __future__ import annotations

import itertools
import random
from datetime import datetime, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hyperkvasir_cli.transfer.content_range import (
    ContentRange,
    parse_content_range,
    parse_range_header,
    range_header,
)
from hyperkvasir_cli.transfer.resume import (
    OVERLAP_BYTES,
    ServerAnswer,
    Verdict,
    continuation_overlap,
    judge_response,
)
from hyperkvasir_cli.transfer.retry import RetryPolicy, parse_retry_after
from hyperkvasir_cli.transfer.segments import (
    MAX_PIECE,
    MIN_PIECE,
    claim_piece,
    contiguous_end,
    merge_finished,
    piece_size,
)
from hyperkvasir_cli.transfer.sidecar import Segment
from hyperkvasir_cli.transfer.validators import Validators

V1 = Validators('"v1"', "Mon, 01 Jan 2024 00:00:00 GMT")
V2 = Validators('"v2"', "Tue, 02 Jan 2024 00:00:00 GMT")


def answer(
    status: int,
    content_range: str | None = None,
    length: int | None = None,
    validators: Validators = V1,
) -> ServerAnswer:
    return ServerAnswer(status, parse_content_range(content_range), length, validators)


def test_206_at_the_requested_offset_of_the_same_version_is_appended() -> None:
    judged = judge_response(100, 1000, V1, answer(206, "bytes 100-999/1000"))
    assert judged.verdict is Verdict.APPEND and judged.total == 1000


@pytest.mark.parametrize(
    ("reply", "why"),
    [
        (answer(206, "bytes 0-999/1000"), "starts at 0"),
        (answer(206, "bytes 100-1099/1100"), "1100 bytes"),
        (answer(206, "bytes 100-999/1000", validators=V2), "changed"),
        (answer(206, None), "Content-Range"),
        (answer(200, None, 1000), "ignored the range"),
    ],
)
def test_anything_else_means_start_over_never_splice(reply: ServerAnswer, why: str) -> None:
    judged = judge_response(100, 1000, V1, reply)
    assert judged.verdict is Verdict.RESTART
    assert why in judged.reason


def test_416_for_exactly_our_size_means_complete() -> None:
    assert judge_response(1000, 1000, V1, answer(416, "bytes */1000")).verdict is Verdict.COMPLETE
    assert judge_response(900, 1000, V1, answer(416, "bytes */1000")).verdict is Verdict.RESTART


@pytest.mark.parametrize(
    ("status", "verdict"),
    [
        (404, Verdict.GONE),
        (410, Verdict.GONE),
        (403, Verdict.REFUSED),
        (429, Verdict.RETRY),
        (503, Verdict.RETRY),
        (500, Verdict.RETRY),
    ],
)
def test_status_codes(status: int, verdict: Verdict) -> None:
    assert judge_response(0, None, None, answer(status)).verdict is verdict


def test_a_fresh_200_whose_size_differs_from_the_known_one_restarts() -> None:
    assert judge_response(0, 1000, None, answer(200, None, 1000)).verdict is Verdict.APPEND
    assert judge_response(0, 1000, None, answer(200, None, 999)).verdict is Verdict.RESTART


def test_if_range_prefers_a_strong_etag_then_the_date() -> None:
    assert V1.if_range == '"v1"'
    assert Validators('W/"weak"', "date").if_range == "date"
    assert Validators(None, None).if_range is None
    assert V1.conflicts_with(V2) and not V1.conflicts_with(Validators(None, V1.last_modified))


@given(held=st.integers(0, 10**10))
def test_only_a_continuation_nothing_pins_compares_an_overlap_of_what_it_holds(held: int) -> None:
    # If-Range pins the version (a strong ETag, or Last-Modified): nothing to compare.
    for pinned in (V1, Validators(None, V1.last_modified), Validators('"v1"', None)):
        assert continuation_overlap(held, pinned) == 0
    # Nothing pins it (no validators, or only a weak ETag, which If-Range cannot carry).
    for unpinned in (Validators(), Validators('W/"v1"', None)):
        assert continuation_overlap(held, unpinned) == min(held, OVERLAP_BYTES)
    assert continuation_overlap(held, None) == 0  # a first request continues nothing


def test_content_range_parsing_rejects_nonsense() -> None:
    assert parse_content_range("bytes 0-9/10") == ContentRange(0, 9, 10)
    assert parse_content_range("bytes */10") == ContentRange(None, None, 10)
    assert parse_content_range("bytes 5-4/10") is None
    assert parse_content_range("bytes 0-10/10") is None
    assert parse_content_range("items 0-1/2") is None
    assert parse_range_header("bytes=5-") == (5, None)
    assert range_header(5, None) == "bytes=5-" and range_header(5, 10) == "bytes=5-9"


@given(unclaimed=st.integers(0, 10**12), connections=st.integers(1, 32))
def test_pieces_are_bounded_and_shrink_towards_the_end(unclaimed: int, connections: int) -> None:
    size = piece_size(unclaimed, connections)
    assert piece_size(unclaimed // 2, connections) <= size
    if connections == 1:
        assert size >= unclaimed  # a lone connection asks for everything at once
    else:
        assert MIN_PIECE <= size <= MAX_PIECE and size % (64 * 1024) == 0


@given(
    total=st.integers(1, 10**9),
    progress=st.lists(st.floats(0, 1), min_size=1, max_size=8),
    sizes=st.lists(st.integers(1, 10**8), min_size=1, max_size=40),
)
def test_claimed_pieces_keep_the_tiling_in_order_and_lose_no_progress(
    total: int, progress: list[float], sizes: list[int]
) -> None:
    """Pieces come off the front of the first free segment, never overlap a piece in
    flight, and splitting or merging never loses a byte counted as done."""
    bounds = [total * i // len(progress) for i in range(len(progress) + 1)]
    segments = [
        Segment(start=a, end=b, done=int((b - a) * fraction))
        for a, b, fraction in zip(bounds, bounds[1:], progress, strict=False)
        if b > a
    ]
    done_before = sum(s.done for s in segments)
    busy: set[int] = set()
    requested: list[tuple[int, int]] = []
    for size in sizes:
        piece = claim_piece(segments, busy, size)
        if piece is None:
            break
        assert piece.end is not None and piece.end - piece.offset <= size
        requested.append((piece.offset, piece.end))
        busy.add(id(piece))
    ordered = sorted(segments, key=lambda s: s.start)
    assert ordered[0].start == 0 and ordered[-1].end == total
    assert all(a.end == b.start for a, b in itertools.pairwise(ordered))
    assert sum(s.done for s in segments) == done_before
    # Requests never overlap, and each asks only for missing bytes, in file order.
    assert all(a[1] <= b[0] for a, b in itertools.pairwise(requested))
    for segment in segments:
        segment.done = (segment.end or 0) - segment.start
    merge_finished(segments, busy)
    assert sum(1 for s in segments if id(s) not in busy) <= len(busy) + 1


def test_contiguous_end_stops_at_the_first_gap() -> None:
    segments = [
        Segment(start=0, end=10, done=10),
        Segment(start=10, end=20, done=4),
        Segment(start=20, end=30, done=10),
    ]
    assert contiguous_end(segments) == 14


def test_backoff_grows_with_jitter_and_honours_retry_after() -> None:
    policy = RetryPolicy(retries=3, base_delay=1, max_delay=10, rng=random.Random(1))
    delays = [policy.delay(n) for n in range(1, 7)]
    assert all(
        0.5 * min(10, 2 ** (n - 1)) <= d <= min(10, 2 ** (n - 1)) for n, d in enumerate(delays, 1)
    )
    assert policy.delay(1, retry_after=42) == 42
    assert policy.delay(1, retry_after=10**6) == policy.max_retry_after
    assert not policy.exhausted(3) and policy.exhausted(4)


def test_retry_after_as_seconds_or_http_date() -> None:
    now = datetime(2026, 1, 1, tzinfo=timezone.utc)
    assert parse_retry_after("120", now) == 120
    assert parse_retry_after("Thu, 01 Jan 2026 00:01:00 GMT", now) == 60
    assert parse_retry_after("soon", now) is None


@pytest.mark.parametrize("status", [200, 206])
def test_a_changed_version_is_called_a_change_not_an_ignored_range(status: int) -> None:
    """nginx after `touch`: the If-Range no longer matches, so the whole file comes (200)."""
    reply = answer(status, "bytes 100-999/1000" if status == 206 else None, 1000, V2)
    judged = judge_response(100, 1000, V1, reply)
    assert judged.verdict is Verdict.RESTART
    assert judged.reason.startswith("the file changed on the server")
    assert 'ETag "v1" -> "v2"' in judged.reason and "Last-Modified" in judged.reason
    assert "ignored" not in judged.reason


def test_a_200_of_the_same_version_to_a_range_request_is_an_ignored_range() -> None:
    judged = judge_response(100, 1000, V1, answer(200, None, 1000, Validators(None, None)))
    assert judged.verdict is Verdict.RESTART and "ignored the range" in judged.reason
