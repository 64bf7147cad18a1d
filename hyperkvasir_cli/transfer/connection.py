"""One connection of a download: it claims a piece, fetches it, retries passing failures,
and repeats until no piece is left. The engine owns the threads; this is what each of them
runs, from a :class:`ConnectionJob` that says what to fetch and how.

Every request after the first continues bytes fetched earlier, and must be of the same
version of the file. With validators, If-Range pins it (resume.py judges the answer).
Without them (no strong ETag, no Last-Modified), a continuation asks again for up to 64 KiB
it already holds and appends only when they are the same bytes (``overlap``), and the
download keeps to one connection: another connection's piece would start where nothing is
held yet, so nothing could tell whether it came from the same version.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

import httpx

from hyperkvasir_cli.core.clock import Clock
from hyperkvasir_cli.core.progress import ProgressReporter
from hyperkvasir_cli.transfer.partial import PartialFile
from hyperkvasir_cli.transfer.range_request import (
    CHUNK_SIZE,
    Denied,
    OpenedRange,
    PartialWriter,
    Refused,
    RestartNeeded,
    Transient,
    UrlFailed,
    copy_body,
    open_range,
)
from hyperkvasir_cli.transfer.ratelimit import RateLimiter
from hyperkvasir_cli.transfer.resume import OVERLAP_BYTES, Verdict, continuation_overlap
from hyperkvasir_cli.transfer.retry import RetryPolicy
from hyperkvasir_cli.transfer.segments import (
    claim_piece,
    is_finished,
    merge_finished,
    piece_size,
    unclaimed_bytes,
)
from hyperkvasir_cli.transfer.sidecar import Segment, Sidecar

# The first request asks for this much: enough to learn the size, version and range
# support, small enough that closing it early wastes nothing when the file is split.
PROBE_BYTES = 1024 * 1024
# Below this rate a connection reads through httpx, which keeps the connection for the
# next piece; above it, reading the body straight from the socket saves more CPU than
# opening a new connection for the next piece costs.
DIRECT_READ_RATE = 8 * 1024 * 1024
# A piece at least this long is read straight from the socket whatever the rate: a new
# connection for the next piece (even a TLS handshake on a slow server) costs little
# next to it, and reading it through httpx costs a copy of every byte.
DIRECT_READ_BYTES = 16 * 1024 * 1024
# When the number of connections is left to adapt, the first connection asks for the whole
# file, as one connection would, and after DECIDE_SECONDS its rate decides: at
# FAST_LINK_RATE or more it is on a link that one connection fills (a LAN, loopback, a fast
# mirror), where more connections only cost CPU, and it goes on alone; slower (a server
# that limits each connection, or a long path whose TCP ramp-up more connections share),
# its request is cut a little ahead of where it is and the others join. A second is long
# enough that a server's burst (nginx's limit_rate lets a second's worth through at once)
# does not pass for a fast link; on the real server it costs a quarter of a MiB.
FAST_LINK_RATE = 64 * 1024 * 1024
DECIDE_SECONDS = 1.0
# How long an idle connection waits before looking again for a piece someone gave back.
IDLE_WAIT = 0.1


@dataclass(frozen=True)
class ConnectionJob:
    """What every connection of one fetch shares, read-only: the URL, the open `.part`,
    and the engine's settings and effects."""

    client: httpx.Client
    url: str
    fd: int
    partial: PartialFile
    expected_size: int | None
    connections: int
    policy: RetryPolicy
    limiter: RateLimiter | None
    clock: Clock
    progress: ProgressReporter
    label: str
    ensure_space: Callable[[int], None]
    # Starts that many more connections (each with a piece reserved for it).
    add_connections: Callable[[int], None]
    # ``connections`` is a ceiling (the count was left to its default): the others join
    # only when the first connection's first second came slower than FAST_LINK_RATE.
    adaptive: bool = False


