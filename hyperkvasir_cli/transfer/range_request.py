"""One HTTP request for one byte range, and copying its body into the partial file.

Failures are sorted into a few exceptions that the engine acts on: a passing failure
(:class:`Transient`), a URL that will not serve us (:class:`UrlFailed`), a server that
refuses extra connections (:class:`Refused`), and a file that changed (:class:`RestartNeeded`).
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import httpx

from hyperkvasir_cli.core.clock import Clock
from hyperkvasir_cli.transfer.body import (
    BodyReadError,
    SocketBody,
    StreamBody,
    direct_socket,
)
from hyperkvasir_cli.transfer.content_range import parse_content_range, range_header
from hyperkvasir_cli.transfer.http_client import is_certificate_error, request_url
from hyperkvasir_cli.transfer.ratelimit import RateLimiter
from hyperkvasir_cli.transfer.resume import (
    Judgement,
    ServerAnswer,
    Verdict,
    judge_response,
    overlap_mismatch,
)
from hyperkvasir_cli.transfer.retry import parse_retry_after
from hyperkvasir_cli.transfer.sidecar import Segment
from hyperkvasir_cli.transfer.validators import Validators

CHUNK_SIZE = 1024 * 1024
FLUSH_SECONDS = 0.1


class Transient(Exception):
    """Worth another try on the same URL (drop, stall, 429, 5xx)."""

    def __init__(self, reason: str, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry_after = retry_after


class Refused(Exception):
    """The server refused this connection (403, 429, 503, or no range on an extra one)."""

    def __init__(self, reason: str, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry_after = retry_after


class Denied(Refused):
    """401 or 403: the server will not serve this URL to us. Final for the URL unless other
    connections are still fetching (some servers refuse extra connections this way)."""


class RestartNeeded(Exception):
    """The server's file is not the one the partial holds: start from zero."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class UrlFailed(Exception):
    """This URL cannot serve the file in this run; ``kind`` says why."""

    def __init__(self, kind: str, reason: str) -> None:
        super().__init__(reason)
        # gone | denied | unreachable | proxy | certificate | exhausted | wrong-file | web-page
        self.kind = kind
        self.reason = reason


@dataclass(frozen=True)
class OpenedRange:
    response: httpx.Response
    judgement: Judgement
    answer: ServerAnswer


def describe_http_error(exc: httpx.HTTPError) -> str:
    text = str(exc) or type(exc).__name__
    return f"{type(exc).__name__}: {text}"


def _answer(response: httpx.Response) -> ServerAnswer:
    length = response.headers.get("content-length")
    return ServerAnswer(
        status=response.status_code,
        content_range=parse_content_range(response.headers.get("content-range")),
        content_length=int(length) if length and length.isdigit() else None,
        validators=Validators.from_headers(response.headers),
        content_type=response.headers.get("content-type", ""),
    )


