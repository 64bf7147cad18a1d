"""A remote zip's central directory, read by range without downloading the archive.

Round trips: the first GET asks for the last :data:`TAIL_BYTES` bytes (a suffix range),
which hold every end record (EOCD, ZIP64 locator and record); the 206's Content-Range
gives the file's size, so no HEAD is needed. The second fetches the part of the central
directory that the tail did not already hold, split over several connections when it is
large. A server that does not answer suffix ranges (a 200 with the whole file, or a 416)
costs one more round trip: its size comes from that answer, and the tail is asked for by
offset. Every request after the first carries ``If-Range`` with the first answer's
validator, so a file that changes between them is noticed (:class:`FileChanged`), never
spliced; the whole read then starts again, a few times at most.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

from hyperkvasir_cli.archive.index import (
    END_RECORDS_MAX,
    DirectoryLocation,
    ZipIndex,
    ZipMember,
    corrupt_archive,
    iter_directory,
    locate_directory,
    parse_directory,
)
from hyperkvasir_cli.core.clock import Clock
from hyperkvasir_cli.core.errors import ArchiveError, NetworkError
from hyperkvasir_cli.remote.ranges import (
    WHOLE_ARCHIVE_HINT,
    ByteRange,
    FileChanged,
    Opened,
    Outcome,
    Pin,
    RangesIgnored,
    Transient,
    send_range,
    with_retries,
)
from hyperkvasir_cli.transfer.retry import RetryPolicy

if TYPE_CHECKING:
    import httpx

TAIL_BYTES = END_RECORDS_MAX
# A small file answered whole (no range support) is read whole; a larger one is cut off.
WHOLE_READ_LIMIT = 2 * TAIL_BYTES
# A directory is fetched over several connections at once, in pieces of at least this
# much: the labeled zip's (about 1.5 MB) in two or three, the unlabeled zip's (about 13 MB)
# over every connection. Smaller pieces would buy little time for a request each.
DIRECTORY_PIECE = 512 * 1024
# Memory held for one directory at most (the largest HyperKvasir zip's is about 13 MB).
MAX_DIRECTORY_BYTES = 512 * 1024 * 1024
MAX_VERSION_CHANGES = 3


@dataclass
class Traffic:
    """What a run cost on the wire: GET requests sent, body bytes received."""

    requests: int = 0
    body_bytes: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def add(self, requests: int = 0, body_bytes: int = 0) -> None:
        with self.lock:
            self.requests += requests
            self.body_bytes += body_bytes


@dataclass(frozen=True)
class Remote:
    """How to reach one server's copy: client, URL, clock, retry policy, traffic counts."""

    client: httpx.Client
    url: str
    part: str
    clock: Clock
    policy: RetryPolicy
    traffic: Traffic
    connections: int = 4

    def open(
        self, asked: ByteRange, pin: Pin | None, extra_headers: dict[str, str] | None = None
    ) -> Opened:
        self.traffic.add(requests=1)
        return send_range(self.client, self.url, asked, pin, self.clock, extra_headers)

    def read_body(self, response: httpx.Response, limit: int) -> bytes:
        """The whole body (at most ``limit`` bytes, else ArchiveError); Transient when
        the connection drops."""
        data = bytearray()
        self.read_into(response, data, limit)
        return bytes(data)

    def read_into(self, response: httpx.Response, data: bytearray, limit: int) -> None:
        """Append the body to ``data`` (at most ``limit`` bytes, else ArchiveError); what
        arrived before a drop stays in ``data``, and Transient is raised."""
        import httpx

        limit += len(data)
        try:
            for piece in response.iter_raw():
                self.traffic.add(body_bytes=len(piece))
                data += piece
                if len(data) > limit:
                    raise ArchiveError(
                        f"{self.url}: the server sent more than the {limit} B asked for",
                        hint="the server's answers are not what a zip file's would be; try "
                        "another mirror",
                    )
        except (httpx.TimeoutException, httpx.NetworkError, httpx.RemoteProtocolError) as exc:
            raise Transient(f"the connection dropped: {type(exc).__name__}: {exc}") from exc
        finally:
            response.close()

    def ranges_ignored(self) -> RangesIgnored:
        return RangesIgnored(
            f"{self.url}: the server ignores byte ranges (it answered a range with the whole file)",
            hint=WHOLE_ARCHIVE_HINT.format(part=self.part),
        )


@dataclass(frozen=True)
class Tail:
    """The last bytes of the file (``start`` is where they begin) and its version."""

    start: int
    data: bytes
    pin: Pin

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()


@dataclass(frozen=True)
class RemoteDirectory:
    """The central directory of the server's copy (``data``, raw), where it lies, the
    version it belongs to, and a checksum of the tail it was located from."""

    url: str
    name: str
    pin: Pin
    location: DirectoryLocation
    data: bytes
    tail_sha256: str

    @cached_property
    def members(self) -> list[ZipMember]:
        return parse_directory(self.data, self.location.shift, self.name, self.pin.size)

    def iter_members(self) -> Iterator[ZipMember]:
        """The members one at a time, none kept (for a listing that keeps less)."""
        return iter_directory(self.data, self.location.shift, self.name, self.pin.size)

    def index(self) -> ZipIndex:
        """The directory as :func:`archive.index.read_members` gives a local one."""
        return ZipIndex(Path(self.name), self.pin.size, self.members)