@dataclass
class SharedState:
    """State the workers share; every field is read and written under ``lock``."""

    sidecar: Sidecar
    lock: threading.Lock = field(default_factory=threading.Lock)
    writer: PartialWriter | None = None
    data_ready: threading.Event = field(default_factory=threading.Event)
    confirmed: bool = False
    busy: set[int] = field(default_factory=set)
    stop: threading.Event = field(default_factory=threading.Event)
    wake: threading.Event = field(default_factory=threading.Event)
    released: threading.Event = field(default_factory=threading.Event)
    failure: BaseException | None = None
    fetched: int = 0
    active: int = 0
    allowed: int = 1
    used: int = 0  # connections that fetched at least one piece
    # A first piece for each connection about to join, taken off the front when the server
    # confirmed ranges: a fast first connection cannot take every piece before they start.
    reserved: list[Segment] = field(default_factory=list)
    # Bytes per second of the last piece any connection finished (0: none yet).
    piece_rate: float = 0.0
    # Adaptive: the first connection fetches alone until its rate decides (see adapt());
    # the time and the count of bytes fetched when it began.
    deciding: bool = False
    deciding_since: float = 0.0
    deciding_from: int = 0
    # Adaptive: the first connection's rate showed a fast link; it does the rest alone.
    lone: bool = False
    # Adaptive: looks whether the time to decide has come (set by the engine).
    adapt: Callable[[], None] | None = None

    def count(self, amount: int) -> None:
        """Bytes received by a connection (written, or compared with held ones), for the
        count of bytes fetched. Nobody is woken: the hasher and the coordinator look often
        enough by themselves and are woken when a piece ends (:meth:`piece_ended`); waking
        both at every write made each write of several connections a contest for the
        interpreter lock."""
        with self.lock:
            self.fetched += amount
        self.look_to_adapt()

    def look_to_adapt(self) -> None:
        """While an adapting count decides: whether its time has come (see adapt())."""
        if self.deciding and self.adapt is not None:
            self.adapt()

    def piece_ended(self) -> None:
        """A piece is complete or given back: the hasher and the coordinator look now."""
        self.data_ready.set()
        self.wake.set()


