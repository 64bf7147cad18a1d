"""What a server's answer to a (ranged) GET means for the bytes we already have.

Pure decisions, no I/O: the transfer code asks :func:`judge_response` and acts. The rule
that matters: bytes are appended only to a 206 that starts exactly where we asked, for a
file of the size and version (ETag / Last-Modified) we started with. Anything else means
the server's file is another one, and we start over rather than splice two versions.

A server that sends neither a strong ETag nor Last-Modified gives nothing to pin a version
with (no If-Range). Its partial is never continued by a later run (sidecar.py), and within
one run every continuation (the rest after the first request, a retry after a drop) asks
again for up to OVERLAP_BYTES it already holds (:func:`continuation_overlap`) and appends
only when those bytes are the same; different bytes mean the file changed: start over.
Such a download uses one connection, so that every continuation follows bytes on disk.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from hyperkvasir_cli.transfer.content_range import ContentRange
from hyperkvasir_cli.transfer.validators import Validators

# How many bytes before a continuation's offset are asked for again, and compared with the
# ones held, when nothing pins the file's version: enough that another version of a
# (compressed, or any real) file differs in them, small beside the pieces that follow.
OVERLAP_BYTES = 64 * 1024


class Verdict(Enum):
    APPEND = "append"  # write the body at the requested offset
    RESTART = "restart"  # the file changed or the range was ignored: start from zero
    COMPLETE = "complete"  # 416 for exactly our size: we already have every byte
    RETRY = "retry"  # a passing failure (429, 5xx): back off and ask again
    REFUSED = "refused"  # 401/403: this URL will not serve us (another connection may)
    GONE = "gone"  # 404/410: not at this URL; try the next mirror


@dataclass(frozen=True)
class ServerAnswer:
    status: int
    content_range: ContentRange | None
    content_length: int | None
    validators: Validators
    content_type: str = ""


@dataclass(frozen=True)
class Judgement:
    verdict: Verdict
    reason: str
    total: int | None = None


def judge_response(
    start: int,
    expected_total: int | None,
    known: Validators | None,
    answer: ServerAnswer,
) -> Judgement:
    """Decide what a response to a request for bytes ``start-`` means."""
    status = answer.status
    if status in (404, 410):
        return Judgement(Verdict.GONE, f"HTTP {status}: not at this URL")
    if status in (401, 403):
        return Judgement(Verdict.REFUSED, f"HTTP {status}: the server refused the request")
    if status in (408, 425, 429) or 500 <= status <= 599:
        return Judgement(Verdict.RETRY, f"HTTP {status} from the server")
    if status == 416:
        total = answer.content_range.total if answer.content_range else None
        if start > 0 and total == start and expected_total in (None, total):
            return Judgement(Verdict.COMPLETE, "the server says every byte is here", total)
        return Judgement(Verdict.RESTART, f"HTTP 416 for offset {start} of {total} bytes")
    if status == 200:
        total = answer.content_length
        if known is not None and known.conflicts_with(answer.validators):
            # An If-Range that no longer matches gets a 200 (RFC 9110): a new version.
            return Judgement(Verdict.RESTART, changed_on_server(known, answer.validators), total)
        if start > 0:
            return Judgement(Verdict.RESTART, "the server ignored the range and sent it all", total)
        if expected_total is not None and total is not None and total != expected_total:
            return Judgement(
                Verdict.RESTART, f"the server's file is {total} bytes, was {expected_total}", total
            )
        return Judgement(Verdict.APPEND, "full content", total)
    if status == 206:
        return _judge_partial(start, expected_total, known, answer)
    return Judgement(Verdict.GONE, f"unexpected HTTP {status}")


def _judge_partial(
    start: int, expected_total: int | None, known: Validators | None, answer: ServerAnswer
) -> Judgement:
    content_range = answer.content_range
    if content_range is None or content_range.first is None:
        return Judgement(Verdict.RESTART, "206 without a usable Content-Range")
    total = content_range.total
    if content_range.first != start:
        return Judgement(
            Verdict.RESTART, f"206 starts at {content_range.first}, asked for {start}", total
        )
    if expected_total is not None and total is not None and total != expected_total:
        return Judgement(
            Verdict.RESTART,
            f"the server's file is {total} bytes now, was {expected_total}: it changed",
            total,
        )
    if known is not None and known.conflicts_with(answer.validators):
        return Judgement(Verdict.RESTART, changed_on_server(known, answer.validators), total)
    return Judgement(Verdict.APPEND, "range accepted", total)


def changed_on_server(known: Validators, now: Validators) -> str:
    """Why the partial's version is not the server's any more: which validators differ."""
    differences = []
    if known.etag and now.etag and known.etag != now.etag:
        differences.append(f"ETag {known.etag} -> {now.etag}")
    if known.last_modified and now.last_modified and known.last_modified != now.last_modified:
        differences.append(f"Last-Modified {known.last_modified} -> {now.last_modified}")
    return "the file changed on the server since the partial was fetched (" + (
        ", ".join(differences) + ")"
    )


def continuation_overlap(held: int, known: Validators | None) -> int:
    """How many of the ``held`` bytes just before a continuation's offset to ask for again
    and compare before appending: none when If-Range pins the version (a server answers a
    new version with a 200, judged above), up to OVERLAP_BYTES when nothing pins it.
    ``known`` is None for a download's first request, which continues nothing."""
    if known is None or known.if_range is not None:
        return 0
    return min(OVERLAP_BYTES, held)


def overlap_mismatch(offset: int, length: int) -> str:
    """Why a continuation without validators was not appended: its overlap differed."""
    return (
        f"the file changed on the server: the {length} bytes before byte {offset} are not "
        "the ones fetched earlier (the server sends no ETag or Last-Modified to tell "
        "versions apart, so they are compared)"
    )
