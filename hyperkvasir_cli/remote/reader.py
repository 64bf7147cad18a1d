"""Reading single members of the server's copy as streams (for `stats --remote`).

Each member opened is one ranged GET, pinned with ``If-Range`` to the version of the kept
directory, inflated as it is read; closing the stream early (a reader that needs only a
header) ends the transfer there, so a 60 MB video costs the first few pieces only. A
member read to its end is CRC-checked like an extracted one.
"""

from __future__ import annotations

import io
from collections.abc import Generator, Iterator
from contextlib import contextmanager
from typing import IO, TYPE_CHECKING

from hyperkvasir_cli.archive.index import ZipMember
from hyperkvasir_cli.archive.stream import checked_chunks
from hyperkvasir_cli.core.errors import NetworkError
from hyperkvasir_cli.remote.directory import Remote, RemoteDirectory
from hyperkvasir_cli.remote.fetch import BodyReader, local_header_length
from hyperkvasir_cli.remote.planner import member_ends
from hyperkvasir_cli.remote.ranges import ByteRange, Outcome, Transient, with_retries

if TYPE_CHECKING:
    import httpx

# A reader of headers (video, image) needs no more than this of a member's start.
FIRST_BYTES = 64 * 1024


class _ChunkStream(io.RawIOBase):
    """A readable raw stream over an iterator of byte pieces."""

    def __init__(self, chunks: Iterator[bytes], on_close: io.IOBase | None = None) -> None:
        super().__init__()
        self._chunks = chunks
        self._left = memoryview(b"")
        self._closer = on_close

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        while not self._left:
            piece = next(self._chunks, None)
            if piece is None:
                return 0
            self._left = memoryview(piece)
        count = min(len(buffer), len(self._left))
        buffer[:count] = self._left[:count]
        self._left = self._left[count:]
        return count


class MemberOpener:
    """Opens members of ``directory`` by path through ``remote``."""

    def __init__(self, remote: Remote, directory: RemoteDirectory) -> None:
        self.remote, self.directory = remote, directory
        members = directory.members
        self._by_name = {m.name: m for m in members if not m.is_dir}
        self._ends = member_ends(members, directory.location.offset)

    def open(self, path: str) -> IO[bytes]:
        """The member's uncompressed bytes as a stream. The first request asks for at
        most :data:`FIRST_BYTES` of it (a reader of headers needs no more); the rest, if
        read, comes with a second request. A failure while reading is NetworkError
        (exit 4), never a short read."""
        member = self._by_name.get(path)
        if member is None:
            raise FileNotFoundError(path)
        end = self._ends[member.header_offset]
        first_end = min(end, member.header_offset + FIRST_BYTES)
        first = with_retries(
            self.remote.policy,
            self.remote.clock,
            lambda: self._open(member.header_offset, first_end),
        )
        pieces = self._pieces(first, first_end, end)
        body = BodyReader(pieces, member.header_offset, self._count)
        raw = _member_data(body, member, self.directory.name)
        chunks = checked_chunks(raw, member, self.directory.name)
        return _ResponseStream(
            _ChunkStream(_as_network_errors(chunks, self.remote.url)), pieces.close
        )

    def _open(self, start: int, end: int) -> httpx.Response:
        opened = self.remote.open(ByteRange.span(start, end), self.directory.pin)
        if opened.judgement.outcome is not Outcome.BODY:
            opened.response.close()
            if opened.judgement.outcome is Outcome.CHANGED:
                raise NetworkError(
                    f"{self.remote.url} changed on the server while it was read "
                    f"({opened.judgement.reason})",
                    hint="run the command again: it reads the new version",
                )
            raise self.remote.ranges_ignored()
        return opened.response

    def _pieces(self, first: httpx.Response, first_end: int, end: int) -> Generator[bytes]:
        """The body of ``first``, then (only if asked for) the rest up to ``end``."""
        try:
            yield from first.iter_raw()
        finally:
            first.close()
        if first_end < end:
            rest = with_retries(
                self.remote.policy, self.remote.clock, lambda: self._open(first_end, end)
            )
            try:
                yield from rest.iter_raw()
            finally:
                rest.close()

    def _count(self, amount: int) -> None:
        self.remote.traffic.add(body_bytes=amount)


def _as_network_errors(chunks: Iterator[bytes], url: str) -> Iterator[bytes]:
    """``chunks``, a dropped connection turned into NetworkError (exit 4)."""
    import httpx

    try:
        yield from chunks
    except (Transient, httpx.HTTPError) as exc:
        raise NetworkError(
            f"{url}: reading a member failed: {exc}",
            hint="try again; the directory is kept, so only the members are read again",
        ) from exc


def _member_data(body: BodyReader, member: ZipMember, archive_name: str) -> Iterator[bytes]:
    length = local_header_length(body, member, archive_name)
    body.read_exact(length)
    yield from body.stream(member.compress_size)


class _ResponseStream(io.BufferedReader):
    """A buffered member stream that closes its HTTP responses when closed."""

    def __init__(self, raw: _ChunkStream, close_response: object) -> None:
        super().__init__(raw, buffer_size=64 * 1024)
        self._close_response = close_response

    def close(self) -> None:
        try:
            super().close()
        finally:
            closer = self._close_response
            if callable(closer):
                closer()


@contextmanager
def open_members(remote: Remote, directory: RemoteDirectory) -> Iterator[MemberOpener]:
    """An opener for the members of ``directory``; the client is closed afterwards."""
    try:
        yield MemberOpener(remote, directory)
    finally:
        remote.client.close()
