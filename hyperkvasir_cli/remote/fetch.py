"""Fetching members by range: each inflated, CRC-checked and written as it arrives.

A :class:`~hyperkvasir_cli.remote.planner.RangeTask` is one GET (with ``If-Range``); its
body is read as a stream: bytes between members are skipped, each member's local header
is read and checked, and its data goes through :func:`archive.stream.checked_chunks` into
:func:`archive.worker.write_checked` (temporary name, then rename), so memory holds one
network piece at a time whatever the member's size, and a file under its final name is
always whole and right. A dropped connection costs the member in flight: the request is
sent again from that member on. Several connections take tasks from one queue; the first
failure (a changed file, a server that ignores ranges, a damaged member) stops them all
at the next piece, with every member written so far complete.
"""

from __future__ import annotations

import os
import struct
import threading
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from hyperkvasir_cli.archive.index import ZipMember
from hyperkvasir_cli.archive.plan import MemberTask
from hyperkvasir_cli.archive.stream import LOCAL_SIGNATURE, checked_chunks
from hyperkvasir_cli.archive.worker import StopRequested, write_checked
from hyperkvasir_cli.core.errors import ArchiveError, NetworkError
from hyperkvasir_cli.core.progress import ProgressReporter, SilentProgress
from hyperkvasir_cli.remote.directory import Remote
from hyperkvasir_cli.remote.planner import RangeTask, first_unfinished
from hyperkvasir_cli.remote.ranges import ByteRange, FileChanged, Outcome, Pin, Transient

_LOCAL_HEADER = struct.Struct("<4s22xHH")
_CORRUPT_HINT = (
    "the server's copy is damaged or is not the archive its directory describes; try "
    "again later, or another mirror"
)


class BodyReader:
    """A response body read as a stream of bytes from archive offset ``position`` on."""

    def __init__(self, pieces: Iterator[bytes], position: int, count: Callable[[int], None]):
        self._pieces = pieces
        self._buffer = memoryview(b"")
        self.position = position
        self._count = count

    def _fill(self) -> bool:
        import httpx

        try:
            piece = next(self._pieces, None)
        except (httpx.TimeoutException, httpx.NetworkError, httpx.RemoteProtocolError) as exc:
            raise Transient(f"connection lost at byte {self.position}: {exc}") from exc
        if piece is None:
            return False
        self._count(len(piece))
        self._buffer = memoryview(piece)
        return True

    def _take(self, limit: int) -> memoryview:
        if not self._buffer and not self._fill():
            raise Transient(f"the body ended at byte {self.position}")
        taken = self._buffer[:limit]
        self._buffer = self._buffer[len(taken) :]
        self.position += len(taken)
        return taken

    def skip_to(self, offset: int) -> None:
        while self.position < offset:
            self._take(offset - self.position)

    def read_exact(self, size: int) -> bytes:
        data = bytearray()
        while len(data) < size:
            data += self._take(size - len(data))
        return bytes(data)

    def stream(self, size: int) -> Iterator[bytes]:
        """The next ``size`` bytes, in the pieces they arrived in."""
        left = size
        while left > 0:
            taken = self._take(left)
            left -= len(taken)
            yield bytes(taken)


def _corrupt(name: str, member: ZipMember, what: str) -> ArchiveError:
    return ArchiveError(f"{name}: member {member.name!r} {what}", hint=_CORRUPT_HINT)


def local_header_length(body: BodyReader, member: ZipMember, archive_name: str) -> int:
    """Read the fixed part of the member's local header from ``body`` (positioned at or
    before it) and return how many bytes of name and extra field follow."""
    body.skip_to(member.header_offset)
    signature, name_length, extra_length = _LOCAL_HEADER.unpack(body.read_exact(30))
    if signature != LOCAL_SIGNATURE:
        raise _corrupt(archive_name, member, f"has no local header at byte {member.header_offset}")
    return int(name_length) + int(extra_length)


def read_member(
    body: BodyReader,
    member: ZipMember,
    archive_name: str,
    destination: str,
    should_stop: Callable[[], bool],
) -> int:
    """Read one member from ``body`` (positioned at or before its local header) and write
    it to ``destination``, checked; the bytes written."""
    body.read_exact(local_header_length(body, member, archive_name))
    raw = body.stream(member.compress_size)
    return write_checked(
        checked_chunks(raw, member, archive_name), member, destination, should_stop
    )


