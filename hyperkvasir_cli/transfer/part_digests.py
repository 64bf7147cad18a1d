"""The digests an upload sends with its parts, worked out ahead of the sending.

An upload to object storage needs, for each part, its MD5 (the Content-MD5 header, so the
server refuses a damaged part) and its CRC32, and for the whole file its sha256 (the file
must still be the verified archive). :class:`PartDigests` reads the file in threads of its
own, a part at a time, and works all three out.

- It is started as soon as the archive is known, before the S3 client exists: importing
  the client and reading its service model take about half a second of one core, in which
  one thread of digests hashes the first parts (more would take that core from the
  import). :meth:`PartDigests.widen` adds threads once the parts are being sent.
- A part's sender never waits for the parts before it: it waits only for its own part's
  digests (:meth:`PartDigests.part`), which are published as soon as they are known. The
  sha256 is fed in part order by the digest threads among themselves.
- The file is read once here and once more by the sender (:meth:`PartDigests.read`), from
  the page cache: the second read costs far less than holding parts in memory until their
  turn to be sent.
- The first failure (a file that shrank, a whole file whose sha256 is not the expected
  one) is kept in :attr:`PartDigests.error`; every sender waiting then stops.
"""

from __future__ import annotations

import base64
import hashlib
import os
import threading
import zlib
from dataclasses import dataclass
from pathlib import Path

from hyperkvasir_cli.core.errors import IntegrityError

MIB = 1024 * 1024
MIN_PART_SIZE = 8 * MIB  # S3's minimum is 5 MiB (for all parts but the last)
TARGET_PARTS = 1000  # one page of ListParts
MAX_PARTS = 10_000  # S3's limit
DIGEST_THREADS = 2  # while sending: MD5s in parallel; the sha256, in order, is quicker
CHANGED_HINT = (
    "the archive changed since it was verified: run `hyperkvasir checksum` and download it again"
)


