"""The bytes of one zip member, streamed in bounded pieces, its size and CRC-32 checked.

Data is read with ``os.pread`` at the offset the central directory gives (ZIP64 offsets
included), so several processes can share one archive without seeking each other's file
position. Memory stays bounded by ``chunk_size`` whatever a member declares or inflates to.
Readable methods: stored, deflate, bzip2, lzma (the ones :mod:`zipsafety` lets through).
"""

from __future__ import annotations

import bz2
import lzma
import struct
import zlib
from collections.abc import Iterable, Iterator
from typing import Protocol

from hyperkvasir_cli.archive.index import ZipMember, pread
from hyperkvasir_cli.archive.safety import BZIP2, DEFLATED, LZMA, STORED, method_name
from hyperkvasir_cli.core.errors import ArchiveError

CHUNK_SIZE = 1 << 20
LOCAL_SIGNATURE = b"PK\x03\x04"
_LOCAL_HEADER = struct.Struct("<4s22xHH")
_CORRUPT_HINT = (
    "the archive is damaged; check it with `hyperkvasir checksum --deep` and download it again"
)


class Inflater(Protocol):
    def take(self, data: bytes, limit: int) -> bytes:
        """Feed ``data`` (may be empty) and return at most ``limit`` (>= 1) output bytes."""

    @property
    def has_more(self) -> bool:
        """Output is waiting that needs no further input."""

    @property
    def finished(self) -> bool:
        """The compressed stream has ended."""


class DeflateInflater:
    def __init__(self) -> None:
        self._stream = zlib.decompressobj(-zlib.MAX_WBITS)

    def take(self, data: bytes, limit: int) -> bytes:
        return self._stream.decompress(data or self._stream.unconsumed_tail, limit)

    @property
    def has_more(self) -> bool:
        return bool(self._stream.unconsumed_tail)

    @property
    def finished(self) -> bool:
        return self._stream.eof


class Bzip2Inflater:
    def __init__(self) -> None:
        self._stream = bz2.BZ2Decompressor()

    def take(self, data: bytes, limit: int) -> bytes:
        return b"" if self._stream.eof else self._stream.decompress(data, limit)

    @property
    def has_more(self) -> bool:
        return not (self._stream.needs_input or self._stream.eof)

    @property
    def finished(self) -> bool:
        return self._stream.eof


def lzma1_filter(properties: bytes) -> dict[str, int]:
    """The LZMA1 filter described by the 5 property bytes of a zip's LZMA header."""
    if len(properties) != 5:
        raise lzma.LZMAError(f"LZMA properties are {len(properties)} B, expected 5")
    packed, dict_size = properties[0], int.from_bytes(properties[1:5], "little")
    lc, packed = packed % 9, packed // 9
    lp, pb = packed % 5, packed // 5
    return {"id": lzma.FILTER_LZMA1, "dict_size": dict_size, "lc": lc, "lp": lp, "pb": pb}


class LzmaInflater:
    """Zip's LZMA: a 4-byte header (version, size of properties), the properties, raw LZMA1."""

    def __init__(self) -> None:
        self._header = b""
        self._stream: lzma.LZMADecompressor | None = None

    def take(self, data: bytes, limit: int) -> bytes:
        if self._stream is None:
            self._header += data
            if len(self._header) < 4:
                return b""
            end = 4 + struct.unpack_from("<H", self._header, 2)[0]
            if len(self._header) < end:
                return b""
            filters = [lzma1_filter(self._header[4:end])]
            self._stream = lzma.LZMADecompressor(lzma.FORMAT_RAW, filters=filters)
            data, self._header = self._header[end:], b""
        return b"" if self._stream.eof else self._stream.decompress(data, limit)

    @property
    def has_more(self) -> bool:
        return self._stream is not None and not (self._stream.needs_input or self._stream.eof)

    @property
    def finished(self) -> bool:
        return self._stream is not None and self._stream.eof


def new_inflater(method: int) -> Inflater | None:
    """The decompressor for ``method``; None for stored members (bytes are copied)."""
    if method == STORED:
        return None
    if method == DEFLATED:
        return DeflateInflater()
    if method == BZIP2:
        return Bzip2Inflater()
    if method == LZMA:
        return LzmaInflater()
    raise ArchiveError(f"compression method {method_name(method)} cannot be read")


def _corrupt(archive_name: str, member: ZipMember, what: str) -> ArchiveError:
    return ArchiveError(f"{archive_name}: member {member.name!r} {what}", hint=_CORRUPT_HINT)


def read_at(fd: int, size: int, offset: int, archive_name: str, member: ZipMember) -> bytes:
    """Exactly ``size`` bytes at ``offset``; ArchiveError when the archive ends sooner or
    cannot be read."""
    try:
        data = pread(fd, size, offset)
    except OSError as exc:
        raise _corrupt(archive_name, member, f"cannot be read ({exc.strerror or exc})") from exc
    if len(data) < size:
        raise _corrupt(archive_name, member, f"is cut off at byte {offset + len(data)}")
    return data


