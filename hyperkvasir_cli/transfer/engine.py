"""Fetching one file from one URL into its `.part`, over one or several connections.

The engine owns the threads: connection workers (connection.py) that fill segments with
positional writes, a hasher that follows the contiguous prefix so the sha256 is ready when
the last byte lands, and the coordinator (the calling thread) that reports progress,
checkpoints the sidecar four times a second, lets more connections in once the server has
shown it serves ranges, and stops everything cleanly on an error or Ctrl-C. Bytes on disk
are never lost: whatever happens, the sidecar written last never claims more than was
written.
"""

from __future__ import annotations

import dataclasses
import functools
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

import httpx

from hyperkvasir_cli.core.clock import Clock
from hyperkvasir_cli.core.progress import ProgressReporter
from hyperkvasir_cli.transfer.connection import (
    ConnectionJob,
    ConnectionWorker,
    SharedState,
    adapt,
)
from hyperkvasir_cli.transfer.partial import PartialFile
from hyperkvasir_cli.transfer.prefix_hash import PrefixHasher
from hyperkvasir_cli.transfer.range_request import PartialWriter, RestartNeeded, UrlFailed
from hyperkvasir_cli.transfer.ratelimit import RateLimiter
from hyperkvasir_cli.transfer.retry import RetryPolicy
from hyperkvasir_cli.transfer.segments import is_finished
from hyperkvasir_cli.transfer.sidecar import Segment, Sidecar


@dataclass
class EngineOptions:
    connections: int = 4
    # The count is a ceiling that adapts to the link (see connection.FAST_LINK_RATE): set
    # when the user left it to its default.
    adaptive: bool = False
    policy: RetryPolicy = field(default_factory=RetryPolicy)
    limiter: RateLimiter | None = None
    checkpoint_interval: float = 0.25
    durable_interval: float = 5.0
    max_restarts: int = 2