class ConnectionWorker:
    """One connection: claims a piece, fetches it, retries passing failures, repeats."""

    def __init__(
        self, job: ConnectionJob, shared: SharedState, probe: bool, joiner: bool = False
    ) -> None:
        """``probe``: the first connection of a fresh download; ``joiner``: one of those
        started once the server confirmed ranges (each has a piece reserved)."""
        self.job, self.s, self.probe = job, shared, probe
        self.joiner = joiner
        self.buffer = bytearray(CHUNK_SIZE)
        self.used = False

    def run(self) -> None:
        with self.s.lock:
            self.s.active += 1
        try:
            self._loop()
        except BaseException as exc:  # handed to the coordinator, which raises it
            with self.s.lock:
                if self.s.failure is None:
                    self.s.failure = exc
            self.s.stop.set()
        finally:
            with self.s.lock:
                self.s.active -= 1
                if self.joiner and self.s.reserved:
                    # Leaving without taking its reserved piece: give one back.
                    self.s.busy.discard(id(self.s.reserved.pop()))
            self.s.wake.set()
            self.s.released.set()

    def _claim(self) -> Segment | None:
        """The next piece to fetch, or None when nothing is left or this connection must
        stop. While other connections still hold pieces, it waits: one may be given back
        (a connection that steps back or fails leaves its piece to the others)."""
        while True:
            with self.s.lock:
                if self.s.stop.is_set() or self.s.active > self.s.allowed:
                    return None
                if self.joiner:
                    self.joiner = False
                    if self.s.reserved:
                        return self._count_use(self.s.reserved.pop(0))
                sidecar = self.s.sidecar
                segments = sidecar.segments
                merge_finished(segments, self.s.busy)
                if not sidecar.accepts_ranges:
                    size = sidecar.size or 0  # one request for everything
                else:
                    size = piece_size(unclaimed_bytes(segments, self.s.busy), self._connections())
                segment = claim_piece(segments, self.s.busy, max(size, 1))
                if segment is not None:
                    self.s.busy.add(id(segment))
                    return self._count_use(segment)
                if is_finished(segments) or not self.s.busy:
                    return None
            self.s.released.wait(IDLE_WAIT)
            self.s.released.clear()

    def _count_use(self, segment: Segment) -> Segment:
        """``segment``, after counting this connection as used (the caller holds the lock)."""
        if not self.used:
            self.used = True
            self.s.used += 1
        return segment

    def _connections(self) -> int:
        """How many connections this download may use (the caller holds the lock): as
        asked, unless nothing pins the file's version. Then one: each continuation is
        checked against the bytes just before it (its overlap), which a piece of another
        connection would not have on disk yet, so versions could mix unseen at its start.
        One as well while an adapting count decides, and once it decided on one."""
        if self.s.lone or self.s.deciding:
            return 1
        return self.job.connections if self.s.sidecar.validators.if_range else 1

    def _prepare_joiners(self) -> int:
        """Once the server confirms ranges (of a file of known size): how many more
        connections to start, each with a first piece reserved, so that a fast first
        connection cannot take every piece before they start. The caller holds the lock."""
        return prepare_joiners(self.s, self._connections())

    def _loop(self) -> None:
        attempt = 0
        while not self.s.stop.is_set():
            segment = self._claim()
            if segment is None:
                return
            before = segment.done
            try:
                self._fetch(segment)
                attempt = 0
            except (Transient, Refused) as exc:
                if segment.done > before:
                    attempt = 0  # bytes flowed: the count of failures starts again
                if isinstance(exc, Refused) and self._retire(exc):
                    return
                if isinstance(exc, Denied):
                    # Asking again gets the same answer: the next URL is tried at once.
                    raise UrlFailed("denied", exc.reason) from exc
                attempt += 1
                if self.job.policy.exhausted(attempt):
                    raise UrlFailed("exhausted", f"{exc.reason} ({attempt - 1} retries)") from exc
                delay = self.job.policy.delay(attempt, exc.retry_after)
                self.job.progress.note(
                    f"{self.job.label}: {exc.reason}; retry {attempt} in {delay:.1f} s"
                )
                self.job.clock.sleep(delay)
            finally:
                with self.s.lock:
                    self.s.busy.discard(id(segment))
                    given_back = not segment.complete
                if given_back:
                    self.s.released.set()
                self.s.piece_ended()

    def _retire(self, exc: Refused) -> bool:
        """With other connections still working, this one steps back instead of retrying."""
        with self.s.lock:
            if self.s.active <= 1:
                return False
            self.s.allowed = max(1, self.s.allowed - 1)
            allowed = self.s.allowed
        self.job.progress.note(
            f"{self.job.label}: {exc.reason}; continuing with {allowed} connection(s)"
        )
        return True

    def _fetch(self, segment: Segment) -> None:
        sidecar = self.s.sidecar
        with self.s.lock:
            known = None if self.probe else sidecar.validators
            # The probe's size is compared with the manifest's in _accept, with a better message.
            expected_total = None if self.probe else sidecar.size
            start = segment.offset
            length = None if segment.end is None else segment.end - segment.offset
            alone = self._connections() == 1 and not self.probe
            # A lone connection asks once for all the rest: no later piece would reuse the
            # connection, so its body is read straight from the socket; so is a long piece.
            direct = (
                alone
                or self.s.piece_rate >= DIRECT_READ_RATE
                or (length is not None and length >= DIRECT_READ_BYTES)
            )
            # Nothing pins the version: re-read the end of what this segment holds.
            overlap = continuation_overlap(segment.done, known)
        request_end = PROBE_BYTES if self.probe and segment.end is None else None
        started = self.job.clock.monotonic()
        opened = open_range(
            self.job.client,
            self.job.url,
            segment,
            known,
            expected_total,
            self.job.clock,
            request_end,
            overlap,
        )
        verdict = opened.judgement.verdict
        if verdict is Verdict.COMPLETE:
            opened.response.close()
            with self.s.lock:
                segment.end = opened.judgement.total
                segment.done = (segment.end or segment.start) - segment.start
            return
        if verdict is Verdict.RESTART:
            opened.response.close()
            if self.probe:
                raise UrlFailed("wrong-file", opened.judgement.reason)
            wrong = unexpected_size(opened, self.job.expected_size)
            if wrong is not None:
                # Not a new version of the file: not the file at all (an HTML page, another
                # file). The next URL may continue the partial, so it is left as it is.
                raise wrong
            with self.s.lock:
                others = self.s.active > 1
            changed = known is not None and known.conflicts_with(opened.answer.validators)
            if opened.answer.status == 200 and others and not changed:
                raise Refused("the server sent the whole file to a range request")
            raise RestartNeeded(opened.judgement.reason)
        self._accept(opened)
        assert self.s.writer is not None
        copy_body(
            opened.response,
            segment,
            self.s.writer,
            self.s.stop,
            self.job.limiter,
            request_end if opened.answer.status == 206 else None,
            buffer=self.buffer,
            direct=direct,
            overlap=overlap,
        )
        elapsed = self.job.clock.monotonic() - started
        moved = segment.offset - start
        # A clock that did not move (a test's) counts as a fast link.
        rate = moved / elapsed if elapsed > 0 else float("inf")
        with self.s.lock:
            self.s.piece_rate = rate

    def _accept(self, opened: OpenedRange) -> None:
        """The first answer fixes the file's size and version; later ones only confirm.
        The first 206 also starts the other connections."""
        answer = opened.answer
        snapshot = None
        with self.s.lock:
            sidecar = self.s.sidecar
            first_confirmation = answer.status == 206 and not self.s.confirmed
            if answer.status == 206:
                sidecar.accepts_ranges = True
                self.s.confirmed = True
            if self.probe:
                self.probe = False
                self._learn_the_file(opened)
                snapshot = sidecar.model_copy(deep=True)
            alone = first_confirmation and self._connections() < self.job.connections
            if first_confirmation and self.job.adaptive and self._connections() > 1:
                # Alone until the rate decides (see adapt()).
                self.s.deciding = True
                self.s.deciding_since = self.job.clock.monotonic()
                self.s.deciding_from = self.s.fetched
                joiners = 0
            else:
                joiners = self._prepare_joiners() if first_confirmation else 0
        if alone:
            self.job.progress.note(
                f"{self.job.label}: the server sends no ETag or Last-Modified, so nothing pins "
                "the file's version between requests: one connection, and each continuation "
                f"first compares {OVERLAP_BYTES // 1024} KiB it already holds"
            )
        if snapshot is not None:
            if snapshot.size is not None:
                self.job.ensure_space(snapshot.size)
                if len(snapshot.segments) > 1:
                    preallocate(self.job.fd, snapshot.size)
            self.job.partial.save(snapshot)
        self.job.add_connections(joiners)

    def _learn_the_file(self, opened: OpenedRange) -> None:
        """The probe's answer: the file's version and size, and how to ask for the rest
        (the caller holds the lock)."""
        wrong = unexpected_size(opened, self.job.expected_size)
        if wrong is not None:
            raise wrong
        sidecar, answer, total = self.s.sidecar, opened.answer, opened.judgement.total
        sidecar.etag = answer.validators.etag
        sidecar.last_modified = answer.validators.last_modified
        sidecar.size = total if total is not None else self.job.expected_size
        first = sidecar.segments[0]
        if sidecar.size is not None:
            # With ranges and several connections, the rest is asked for piece by piece;
            # a lone connection (one asked for, or a file without validators) keeps one
            # segment from 0 (a `.part` that grows in order, trusted up to its length), and
            # a server without ranges sends everything to this one request.
            split = sidecar.accepts_ranges and self._connections() > 1 and not self.job.adaptive
            first.end = min(PROBE_BYTES, sidecar.size) if split else sidecar.size
            rest = [Segment(start=first.end, end=sidecar.size)] if first.end < sidecar.size else []
            sidecar.segments = [first, *rest]