def open_range(
    client: httpx.Client,
    url: str,
    segment: Segment,
    known: Validators | None,
    expected_total: int | None,
    clock: Clock,
    request_end: int | None = None,
    overlap: int = 0,
) -> OpenedRange:
    """Send the GET for the segment's missing bytes (up to ``request_end`` when given);
    raise unless they may be appended.

    With ``overlap``, the request starts that many bytes before the segment's offset (bytes
    the partial holds, which :func:`copy_body` compares before appending) and is judged as
    a request from there. A RESTART or COMPLETE verdict is returned (the caller decides),
    the rest raise.
    """
    # Always ask for a range, even from zero: a 206 is how we learn that the server
    # supports ranges (and so more connections); a 200 means it does not.
    end = segment.end if request_end is None else request_end
    first = segment.offset - overlap
    headers = {"Range": range_header(first, end)}
    if known is not None and known.if_range and segment.offset > 0:
        headers["If-Range"] = known.if_range
    try:
        request = client.build_request("GET", request_url(url), headers=headers)
        response = client.send(request, stream=True)
    except httpx.ConnectError as exc:
        kind = "certificate" if is_certificate_error(exc) else "unreachable"
        raise UrlFailed(kind, describe_http_error(exc)) from exc
    except httpx.ProxyError as exc:
        # The message names the proxy and its variable (see http_client.RoutingTransport).
        raise UrlFailed("proxy", str(exc)) from exc
    except (httpx.TimeoutException, httpx.NetworkError, httpx.RemoteProtocolError) as exc:
        raise Transient(describe_http_error(exc)) from exc
    except (httpx.TooManyRedirects, httpx.UnsupportedProtocol) as exc:
        # A redirect loop (a login page, an http/https mix-up) or a redirect to ftp://:
        # this URL will not serve the file; the next one may.
        raise UrlFailed("gone", f"redirected nowhere usable: {describe_http_error(exc)}") from exc
    answer = _answer(response)
    judgement = judge_response(first, expected_total, known, answer)
    verdict = judgement.verdict
    if verdict in (Verdict.APPEND, Verdict.RESTART, Verdict.COMPLETE):
        return OpenedRange(response, judgement, answer)
    response.close()
    retry_after = parse_retry_after(response.headers.get("retry-after"), clock.now())
    if verdict is Verdict.RETRY:
        if response.status_code in (429, 503):
            raise Refused(judgement.reason, retry_after)
        raise Transient(judgement.reason, retry_after)
    if verdict is Verdict.REFUSED:
        if response.status_code in (401, 403):
            raise Denied(judgement.reason)
        raise Refused(judgement.reason, retry_after)
    raise UrlFailed("gone", judgement.reason)


def _write_all(fd: int, data: memoryview, offset: int) -> None:
    while data:
        written = os.pwrite(fd, data, offset)
        data = data[written:]
        offset += written


@dataclass
class PartialWriter:
    """Positional writes into the `.part`, shared by every connection of a download.

    ``lock`` guards the segments; ``gate`` is held around each write and around closing
    the descriptor, so no write can land on a descriptor number the process has reused.
    ``on_bytes`` counts the bytes received: those written, and those only compared (an
    overlap, see :func:`copy_body`).
    """

    fd: int
    lock: threading.Lock
    on_bytes: Callable[[int], None]
    gate: threading.Lock = field(default_factory=threading.Lock)
    closed: bool = False

    def write(self, segment: Segment, data: memoryview) -> bool:
        """Write ``data`` at the segment's offset, never past its end (which may shrink
        while we run). ``segment.done`` counts the bytes only once they are written.
        Returns False once the segment is full or the file is closed."""
        with self.lock:
            end, offset = segment.end, segment.offset
        wanted = len(data) if end is None else min(len(data), end - offset)
        if wanted > 0:
            with self.gate:
                if self.closed:
                    return False
                _write_all(self.fd, data[:wanted], offset)
            with self.lock:
                segment.done += wanted
            self.on_bytes(wanted)
        return end is None or offset + wanted < end

    def held(self, offset: int, length: int) -> bytes | None:
        """``length`` bytes of the `.part` from ``offset`` (bytes a segment holds); None
        once the file is closed."""
        with self.gate:
            if self.closed:
                return None
            return os.pread(self.fd, length, offset)

    def close(self) -> None:
        with self.gate:
            self.closed = True
            os.close(self.fd)


def body_reader(response: httpx.Response, direct: bool) -> SocketBody | StreamBody:
    """The way to read this response's body: from its socket when ``direct`` is allowed
    and the connection permits it (see body.py), else through httpx."""
    if direct:
        found = direct_socket(response)
        if found is not None:
            return SocketBody(response, *found)
    return StreamBody(response)