def part_size_for(size: int) -> int:
    """Parts of at least 8 MiB, whole MiB, few enough that one ListParts page holds them."""
    wanted = max(MIN_PART_SIZE, -(-size // TARGET_PARTS))
    return -(-wanted // MIB) * MIB


@dataclass(frozen=True)
class PlannedPart:
    number: int  # 1-based, as S3 counts
    offset: int
    length: int


def plan_parts(size: int, part_size: int) -> list[PlannedPart]:
    """The parts of a file of ``size`` bytes; an empty file is one empty part."""
    count = max(1, -(-size // part_size))
    if count > MAX_PARTS:
        raise ValueError(f"{count} parts of {part_size} B exceed S3's {MAX_PARTS}")
    return [
        PlannedPart(n + 1, n * part_size, min(part_size, size - n * part_size))
        for n in range(count)
    ]


def crc32_base64(data: bytes | memoryview) -> str:
    """A CRC32 as S3 writes it: four big-endian bytes in base64."""
    return base64.b64encode(zlib.crc32(data).to_bytes(4, "big")).decode("ascii")


def read_part(fd: int, part: PlannedPart, into: memoryview) -> None:
    """Fill ``into`` (``part.length`` bytes) with the part's bytes; IntegrityError when the
    file ended before them (it shrank after being verified)."""
    got = 0
    while got < part.length:  # one call reads at most ~2 GiB
        read = os.preadv(fd, [into[got : part.length]], part.offset + got)
        if not read:
            raise IntegrityError(
                f"the archive shrank while uploading (part {part.number})", hint=CHANGED_HINT
            )
        got += read


class DigestsStopped(Exception):
    """The digests were stopped (or failed) before this part's were known."""


@dataclass(frozen=True)
class Digests:
    md5: bytes
    crc32: str  # base64, as S3 writes it


class PartDigests:
    """Each part's MD5 and CRC32 and the whole file's sha256, from threads of their own.

    ``expected_sha256`` is what the whole file must hash to: anything else is an
    IntegrityError (exit 5) in :attr:`error`, told to every waiter. Use as a context
    manager, or call :meth:`close`: the threads stop and the file is closed.
    """

    def __init__(self, path: Path, expected_sha256: str, *, threads: int = 1) -> None:
        self.path = path
        self._fd = os.open(path, os.O_RDONLY)
        try:
            self.size = os.fstat(self._fd).st_size
            self.part_size = part_size_for(self.size)
            self.parts = plan_parts(self.size, self.part_size)
        except BaseException:
            os.close(self._fd)
            raise
        self._expected = expected_sha256
        self._turn = threading.Condition()
        self._unclaimed = iter(self.parts)  # taken in order, under the condition's lock
        self._known: dict[int, Digests] = {}
        self._whole = hashlib.sha256()
        self._next_in_whole = 1
        self._sha256: str | None = None
        self._stopped = False
        self.error: BaseException | None = None
        self._threads: list[threading.Thread] = []
        self.widen(threads)

    def __enter__(self) -> PartDigests:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def widen(self, threads: int = DIGEST_THREADS) -> None:
        """Work with ``threads`` threads (never more than there are parts)."""
        with self._turn:
            while len(self._threads) < min(threads, len(self.parts)) and not self._stopped:
                thread = threading.Thread(
                    target=self._work, name=f"part-digests-{len(self._threads)}", daemon=True
                )
                self._threads.append(thread)
                thread.start()

    def read(self, part: PlannedPart, into: memoryview) -> None:
        """Read a part again (a sender's read), through the file the digests were read from:
        open until :meth:`close`."""
        read_part(self._fd, part, into)

    def part(self, number: int) -> Digests:
        """Part ``number``'s digests, once known; DigestsStopped if they never will be."""
        with self._turn:
            while True:
                found = self._known.get(number)
                if self.error is not None or self._stopped:
                    raise DigestsStopped
                if found is not None:
                    return found
                self._turn.wait()

    def sha256(self) -> str:
        """The whole file's sha256 once every part is digested (the expected one, else the
        IntegrityError in :attr:`error` is raised)."""
        with self._turn:
            while self._sha256 is None and self.error is None and not self._stopped:
                self._turn.wait()
            if self.error is not None:
                raise self.error
            if self._sha256 is None:
                raise DigestsStopped
            return self._sha256

    def stop(self) -> None:
        """Work on no further part, and wake every waiter (with DigestsStopped)."""
        with self._turn:
            self._stopped = True
            self._turn.notify_all()

    def close(self) -> None:
        self.stop()
        with self._turn:
            threads = list(self._threads)
        for thread in threads:
            thread.join()
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def _work(self) -> None:
        buffer = memoryview(bytearray(self.part_size))
        try:
            while True:
                with self._turn:
                    if self._stopped or self.error is not None:
                        return
                    part = next(self._unclaimed, None)
                if part is None:
                    return
                data = buffer[: part.length]
                read_part(self._fd, part, data)
                digests = Digests(hashlib.md5(data).digest(), crc32_base64(data))
                with self._turn:
                    self._known[part.number] = digests
                    self._turn.notify_all()
                    while self._next_in_whole != part.number:
                        if self._stopped or self.error is not None:
                            return
                        self._turn.wait()
                # Only this thread may feed the sha256 now: the turn moves on below.
                self._whole.update(data)
                with self._turn:
                    self._next_in_whole += 1
                    if self._next_in_whole > len(self.parts):
                        self._finish()
                    self._turn.notify_all()
        except BaseException as exc:  # told to the senders, raised by the upload
            with self._turn:
                if self.error is None:
                    self.error = exc
                self._turn.notify_all()

    def _finish(self) -> None:
        found = self._whole.hexdigest()
        if found == self._expected:
            self._sha256 = found
            return
        self.error = IntegrityError(
            f"{self.path}: sha256 {found}, expected {self._expected}; nothing was published",
            hint=CHANGED_HINT,
        )
