"""One ranged GET against the server's copy of an archive, pinned to one version of it.

The decision (:func:`judge_range`) is pure: given what was asked and what the server
answered, the body is usable, the server ignores ranges, the file changed, or the failure
is passing. :func:`open_range` sends the request (``If-Range`` with the pinned validator
whenever one is known), retries passing failures with backoff, and returns a response
whose body is exactly the bytes asked for, of the pinned version; nothing of another
version is ever read.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from typing import TYPE_CHECKING, TypeVar

from hyperkvasir_cli.core.clock import Clock
from hyperkvasir_cli.core.errors import NetworkError
from hyperkvasir_cli.transfer.content_range import ContentRange, parse_content_range
from hyperkvasir_cli.transfer.resume import ServerAnswer, changed_on_server
from hyperkvasir_cli.transfer.retry import RetryPolicy, parse_retry_after
from hyperkvasir_cli.transfer.validators import Validators

if TYPE_CHECKING:
    import httpx

T = TypeVar("T")

WHOLE_ARCHIVE_HINT = (
    "this server does not serve byte ranges, so members cannot be fetched one by one; "
    "a whole-archive download works there: `hyperkvasir download {part}` (without "
    "--class, --include or --exclude), then `hyperkvasir extract {part}` with your selection"
)


@dataclass(frozen=True)
class Pin:
    """The version of the server's file a run reads: its size and validators."""

    size: int
    validators: Validators

    @property
    def if_range(self) -> str | None:
        return self.validators.if_range

    def describe(self) -> str:
        parts = [f"{self.size} B"]
        if self.validators.etag:
            parts.append(f"ETag {self.validators.etag}")
        if self.validators.last_modified:
            parts.append(f"Last-Modified {self.validators.last_modified}")
        return ", ".join(parts)


@dataclass(frozen=True)
class ByteRange:
    """Bytes ``[first, end)``; a suffix range (the last ``suffix`` bytes) when ``first``
    is None."""

    first: int | None
    end: int | None = None
    suffix: int | None = None

    @classmethod
    def span(cls, first: int, end: int) -> ByteRange:
        return cls(first, end)

    @classmethod
    def last(cls, count: int) -> ByteRange:
        return cls(None, None, count)

    @property
    def header(self) -> str:
        if self.first is None:
            return f"bytes=-{self.suffix}"
        return f"bytes={self.first}-{(self.end or 0) - 1}"


class Outcome(Enum):
    BODY = "body"  # a 206 of the pinned version starting where asked
    WHOLE = "whole"  # a 200 that is the file itself (suffix asked, no pin yet): caller decides
    IGNORED = "ignored"  # the server sent everything for a range: it does not serve ranges
    CHANGED = "changed"  # another version of the file
    NOT_MODIFIED = "not-modified"  # a 304 to a conditional request: the known version stands
    RETRY = "retry"  # a passing failure
    FAILED = "failed"  # this URL will not serve the file


@dataclass(frozen=True)
class RangeJudgement:
    outcome: Outcome
    reason: str
    content_range: ContentRange | None = None


def judge_range(asked: ByteRange, pin: Pin | None, answer: ServerAnswer) -> RangeJudgement:
    """What the server's answer to a GET for ``asked`` means for a run pinned to ``pin``
    (None: the version is not known yet, as for the first request)."""
    status = answer.status
    if status == 304:
        return RangeJudgement(Outcome.NOT_MODIFIED, "not modified")
    if status in (408, 425, 429) or 500 <= status <= 599:
        return RangeJudgement(Outcome.RETRY, f"HTTP {status} from the server")
    if status in (404, 410):
        return RangeJudgement(Outcome.FAILED, f"HTTP {status}: not at this URL")
    if status in (401, 403):
        return RangeJudgement(Outcome.FAILED, f"HTTP {status}: the server refused the request")
    if pin is not None and pin.validators.conflicts_with(answer.validators):
        return RangeJudgement(Outcome.CHANGED, changed_on_server(pin.validators, answer.validators))
    if status == 200:
        if pin is not None and answer.content_length not in (None, pin.size):
            return RangeJudgement(
                Outcome.CHANGED, f"the file is {answer.content_length} B now, was {pin.size} B"
            )
        if asked.first is None and pin is None:
            return RangeJudgement(Outcome.WHOLE, "the server sent the whole file")
        # With a pinned validator, a server that serves ranges answers a matching If-Range
        # with a 206: a 200 of the same version means ranges are not served at all.
        return RangeJudgement(Outcome.IGNORED, "the server sent the whole file for a range")
    if status == 416:
        found = answer.content_range
        total = found.total if found else None
        return RangeJudgement(
            Outcome.WHOLE if pin is None else Outcome.CHANGED,
            f"HTTP 416: the range lies outside the file ({total if total is not None else '?'} B)",
            found,
        )
    if status != 206:
        return RangeJudgement(Outcome.FAILED, f"unexpected HTTP {status}")
    found = answer.content_range
    if found is None or found.first is None or found.total is None:
        return RangeJudgement(Outcome.RETRY, "a 206 without a usable Content-Range")
    if pin is not None and found.total != pin.size:
        return RangeJudgement(
            Outcome.CHANGED, f"the file is {found.total} B now, was {pin.size} B", found
        )
    if asked.first is not None and found.first != asked.first:
        return RangeJudgement(
            Outcome.RETRY, f"the 206 starts at byte {found.first}, asked for {asked.first}"
        )
    return RangeJudgement(Outcome.BODY, "range served", found)