def data_offset(fd: int, member: ZipMember, archive_name: str) -> int:
    """Where the member's data starts: after its local header, whose lengths may differ from
    the central directory's."""
    header = read_at(fd, _LOCAL_HEADER.size, member.header_offset, archive_name, member)
    signature, name_length, extra_length = _LOCAL_HEADER.unpack(header)
    if signature != LOCAL_SIGNATURE:
        raise _corrupt(archive_name, member, f"has no local header at byte {member.header_offset}")
    return member.header_offset + _LOCAL_HEADER.size + int(name_length) + int(extra_length)


def member_chunks(
    fd: int, member: ZipMember, archive_name: str, *, chunk_size: int = CHUNK_SIZE
) -> Iterator[bytes]:
    """Yield the member's uncompressed bytes in pieces of at most ``chunk_size``.

    Never yields more than the declared ``file_size`` in all. When the last piece has been
    taken, size and CRC-32 have been checked. Raises :class:`ArchiveError` (exit 6) when the
    data inflates past the declared size (stopped there: a zip bomb or damage), ends short,
    cannot be decompressed, or has the wrong CRC-32. A caller that stops early gets no check.
    """
    raw = _stored_pieces(fd, member, archive_name, chunk_size)
    return checked_chunks(raw, member, archive_name, chunk_size=chunk_size)


def checked_chunks(
    raw: Iterable[bytes], member: ZipMember, archive_name: str, *, chunk_size: int = CHUNK_SIZE
) -> Iterator[bytes]:
    """The member's uncompressed bytes from ``raw``, its data as stored in the archive
    (after the local header; pieces of any size), with the guarantees of
    :func:`member_chunks`. Whoever supplies ``raw`` (a file, an HTTP body) ends it at the
    member's compressed size at the latest."""
    produced = crc = 0
    for piece in _decoded(raw, member, archive_name, chunk_size):
        produced += len(piece)
        if produced > member.file_size:
            raise _corrupt(
                archive_name,
                member,
                f"inflates to more than the {member.file_size} B it declares (a zip bomb or "
                f"a damaged archive); stopped at {member.file_size} B",
            )
        crc = zlib.crc32(piece, crc)
        yield piece
    if produced < member.file_size:
        raise _corrupt(archive_name, member, f"ends after {produced} B of {member.file_size} B")
    if crc != member.crc:
        raise _corrupt(
            archive_name, member, f"has CRC-32 {crc:08x}, the archive declares {member.crc:08x}"
        )


def _stored_pieces(
    fd: int, member: ZipMember, archive_name: str, chunk_size: int
) -> Iterator[bytes]:
    """The member's data as stored, read from the archive file in bounded pieces."""
    position = data_offset(fd, member, archive_name)
    end = position + member.compress_size
    while position < end:
        data = read_at(fd, min(chunk_size, end - position), position, archive_name, member)
        position += len(data)
        yield data


def _decoded(
    raw: Iterable[bytes], member: ZipMember, archive_name: str, chunk_size: int
) -> Iterator[bytes]:
    """The member's output; at most one byte beyond the declared size, which shows the
    caller an oversized member without ever holding more than ``chunk_size`` bytes."""
    inflater = new_inflater(member.compress_type)
    room = member.file_size + 1
    pieces = iter(raw)
    # Once the compressed stream has ended, nothing more is read (not even one piece).
    while not (inflater and inflater.finished):
        data = next(pieces, None)
        if data is None:
            break
        if inflater is None:
            room -= len(data)
            yield data
            continue
        for piece in _inflate(inflater, data, room, chunk_size, archive_name, member):
            room -= len(piece)
            yield piece
    if inflater is None or inflater.finished:
        return
    # zlib may still hold output after the last input (a long match cut by the limit).
    draining = True
    while room > 0 and draining:
        draining = False
        for piece in _inflate(inflater, b"", room, chunk_size, archive_name, member):
            draining = True
            room -= len(piece)
            yield piece
    if not inflater.finished and member.compress_type != LZMA:
        # Raw LZMA1 need not carry an end marker; the declared sizes bound it instead.
        raise _corrupt(archive_name, member, "has compressed data that stops before its end")


def _inflate(
    inflater: Inflater,
    data: bytes,
    room: int,
    chunk_size: int,
    archive_name: str,
    member: ZipMember,
) -> Iterator[bytes]:
    """Output for ``data`` in pieces of at most ``chunk_size`` and ``room`` bytes in all."""
    while room > 0:
        try:
            piece = inflater.take(data, min(chunk_size, room))
        except (zlib.error, lzma.LZMAError, OSError, EOFError, ValueError) as exc:
            # bz2 reports bad data as OSError; reads happen outside this block.
            what = f"has {method_name(member.compress_type)} data that cannot be decompressed"
            raise _corrupt(archive_name, member, f"{what} ({exc})") from exc
        data = b""
        room -= len(piece)
        if piece:
            yield piece
        if not inflater.has_more:
            return