def _same_overlap(
    reader: SocketBody | StreamBody,
    view: memoryview,
    writer: PartialWriter,
    segment: Segment,
    overlap: int,
    limiter: RateLimiter | None,
) -> bool:
    """Read the body's first ``overlap`` bytes and compare them with the ``overlap`` bytes
    the partial holds before the segment's offset. Raises :class:`RestartNeeded` when they
    differ, :class:`Transient` when the body ends first; False when the file was closed.
    The bytes read count as received (``writer.on_bytes``), never as written."""
    with writer.lock:
        offset = segment.offset
    area = view[:overlap] if len(view) >= overlap else memoryview(bytearray(overlap))
    got = 0
    try:
        while got < overlap:
            count = reader.readinto(area[got:overlap])
            if count == 0:
                raise Transient(
                    f"the server closed the body at byte {offset - overlap + got}, "
                    f"expected {offset} and more"
                )
            if limiter is not None:
                limiter.acquire(count)
            got += count
    finally:
        writer.on_bytes(got)
    held = writer.held(offset - overlap, overlap)
    if held is None:
        return False
    if area[:overlap] != held:
        raise RestartNeeded(overlap_mismatch(offset, overlap))
    return True


def copy_body(
    response: httpx.Response,
    segment: Segment,
    writer: PartialWriter,
    stop: threading.Event,
    limiter: RateLimiter | None,
    request_end: int | None = None,
    *,
    buffer: bytearray | None = None,
    direct: bool = False,
    overlap: int = 0,
) -> None:
    """Copy the body into the segment until the segment's end or the body's.

    With ``overlap`` (the request started that many bytes before the segment's offset, see
    :func:`open_range`), the body's first bytes are compared with the ones the partial
    holds there, and nothing is appended unless they are the same: different bytes mean
    the file changed on the server (:class:`RestartNeeded`).

    Reads land in ``buffer`` (one per connection, reused: no allocation per read) and are
    written once it is full, when the socket runs dry, or after FLUSH_SECONDS: on a slow
    or stalled server, nothing received waits in memory. Whatever arrived before a
    failure or a stop is written first, so a drop or Ctrl-C costs no byte that reached
    us. A body that ends before the segment does raises :class:`Transient`. With
    ``direct``, the body may be read straight from the socket (body.py); a rate limit
    always goes through httpx's reads, which come in small pieces.
    """
    view = memoryview(buffer if buffer is not None else bytearray(CHUNK_SIZE))
    reader = body_reader(response, direct and limiter is None)
    # A rate limit is applied per read: keep reads small enough for its bucket.
    read_size = len(view) if limiter is None else min(len(view), 64 * 1024)
    filled = 0
    last_flush = time.monotonic()

    def flush() -> bool:
        nonlocal filled, last_flush
        more = writer.write(segment, view[:filled])
        filled = 0
        last_flush = time.monotonic()
        return more

    try:
        if overlap and not _same_overlap(reader, view, writer, segment, overlap, limiter):
            return  # the file was closed: the download is stopping
        while True:
            asked = min(read_size, len(view) - filled)
            count = reader.readinto(view[filled : filled + asked])
            if count == 0:
                break
            if limiter is not None:
                limiter.acquire(count)
            filled += count
            # When the next read could block (a slow or paused server), write now rather
            # than hold bytes that a stall, Ctrl-C or kill would cost.
            due = (
                filled >= len(view)
                or time.monotonic() - last_flush >= FLUSH_SECONDS
                or reader.drained(count < asked)
            )
            if (due and not flush()) or stop.is_set():
                flush()
                return
        if not flush():
            return
    except BodyReadError as exc:
        flush()
        raise Transient(f"connection lost at byte {segment.offset}: {exc}") from exc
    finally:
        response.close()
    lock = writer.lock
    with lock:
        if segment.end is None:
            segment.end = segment.offset  # the body's end is the file's end
            return
        expected_end = segment.end if request_end is None else min(segment.end, request_end)
        if segment.offset < expected_end:
            raise Transient(
                f"the server closed the body at byte {segment.offset}, expected {expected_end}"
            )