@dataclass(frozen=True)
class FetchResult:
    sidecar: Sidecar
    sha256: str
    size: int
    bytes_fetched: int
    restarts: int
    connections_used: int
    resumed_from: int = 0  # bytes of an earlier partial that this result kept
    # The Content-Type of this URL's last 200 or 206 answer (None: none said, or file://).
    content_type: str | None = None


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
        # ensure_space(total) raises unless the `.part` can grow to ``total`` bytes; the
        # blocks it already holds count as room it has.
        self.ensure_space = ensure_space
        # Every byte received and written by this engine, over all its URLs and restarts:
        # what a run fetched, including copies later set aside or started over.
        self.bytes_received = 0
        self._content_type: str | None = None

    def fetch(self, url: str) -> FetchResult:
        """Complete the `.part` from ``url``; returns its sha256 and the final sidecar.

        Raises :class:`UrlFailed` when this URL cannot serve the file; the `.part` and a
        sidecar that describes it truthfully are left for the next URL or run.
        ``bytes_fetched`` of the result counts this URL's bytes, restarts included.
        """
        hooks = self.client.event_hooks["response"]
        hooks.append(self._note_content_type)
        try:
            return self._fetch(url)
        finally:
            hooks.remove(self._note_content_type)

    def _note_content_type(self, response: httpx.Response) -> None:
        """An httpx response hook: remember what the server says it sends."""
        if response.status_code in (200, 206):
            self._content_type = response.headers.get("content-type")

    def _fetch(self, url: str) -> FetchResult:
        restarts = dropped = 0
        before = self.bytes_received
        self._content_type = None
        while True:
            sidecar = self.partial.load()
            if sidecar is not None and not sidecar.resumable:
                self.progress.note(
                    f"{self.label}: the partial came from {sidecar.url} and cannot be "
                    "pinned to one version there; starting over"
                )
                sidecar = None
                dropped = 1
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
            return dataclasses.replace(
                result,
                restarts=restarts + dropped,
                bytes_fetched=self.bytes_received - before,
                content_type=self._content_type,
            )

    def _run(self, url: str, sidecar: Sidecar | None) -> FetchResult:
        # A partial without a byte (an earlier URL failed before sending any) holds nothing
        # to continue: this URL starts afresh, and its answer is judged as a first one.
        if sidecar is not None and sidecar.downloaded == 0:
            sidecar = None
        fresh = sidecar is None
        kept = 0 if sidecar is None else sidecar.downloaded
        if sidecar is None:
            sidecar = Sidecar(url=url, size=self.expected_size, segments=[Segment(start=0)])
        sidecar.url = url
        shared = SharedState(sidecar=sidecar)
        fd = os.open(self.partial.data_path, os.O_RDWR | os.O_CREAT, 0o666)
        shared.writer = PartialWriter(fd, shared.lock, shared.count)
        try:
            if fresh:
                os.ftruncate(fd, 0)
                self.partial.save(sidecar)
            else:
                self.ensure_space(sidecar.size or 0)
            crew = _Crew(shared)
            crew.job = self._job(url, fd, crew.add)
            if self.options.adaptive:
                shared.adapt = functools.partial(adapt, crew.job, shared)
            result = self._coordinate(crew, fresh)
            return dataclasses.replace(result, resumed_from=kept)
        finally:
            shared.stop.set()
            shared.writer.close()
            with shared.lock:
                self.bytes_received += shared.fetched

    def _job(self, url: str, fd: int, add_connections: Callable[[int], None]) -> ConnectionJob:
        options = self.options
        return ConnectionJob(
            client=self.client,
            url=url,
            fd=fd,
            partial=self.partial,
            expected_size=self.expected_size,
            connections=options.connections,
            policy=options.policy,
            limiter=options.limiter,
            clock=self.clock,
            progress=self.progress,
            label=self.label,
            ensure_space=self.ensure_space,
            add_connections=add_connections,
            adaptive=options.adaptive,
        )

    # coordinator ------------------------------------------------------------------
    def _coordinate(self, crew: _Crew, fresh: bool) -> FetchResult:
        shared = crew.shared
        sidecar, fd = shared.sidecar, crew.fd
        shown = _ShownProgress(self.progress, self.label, shared)
        hasher = PrefixHasher(fd, shared)
        hasher_thread = threading.Thread(target=hasher.run, daemon=True)
        hasher_thread.start()
        last_checkpoint = last_durable = self.clock.monotonic()
        try:
            # The first connection asks; once the server confirms ranges, it starts the
            # others itself (so that nothing here, however slow, holds them up).
            crew.start(probe=fresh)
            while True:
                shared.wake.wait(0.25)
                shared.wake.clear()
                shared.look_to_adapt()  # a stalled first connection writes nothing to decide on
                with shared.lock:
                    failure = shared.failure
                shown.update()
                if failure is not None:
                    raise failure
                now = self.clock.monotonic()
                if now - last_checkpoint >= self.options.checkpoint_interval:
                    durable = now - last_durable >= self.options.durable_interval
                    last_checkpoint = now
                    last_durable = now if durable else last_durable
                    self._checkpoint(fd, shared, durable)
                if not crew.alive():
                    break
            with shared.lock:
                finished = is_finished(sidecar.segments)
                failure = shared.failure
            if failure is not None:
                raise failure
            if not finished:
                raise UrlFailed("exhausted", "every connection gave up before the end")
            hasher_thread.join()
            # The durable checkpoint below syncs the data before the caller renames it.
            total = sidecar.segments[-1].end or 0
            return FetchResult(
                sidecar, hasher.hexdigest(), total, shared.fetched, 0, max(shared.used, 1)
            )
        finally:
            shared.stop.set()
            crew.join(timeout=2.0)
            hasher_thread.join(timeout=2.0)
            self._checkpoint(fd, shared, durable=True)
            # Bytes the connections wrote after the last look: the task ends where the
            # file does (100% when it is complete), not where the loop last looked.
            shown.update()
            self.progress.finish()

    def _checkpoint(self, fd: int, shared: SharedState, durable: bool) -> None:
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


class _Crew:
    """The connection threads of one fetch. The first is started by the coordinator; the
    others by a connection, through ``ConnectionJob.add_connections``, once the server has
    confirmed that it serves ranges."""

    def __init__(self, shared: SharedState) -> None:
        self.shared = shared
        self.job: ConnectionJob | None = None
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()

    @property
    def fd(self) -> int:
        assert self.job is not None
        return self.job.fd

    def start(self, probe: bool, joiner: bool = False) -> None:
        assert self.job is not None
        worker = ConnectionWorker(self.job, self.shared, probe, joiner)
        thread = threading.Thread(target=worker.run, daemon=True, name="hyperkvasir-fetch")
        with self._lock:
            self._threads.append(thread)
        thread.start()

    def add(self, count: int) -> None:
        for _ in range(count):
            self.start(probe=False, joiner=True)

    def alive(self) -> bool:
        with self._lock:
            return any(thread.is_alive() for thread in self._threads)

    def join(self, timeout: float) -> None:
        with self._lock:
            threads = list(self._threads)
        for thread in threads:
            thread.join(timeout=timeout)


class _ShownProgress:
    """Keeps the progress task in step with the bytes on disk and the size as known."""

    def __init__(self, progress: ProgressReporter, label: str, shared: SharedState) -> None:
        self.progress, self.label, self.s = progress, label, shared
        with shared.lock:
            self.total, self.done = shared.sidecar.size, shared.sidecar.downloaded
        progress.start(label, self.total, self.done)

    def update(self) -> None:
        with self.s.lock:
            total, done = self.s.sidecar.size, self.s.sidecar.downloaded
        if total != self.total and total is not None:
            # The first answer told the size (none was published): say it from now on.
            self.total = total
            self.progress.extend(self.label, total, self.done)
        if done > self.done:
            self.progress.advance(done - self.done)
            self.done = done