def fetch_tail(remote: Remote, conditional: dict[str, str] | None = None) -> Tail | None:
    """The file's last :data:`TAIL_BYTES` bytes and version; None when ``conditional``
    headers (If-None-Match, If-Modified-Since) were sent and the server answered 304."""

    def suffix_once() -> Tail | int | None:
        opened = remote.open(ByteRange.last(TAIL_BYTES), None, conditional)
        response, judgement = opened.response, opened.judgement
        if judgement.outcome is Outcome.NOT_MODIFIED:
            response.close()
            return None
        if judgement.outcome is Outcome.BODY and judgement.content_range is not None:
            pin = Pin(judgement.content_range.total or 0, opened.validators)
            first = judgement.content_range.first or 0
            return Tail(first, remote.read_body(response, TAIL_BYTES), pin)
        # No suffix ranges here: a 200 (the whole file) or a 416; its size is in it.
        length = response.headers.get("content-length", "")
        total = judgement.content_range.total if judgement.content_range else None
        size = total if total is not None else int(length) if length.isdigit() else None
        if size is None:
            response.close()
            raise remote.ranges_ignored()
        if response.status_code == 200 and size <= WHOLE_READ_LIMIT:
            return Tail(0, remote.read_body(response, size), Pin(size, opened.validators))
        response.close()  # the rest of a whole-file answer is not wanted
        return size

    found = with_retries(remote.policy, remote.clock, suffix_once)
    if found is None or isinstance(found, Tail):
        return found
    size = found
    first = max(0, size - TAIL_BYTES)

    def by_offset_once() -> Tail:
        opened = remote.open(ByteRange.span(first, size), None)
        if opened.judgement.outcome is not Outcome.BODY:
            opened.response.close()
            raise remote.ranges_ignored()
        cr = opened.judgement.content_range
        pin = Pin(cr.total if cr and cr.total is not None else size, opened.validators)
        return Tail(first, remote.read_body(opened.response, size - first), pin)

    return with_retries(remote.policy, remote.clock, by_offset_once)


def fetch_span(remote: Remote, first: int, end: int, pin: Pin) -> bytearray:
    """Bytes ``[first, end)`` of the pinned version (retried when the connection drops)."""
    got = bytearray()

    def once() -> None:
        opened = remote.open(ByteRange.span(first + len(got), end), pin)
        outcome = opened.judgement.outcome
        if outcome is not Outcome.BODY:
            opened.response.close()
            if outcome is Outcome.CHANGED:
                raise FileChanged(opened.judgement.reason)
            raise remote.ranges_ignored()
        remote.read_into(opened.response, got, end - first - len(got))
        if len(got) < end - first:
            raise Transient(f"the body ended at byte {first + len(got)}, expected {end}")

    with_retries(remote.policy, remote.clock, once)
    return got


def split_span(first: int, end: int, pieces: int) -> list[tuple[int, int]]:
    """``[first, end)`` cut into ``pieces`` near-equal spans; fewer when it is small, so
    that none is shorter than :data:`DIRECTORY_PIECE` (unless there is only one)."""
    size = end - first
    pieces = max(1, min(pieces, size // DIRECTORY_PIECE))
    cuts = [first + size * i // pieces for i in range(pieces + 1)]
    return [(cuts[i], cuts[i + 1]) for i in range(pieces) if cuts[i] < cuts[i + 1]]


def fetch_spans(remote: Remote, spans: list[tuple[int, int]], pin: Pin) -> list[bytearray]:
    """The bytes of ``spans`` (neighbours, in order), fetched at once over as many
    connections; the caller joins them once (a 13 MB directory is copied once, not
    three times)."""
    if len(spans) == 1:
        return [fetch_span(remote, *spans[0], pin)]
    with ThreadPoolExecutor(len(spans)) as pool:
        futures = [pool.submit(fetch_span, remote, first, end, pin) for first, end in spans]
        return [future.result() for future in futures]


def directory_from_tail(remote: Remote, tail: Tail, name: str) -> RemoteDirectory:
    """Locate the directory from ``tail`` and fetch what of it the tail does not hold."""
    size = tail.pin.size

    def read(offset: int, length: int) -> bytes:
        end = min(offset + length, size)
        if offset >= tail.start:
            return tail.data[offset - tail.start : end - tail.start]
        # A ZIP64 end record far from the end: one more request, rare.
        before = fetch_span(remote, offset, min(end, tail.start), tail.pin)
        return bytes(before) + tail.data[: max(0, end - tail.start)]

    location = locate_directory(read, size, name)
    if location.size > MAX_DIRECTORY_BYTES:
        raise corrupt_archive(name, size, f"its central directory claims {location.size} B")
    pieces: list[bytearray] = []
    if location.offset < tail.start:
        end = min(location.end, tail.start)
        spans = split_span(location.offset, end, remote.connections)
        pieces = fetch_spans(remote, spans, tail.pin)
    inside = tail.data[max(0, location.offset - tail.start) : max(0, location.end - tail.start)]
    data = b"".join([*pieces, inside])
    del pieces
    if len(data) != location.size:
        raise corrupt_archive(name, size, "the central directory is cut off")
    return RemoteDirectory(remote.url, name, tail.pin, location, data, tail.sha256)


def read_remote_directory(
    remote: Remote, name: str, on_change: Callable[[str], None] | None = None
) -> RemoteDirectory:
    """The server's current directory. A file that changes while it is read is read again
    (``on_change`` is told why), at most :data:`MAX_VERSION_CHANGES` times; then
    NetworkError (exit 4)."""
    for _ in range(MAX_VERSION_CHANGES):
        tail = fetch_tail(remote)
        assert tail is not None  # no conditional headers were sent
        try:
            return directory_from_tail(remote, tail, name)
        except FileChanged as exc:
            if on_change is not None:
                on_change(exc.reason)
    raise NetworkError(
        f"{remote.url} changed {MAX_VERSION_CHANGES} times while its directory was read",
        hint="the file is being replaced on the server; try again later",
    )
