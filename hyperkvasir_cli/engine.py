"""Fetching one file from one URL into its `.part`, over one or several connections.

The engine owns the threads: connection workers that fill segments with positional
writes, a hasher that follows the contiguous prefix so the sha256 is ready when the last
byte lands, and the coordinator (the calling thread) that reports progress, writes the
sidecar every few seconds, adapts to a server that refuses extra connections, and stops
everything cleanly on an error or Ctrl-C. Bytes on disk are never lost: whatever happens,
the sidecar written last never claims more than was written.
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

import httpx

from hyperkvasir_cli.clock import Clock
from hyperkvasir_cli.partial import PartialFile
from hyperkvasir_cli.progress import ProgressReporter
from hyperkvasir_cli.ratelimit import RateLimiter
from hyperkvasir_cli.resume import Verdict
from hyperkvasir_cli.retry import RetryPolicy
from hyperkvasir_cli.segments import (
    MIN_SEGMENT,
    contiguous_end,
    is_finished,
    next_free_segment,
    plan_segments,
    split_largest,
)
from hyperkvasir_cli.sidecar import Segment, Sidecar
from hyperkvasir_cli.transfer import (
    OpenedRange,
    PartialWriter,
    Refused,
    RestartNeeded,
    Transient,
    UrlFailed,
    copy_body,
    open_range,
)
from hyperkvasir_cli.validators import Validators

HASH_CHUNK = 8 * 1024 * 1024
# The first request asks for this much: enough to learn the size, version and range
# support, small enough that closing it early wastes nothing when the file is split.
PROBE_BYTES = 1024 * 1024


@dataclass
class EngineOptions:
    connections: int = 4
    policy: RetryPolicy = field(default_factory=RetryPolicy)
    limiter: RateLimiter | None = None
    checkpoint_interval: float = 0.25
    durable_interval: float = 5.0
    min_segment: int = MIN_SEGMENT
    max_restarts: int = 2


@dataclass(frozen=True)
class FetchResult:
    sidecar: Sidecar
    sha256: str
    size: int
    bytes_fetched: int
    restarts: int
    connections_used: int


@dataclass
class _Shared:
    """State the workers share; every field is read and written under ``lock``."""

    sidecar: Sidecar
    lock: threading.Lock = field(default_factory=threading.Lock)
    writer: PartialWriter | None = None
    data_ready: threading.Event = field(default_factory=threading.Event)
    confirmed: bool = False
    busy: set[int] = field(default_factory=set)
    stop: threading.Event = field(default_factory=threading.Event)
    wake: threading.Event = field(default_factory=threading.Event)
    failure: BaseException | None = None
    fetched: int = 0
    active: int = 0
    allowed: int = 1
    peak: int = 0

    def count(self, amount: int) -> None:
        """Bytes written by a connection: for progress, the hasher and the coordinator."""
        with self.lock:
            self.fetched += amount
        self.wake.set()
        self.data_ready.set()


class TransferEngine:
    def __init__(
        self,
        client: httpx.Client,
        partial: PartialFile,
        *,
        expected_size: int | None,
        options: EngineOptions,
        clock: Clock,
        progress: ProgressReporter,
        label: str,
        ensure_space: Callable[[int], None],
    ) -> None:
        self.client = client
        self.partial = partial
        self.expected_size = expected_size
        self.options = options
        self.clock = clock
        self.progress = progress
        self.label = label
        self.ensure_space = ensure_space

    def fetch(self, url: str) -> FetchResult:
        """Complete the `.part` from ``url``; returns its sha256 and the final sidecar.

        Raises :class:`UrlFailed` when this URL cannot serve the file; the `.part` and a
        sidecar that describes it truthfully are left for the next URL or run.
        """
        restarts = 0
        while True:
            sidecar = self.partial.load()
            if sidecar is not None and not self._may_continue(sidecar, url):
                self.progress.note(
                    f"{self.label}: the partial came from {sidecar.url} and cannot be "
                    "pinned to one version there; starting over"
                )
                sidecar = None
            try:
                result = self._run(url, sidecar)
            except RestartNeeded as exc:
                restarts += 1
                self.partial.discard()
                if restarts > self.options.max_restarts:
                    raise UrlFailed(
                        "exhausted", f"the file changed {restarts} times during the download"
                    ) from exc
                self.progress.note(f"{self.label}: {exc.reason}; starting over from zero")
                continue
            return FetchResult(
                result.sidecar,
                result.sha256,
                result.size,
                result.bytes_fetched,
                restarts,
                result.connections_used,
            )

    def _may_continue(self, sidecar: Sidecar, url: str) -> bool:
        """A partial is continued only when its version can be checked (If-Range)."""
        return Validators(sidecar.etag, sidecar.last_modified).if_range is not None or (
            sidecar.downloaded == 0
        )

    def _run(self, url: str, sidecar: Sidecar | None) -> FetchResult:
        fresh = sidecar is None
        if sidecar is None:
            sidecar = Sidecar(url=url, size=self.expected_size, segments=[Segment(start=0)])
        sidecar.url = url
        shared = _Shared(sidecar=sidecar)
        fd = os.open(self.partial.data_path, os.O_RDWR | os.O_CREAT, 0o644)
        shared.writer = PartialWriter(fd, shared.lock, shared.count)
        try:
            if fresh:
                os.ftruncate(fd, 0)
                self.partial.save(sidecar)
            else:
                remaining = (sidecar.size or 0) - sidecar.downloaded
                self.ensure_space(remaining)
            return self._coordinate(url, fd, shared, fresh)
        finally:
            shared.stop.set()
            shared.writer.close()

    # coordinator ------------------------------------------------------------------
    def _coordinate(self, url: str, fd: int, shared: _Shared, fresh: bool) -> FetchResult:
        sidecar = shared.sidecar
        self.progress.start(self.label, sidecar.size, sidecar.downloaded)
        hasher = _Hasher(fd, shared)
        hasher_thread = threading.Thread(target=hasher.run, daemon=True)
        hasher_thread.start()
        threads: list[threading.Thread] = []
        reported = 0
        last_checkpoint = last_durable = self.clock.monotonic()
        spawned_all = False
        try:
            threads.append(self._spawn(url, fd, shared, fresh))
            while True:
                shared.wake.wait(0.25)
                shared.wake.clear()
                with shared.lock:
                    fetched, failure = shared.fetched, shared.failure
                    ranges_ok = shared.confirmed and sidecar.size is not None
                if fetched > reported:
                    self.progress.advance(fetched - reported)
                    reported = fetched
                if failure is not None:
                    raise failure
                if not spawned_all and ranges_ok:
                    spawned_all = True
                    with shared.lock:
                        shared.allowed = self.options.connections
                    threads += [
                        self._spawn(url, fd, shared, False)
                        for _ in range(self.options.connections - 1)
                    ]
                now = self.clock.monotonic()
                if now - last_checkpoint >= self.options.checkpoint_interval:
                    durable = now - last_durable >= self.options.durable_interval
                    last_checkpoint = now
                    last_durable = now if durable else last_durable
                    self._checkpoint(fd, shared, durable)
                if not any(t.is_alive() for t in threads):
                    break
            with shared.lock:
                finished = is_finished(sidecar.segments)
                failure = shared.failure
            if failure is not None:
                raise failure
            if not finished:
                raise UrlFailed("exhausted", "every connection gave up before the end")
            hasher_thread.join()
            os.fsync(fd)
            total = sidecar.segments[-1].end or 0
            return FetchResult(
                sidecar, hasher.hexdigest(), total, shared.fetched, 0, max(shared.peak, 1)
            )
        finally:
            shared.stop.set()
            for thread in threads:
                thread.join(timeout=2.0)
            hasher_thread.join(timeout=2.0)
            self._checkpoint(fd, shared, durable=True)
            self.progress.finish()

    def _checkpoint(self, fd: int, shared: _Shared, durable: bool) -> None:
        """Record progress, which only ever counts bytes already written.

        Frequent checkpoints are cheap (no fsync): they keep what a killed process loses
        small. Every few seconds, a durable one syncs the data first, then the sidecar,
        so that after a power cut the sidecar never claims bytes the disk lost.
        """
        if durable:
            os.fdatasync(fd)
        with shared.lock:
            snapshot = shared.sidecar.model_copy(deep=True)
        snapshot.updated_at = self.clock.now()
        self.partial.save(snapshot, durable=durable)

    def _spawn(self, url: str, fd: int, shared: _Shared, probe: bool) -> threading.Thread:
        worker = _Worker(self, url, fd, shared, probe)
        thread = threading.Thread(target=worker.run, daemon=True, name="hyperkvasir-fetch")
        thread.start()
        return thread


class _Worker:
    """One connection: claims a segment, fetches it, retries passing failures, repeats."""

    def __init__(
        self, engine: TransferEngine, url: str, fd: int, shared: _Shared, probe: bool
    ) -> None:
        self.e, self.url, self.fd, self.s, self.probe = engine, url, fd, shared, probe

    def run(self) -> None:
        with self.s.lock:
            self.s.active += 1
            self.s.peak = max(self.s.peak, self.s.active)
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
            self.s.wake.set()

    def _claim(self) -> Segment | None:
        with self.s.lock:
            if self.s.stop.is_set() or self.s.active > self.s.allowed:
                return None
            segments = self.s.sidecar.segments
            segment = next_free_segment(segments, self.s.busy)
            if segment is None and self.s.sidecar.accepts_ranges:
                segment = split_largest(segments, self.s.busy, self.e.options.min_segment)
            if segment is not None:
                self.s.busy.add(id(segment))
            return segment

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
                attempt += 1
                if self.e.options.policy.exhausted(attempt):
                    raise UrlFailed("exhausted", f"{exc.reason} ({attempt - 1} retries)") from exc
                delay = self.e.options.policy.delay(attempt, exc.retry_after)
                self.e.progress.note(
                    f"{self.e.label}: {exc.reason}; retry {attempt} in {delay:.1f} s"
                )
                self.e.clock.sleep(delay)
            finally:
                with self.s.lock:
                    self.s.busy.discard(id(segment))

    def _retire(self, exc: Refused) -> bool:
        """With other connections still working, this one steps back instead of retrying."""
        with self.s.lock:
            if self.s.active <= 1:
                return False
            self.s.allowed = max(1, self.s.allowed - 1)
            allowed = self.s.allowed
        self.e.progress.note(
            f"{self.e.label}: {exc.reason}; continuing with {allowed} connection(s)"
        )
        return True

    def _fetch(self, segment: Segment) -> None:
        sidecar = self.s.sidecar
        with self.s.lock:
            known = None if self.probe else Validators(sidecar.etag, sidecar.last_modified)
            # The probe's size is compared with the manifest's in _accept, with a better message.
            expected_total = None if self.probe else sidecar.size
        request_end = PROBE_BYTES if self.probe else None
        opened = open_range(
            self.e.client, self.url, segment, known, expected_total, self.e.clock, request_end
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
            self.e.options.limiter,
            request_end if opened.answer.status == 206 else None,
        )

    def _accept(self, opened: OpenedRange) -> None:
        """The first answer fixes the file's size and version; later ones only confirm."""
        answer = opened.answer
        total = opened.judgement.total
        with self.s.lock:
            sidecar = self.s.sidecar
            if answer.status == 206:
                sidecar.accepts_ranges = True
                self.s.confirmed = True
            if not self.probe:
                return
            self.probe = False
            expected = self.e.expected_size
            if expected is not None and total is not None and total != expected:
                html = " (an HTML page)" if "html" in answer.content_type else ""
                raise UrlFailed(
                    "wrong-file",
                    f"the server offers {total} bytes{html}, the manifest expects {expected}",
                )
            sidecar.etag = answer.validators.etag
            sidecar.last_modified = answer.validators.last_modified
            sidecar.size = total if total is not None else expected
            first = sidecar.segments[0]
            if sidecar.size is not None:
                planned = (
                    plan_segments(
                        sidecar.size, self.e.options.connections, self.e.options.min_segment
                    )
                    if sidecar.accepts_ranges
                    else [Segment(start=0, end=sidecar.size)]
                )
                first.end = planned[0].end
                sidecar.segments = [first, *planned[1:]]
            size = sidecar.size
            snapshot = sidecar.model_copy(deep=True)
        if size is not None:
            self.e.ensure_space(size)
            if len(snapshot.segments) > 1:
                _preallocate(self.fd, size)
        self.e.partial.save(snapshot)


def _preallocate(fd: int, size: int) -> None:
    """Reserve the blocks now, so a full disk fails before the download, not during it."""
    try:
        os.posix_fallocate(fd, 0, size)
    except (AttributeError, OSError):
        os.ftruncate(fd, size)


class _Hasher:
    """sha256 of the file, following the contiguous prefix as it grows."""

    def __init__(self, fd: int, shared: _Shared) -> None:
        self.fd, self.s = fd, shared
        self._hash = hashlib.sha256()
        self._position = 0
        self._done = threading.Event()

    def run(self) -> None:
        while True:
            with self.s.lock:
                target = contiguous_end(self.s.sidecar.segments)
                finished = is_finished(self.s.sidecar.segments)
            while self._position < target:
                data = os.pread(self.fd, min(HASH_CHUNK, target - self._position), self._position)
                if not data:
                    break
                self._hash.update(data)
                self._position += len(data)
            if finished and self._position >= target:
                self._done.set()
                return
            if self.s.stop.is_set():
                return
            self.s.data_ready.wait(0.05)
            self.s.data_ready.clear()

    def hexdigest(self) -> str:
        if not self._done.is_set():
            raise RuntimeError("hash requested before the file was complete")
        return self._hash.hexdigest()