@dataclass
class FetchReport:
    """What the fetch did; ``written`` lists the member paths written, in order done."""

    written: list[str] = field(default_factory=list)
    bytes_written: int = 0
    requests: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)


@dataclass
class _Shared:
    queue: deque[RangeTask]
    stop: threading.Event = field(default_factory=threading.Event)
    failure: BaseException | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)


class MemberFetcher:
    """Fetches planned ranges of the pinned version into ``target`` over ``connections``."""

    def __init__(
        self,
        remote: Remote,
        pin: Pin,
        archive_name: str,
        target: Path,
        progress: ProgressReporter | None = None,
    ) -> None:
        self.remote, self.pin, self.archive_name, self.target = remote, pin, archive_name, target
        self.progress = progress or SilentProgress()
        self.report = FetchReport()
        self._progress_lock = threading.Lock()

    def run(self, ranges: Sequence[RangeTask], connections: int) -> FetchReport:
        """Fetch every range. Raises the first failure (FileChanged, NetworkError,
        ArchiveError, ...) once every connection has stopped; members written before it
        stay, whole. KeyboardInterrupt stops the connections at their next piece."""
        # Longest first: a long range taken last would keep one connection busy while the
        # others sit idle (a resumed run leaves runs of every length); equal ones in order.
        shared = _Shared(deque(sorted(ranges, key=lambda r: -r.size)))
        workers = [
            threading.Thread(target=self._work, args=(shared,), daemon=True)
            for _ in range(max(1, min(connections, len(ranges))))
        ]
        for worker in workers:
            worker.start()
        try:
            for worker in workers:
                while worker.is_alive():
                    worker.join(0.2)
        except BaseException:
            shared.stop.set()
            for worker in workers:
                worker.join()
            raise
        if shared.failure is not None:
            raise shared.failure
        return self.report

    def _work(self, shared: _Shared) -> None:
        while not shared.stop.is_set():
            with shared.lock:
                task = shared.queue.popleft() if shared.queue else None
            if task is None:
                return
            try:
                self.fetch_range(task, shared.stop.is_set)
            except StopRequested:
                return
            except BaseException as exc:
                with shared.lock:
                    if shared.failure is None:
                        shared.failure = exc
                shared.stop.set()
                return

    def fetch_range(self, task: RangeTask, should_stop: Callable[[], bool]) -> None:
        """Every member of ``task``, retrying passing failures from the member in flight;
        the count of failures starts again whenever a member got written."""
        attempt = 0
        done = [0]  # members of ``task`` written, shared with the reading loop
        while done[0] < len(task.tasks):
            before = done[0]
            try:
                self._fetch_once(first_unfinished(task, done[0]), should_stop, done)
            except Transient as exc:
                attempt = 0 if done[0] > before else attempt + 1
                if self.remote.policy.exhausted(attempt):
                    raise NetworkError(
                        f"{self.remote.url}: the server failed {attempt} times in a row: "
                        f"{exc.reason}",
                        hint="try again later; the members written are kept and a rerun "
                        "fetches only the rest",
                    ) from exc
                self.remote.clock.sleep(self.remote.policy.delay(max(1, attempt), exc.retry_after))

    def _fetch_once(
        self, task: RangeTask, should_stop: Callable[[], bool], done: list[int]
    ) -> None:
        opened = self.remote.open(ByteRange.span(task.start, task.end), self.pin)
        outcome = opened.judgement.outcome
        if outcome is not Outcome.BODY:
            opened.response.close()
            if outcome is Outcome.CHANGED:
                raise FileChanged(opened.judgement.reason)
            raise self.remote.ranges_ignored()
        body = BodyReader(opened.response.iter_raw(), task.start, self._count)
        try:
            for member_task in task.tasks:
                if should_stop():
                    raise StopRequested
                written = self._write(body, member_task, should_stop)
                with self.report.lock:
                    self.report.written.append(member_task.path)
                    self.report.bytes_written += written
                done[0] += 1
        finally:
            opened.response.close()

    def _write(self, body: BodyReader, task: MemberTask, should_stop: Callable[[], bool]) -> int:
        destination = os.path.join(self.target, task.path)
        return read_member(body, task.member, self.archive_name, destination, should_stop)

    def _count(self, amount: int) -> None:
        self.remote.traffic.add(body_bytes=amount)
        with self._progress_lock:
            self.progress.advance(amount)