class FileChanged(Exception):
    """The server's file is not the pinned version any more; nothing of it was read."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class RangesIgnored(NetworkError):
    """The server answers a range with the whole file (exit 4)."""


class Transient(Exception):
    """A failure worth another try (a drop, a stall, 429, 5xx)."""

    def __init__(self, reason: str, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry_after = retry_after


class Unreachable(Transient):
    """The server could not be reached at all. Reading a directory, that is this URL's
    end (the next one is tried); fetching members, a server that answered before is
    given the usual retries."""

    def __init__(self, reason: str, hint: str) -> None:
        super().__init__(reason)
        self.hint = hint


UNREACHABLE_HINT = (
    "check the network and the URL; behind a proxy, set HTTPS_PROXY/HTTP_PROXY (and NO_PROXY "
    "for hosts reached directly); --mirror URL adds another source"
)


@dataclass(frozen=True)
class Opened:
    response: httpx.Response
    judgement: RangeJudgement
    validators: Validators


def send_range(
    client: httpx.Client,
    url: str,
    asked: ByteRange,
    pin: Pin | None,
    clock: Clock,
    extra_headers: dict[str, str] | None = None,
) -> Opened:
    """One GET for ``asked``; the streaming response with its judgement. Raises
    :class:`Transient` for a passing failure and :class:`NetworkError` when this URL
    will not serve the file. The caller closes the response."""
    import httpx

    from hyperkvasir_cli.transfer.http_client import request_url

    headers = {"Range": asked.header, **(extra_headers or {})}
    if pin is not None and pin.if_range:
        headers["If-Range"] = pin.if_range
    try:
        request = client.build_request("GET", request_url(url), headers=headers)
        response = client.send(request, stream=True)
    except (httpx.ConnectError, httpx.ProxyError) as exc:
        from hyperkvasir_cli.transfer.http_client import (
            INCOMPLETE_CHAIN_HINT,
            is_certificate_error,
        )

        hint = INCOMPLETE_CHAIN_HINT if is_certificate_error(exc) else UNREACHABLE_HINT
        raise Unreachable(f"cannot connect to {url}: {type(exc).__name__}: {exc}", hint) from exc
    except (httpx.TimeoutException, httpx.NetworkError, httpx.RemoteProtocolError) as exc:
        raise Transient(f"{type(exc).__name__}: {exc}") from exc
    except httpx.HTTPError as exc:
        raise NetworkError(
            f"cannot reach {url}: {type(exc).__name__}: {exc}",
            hint="check the URL and your network (proxy settings: HTTPS_PROXY, NO_PROXY)",
        ) from exc
    answer = server_answer(response)
    judgement = judge_range(asked, pin, answer)
    if judgement.outcome is Outcome.RETRY:
        response.close()
        retry_after = parse_retry_after(response.headers.get("retry-after"), clock.now())
        raise Transient(judgement.reason, retry_after)
    if judgement.outcome is Outcome.FAILED:
        response.close()
        raise NetworkError(
            f"{url}: {judgement.reason}",
            hint="check the URL (the manifest's `urls`, or --mirror) and try again later",
        )
    return Opened(response, judgement, answer.validators)


def server_answer(response: httpx.Response) -> ServerAnswer:
    length = response.headers.get("content-length")
    return ServerAnswer(
        status=response.status_code,
        content_range=parse_content_range(response.headers.get("content-range")),
        content_length=int(length) if length and length.isdigit() else None,
        validators=Validators.from_headers(response.headers),
        content_type=response.headers.get("content-type", ""),
    )


def with_retries(policy: RetryPolicy, clock: Clock, attempt_once: Callable[[], T]) -> T:
    """``attempt_once()`` until it succeeds, retrying :class:`Transient` failures with
    backoff; NetworkError (exit 4) once ``policy`` is exhausted."""
    attempt = 0
    while True:
        try:
            return attempt_once()
        except Unreachable as exc:
            raise NetworkError(exc.reason, hint=exc.hint) from exc
        except Transient as exc:
            attempt += 1
            if policy.exhausted(attempt):
                raise NetworkError(
                    f"the server failed {attempt} times in a row: {exc.reason}",
                    hint="try again later; whatever was fetched is kept and a rerun continues",
                ) from exc
            clock.sleep(policy.delay(attempt, exc.retry_after))