def prepare_joiners(shared: SharedState, connections: int) -> int:
    """How many more connections to start, each with a first piece reserved, so that a
    fast first connection cannot take every piece before they start (the caller holds the
    lock)."""
    count = connections - 1
    if count <= 0 or shared.sidecar.size is None:
        return 0
    shared.allowed = connections
    segments = shared.sidecar.segments
    for _ in range(count):
        size = piece_size(unclaimed_bytes(segments, shared.busy), connections)
        piece = claim_piece(segments, shared.busy, size)
        if piece is None:
            break
        shared.busy.add(id(piece))
        shared.reserved.append(piece)
    return count


def adapt(job: ConnectionJob, shared: SharedState) -> None:
    """An adapting count: once the first connection has fetched alone for DECIDE_SECONDS,
    its rate decides. Fast: it goes on alone. Slower: its request is cut a little ahead of
    where it is (past any write in progress, so no byte is written outside its segment)
    and the others join, each with a piece reserved. Called at every write while deciding
    and by the coordinator (a stalled link writes nothing)."""
    now = job.clock.monotonic()
    with shared.lock:
        if not shared.deciding:
            return
        elapsed = now - shared.deciding_since
        if elapsed < DECIDE_SECONDS:
            return  # a clock that does not move (a test's) never decides: one connection
        shared.deciding = False
        if (shared.fetched - shared.deciding_from) / elapsed >= FAST_LINK_RATE:
            shared.lone = True
            return
        segments = shared.sidecar.segments
        for segment in list(segments):
            if id(segment) in shared.busy and segment.end is not None:
                cut = segment.offset + CHUNK_SIZE + _CUT_MARGIN
                cut -= cut % _CUT_MARGIN
                if cut < segment.end:
                    segments.append(Segment(start=cut, end=segment.end))
                    segment.end = cut
        segments.sort(key=lambda s: s.start)
        joiners = prepare_joiners(shared, job.connections)
        size = shared.sidecar.size
    if joiners and size is not None:
        preallocate(job.fd, size)
    job.add_connections(joiners)


# A cut lands on a 64 KiB boundary beyond the write in progress (at most CHUNK_SIZE).
_CUT_MARGIN = 64 * 1024


def unexpected_size(opened: OpenedRange, expected: int | None) -> UrlFailed | None:
    """Why this URL does not serve the file the manifest describes, judged by the size the
    answer gives; None when the size fits or either is unknown. A body labelled HTML is a
    web page (a maintenance or login page), a server answer rather than bad data."""
    total = opened.judgement.total
    if expected is None or total is None or total == expected:
        return None
    if "html" in opened.answer.content_type.lower():
        return UrlFailed(
            "web-page",
            f"the server sent a web page (Content-Type {opened.answer.content_type}, "
            f"{total} B, an HTML page) instead of the file of {expected} B",
        )
    return UrlFailed(
        "wrong-file",
        f"this URL's file has an unexpected size: {total} B, the manifest expects {expected} B",
    )


def preallocate(fd: int, size: int) -> None:
    """Reserve the blocks now, so a full disk fails before the download, not during it."""
    try:
        os.posix_fallocate(fd, 0, size)
    except (AttributeError, OSError):
        os.ftruncate(fd, size)
