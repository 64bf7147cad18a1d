"""One connection of a download: it claims a segment, fetches it, retries passing
failures, and repeats until no segment is left (taking half of the largest one when its
own is done). The engine owns the threads; this is what each of them runs.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from hyperkvasir_cli.transfer.range_request import (
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
from hyperkvasir_cli.transfer.resume import Verdict
from hyperkvasir_cli.transfer.segments import next_free_segment, plan_segments, split_largest
from hyperkvasir_cli.transfer.sidecar import Segment, Sidecar

if TYPE_CHECKING:
    from hyperkvasir_cli.transfer.engine import TransferEngine

# The first request asks for this much: enough to learn the size, version and range
# support, small enough that closing it early wastes nothing when the file is split.
PROBE_BYTES = 1024 * 1024


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


class ConnectionWorker:
    """One connection: claims a segment, fetches it, retries passing failures, repeats."""

    def __init__(
        self, engine: TransferEngine, url: str, fd: int, shared: SharedState, probe: bool
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
                if isinstance(exc, Denied):
                    # Asking again gets the same answer: the next URL is tried at once.
                    raise UrlFailed("denied", exc.reason) from exc
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
            known = None if self.probe else sidecar.validators
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
            wrong = unexpected_size(opened, self.e.expected_size)
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
            wrong = unexpected_size(opened, self.e.expected_size)
            if wrong is not None:
                raise wrong
            sidecar.etag = answer.validators.etag
            sidecar.last_modified = answer.validators.last_modified
            sidecar.size = total if total is not None else self.e.expected_size
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
                preallocate(self.fd, size)
        self.e.partial.save(snapshot)


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
