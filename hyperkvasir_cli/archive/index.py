"""A zip's central directory as plain member records, read without touching member data.

The directory is located through the end-of-central-directory record (and its ZIP64
forms), read in one piece (as :mod:`zipfile` does) and turned into one small record per
member, so a 100,000-member archive costs a few tens of megabytes and well under a second.
Data placed before the archive (self-extracting stubs) shifts every offset, as in
:mod:`zipfile`. Nothing here judges the members: that is :mod:`hyperkvasir_cli.archive.safety`.
"""

from __future__ import annotations

import functools
import os
import stat
import struct
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

from hyperkvasir_cli.core.errors import ArchiveError, UsageError

_END = struct.Struct("<4s4H2LH")
_END_SIGNATURE = b"PK\x05\x06"
_END64_LOCATOR = struct.Struct("<4sLQL")
_END64_LOCATOR_SIGNATURE = b"PK\x06\x07"
_END64 = struct.Struct("<4sQ2H2L4Q")
_END64_SIGNATURE = b"PK\x06\x06"
_CENTRAL = struct.Struct("<4s4B4HL2L5H2L")
_CENTRAL_SIGNATURE = b"PK\x01\x02"
_MAX_COMMENT = 0xFFFF
_ZIP64_MARK = 0xFFFFFFFF
_ZIP64_EXTRA = 0x0001
_EXTENDED_TIMESTAMP = 0x5455
_UTF8_FLAG = 0x800
_HINT = "check it with `hyperkvasir checksum`, and download it again if it fails"


class ZipMember(NamedTuple):
    """One central directory entry. ``name`` is as stored (decoded, NUL bytes kept);
    ``dos_time`` is the DOS date (high 16 bits) and time (low 16 bits).

    A named tuple: made for every member of an archive (100,000s) and sent to extraction
    workers, and a tuple is several times cheaper to make and to pickle than a dataclass.
    """

    name: str
    file_size: int
    compress_size: int
    compress_type: int
    crc: int
    header_offset: int
    flag_bits: int = 0
    external_attr: int = 0
    dos_time: int = 0
    unix_mtime: int | None = None

    @property
    def is_dir(self) -> bool:
        return self.name.endswith(("/", "\\")) or stat.S_ISDIR(self.external_attr >> 16)

    @property
    def unix_mode(self) -> int:
        return self.external_attr >> 16

    @property
    def mtime(self) -> float | None:
        """Modification time: the extended timestamp when present, else the DOS time read
        as local time (as unzip and bsdtar do); None when the DOS time is invalid."""
        if self.unix_mtime is not None:
            return float(self.unix_mtime)
        return dos_mtime(self.dos_time)


@dataclass(frozen=True)
class ZipIndex:
    """Every member in central directory order, and the archive's size in bytes."""

    archive: Path
    size: int
    members: list[ZipMember]


@functools.lru_cache(maxsize=4096)
def dos_mtime(dos_time: int) -> float | None:
    date, clock = dos_time >> 16, dos_time & 0xFFFF
    fields = (
        (date >> 9) + 1980,
        (date >> 5) & 0xF,
        date & 0x1F,
        clock >> 11,
        (clock >> 5) & 0x3F,
        (clock & 0x1F) * 2,
    )
    try:
        return time.mktime((*fields, 0, 0, -1))
    except (OverflowError, ValueError):
        return None


def extra_fields(extra: bytes) -> dict[int, bytes]:
    """The extra field's records by header id (a truncated last record is dropped)."""
    found: dict[int, bytes] = {}
    position = 0
    while position + 4 <= len(extra):
        field_id, length = struct.unpack_from("<HH", extra, position)
        body = extra[position + 4 : position + 4 + length]
        if len(body) == length:
            found.setdefault(field_id, body)
        position += 4 + length
    return found


def extended_mtime(extra: bytes) -> int | None:
    """The UTC modification time of an "extended timestamp" extra field (0x5455), if any."""
    body = extra_fields(extra).get(_EXTENDED_TIMESTAMP)
    if body is None or len(body) < 5 or not body[0] & 0x01:
        return None
    return int(struct.unpack_from("<i", body, 1)[0])


def zip64_values(extra: bytes, wanted: int) -> tuple[int, ...] | None:
    """The first ``wanted`` 8-byte values of the ZIP64 extra field, or None if missing."""
    body = extra_fields(extra).get(_ZIP64_EXTRA, b"")
    if len(body) < 8 * wanted:
        return None
    return struct.unpack_from(f"<{wanted}Q", body)


@dataclass(frozen=True)
class DirectoryLocation:
    """Where the central directory lies, as the end records say."""

    offset: int  # where the central directory really starts in the file
    size: int
    shift: int  # bytes of foreign data before the archive, added to every header offset

    @property
    def end(self) -> int:
        return self.offset + self.size


# What the end records can take at most: the end record with the longest comment, the
# ZIP64 locator and the ZIP64 end record without its extensible data.
END_RECORDS_MAX = _END.size + _MAX_COMMENT + _END64_LOCATOR.size + _END64.size

# Reads ``size`` bytes at ``offset`` (fewer at the end of the file).
ReadAt = Callable[[int, int], bytes]


def pread(fd: int, size: int, offset: int) -> bytes:
    """Up to ``size`` bytes at ``offset``, without moving a shared file position."""
    if hasattr(os, "pread"):
        return os.pread(fd, size, offset)
    # Windows has no pread; every reader here owns its descriptor, so seeking is safe.
    os.lseek(fd, offset, os.SEEK_SET)
    return os.read(fd, size)


def corrupt_archive(name: str, size: int, what: str) -> ArchiveError:
    return ArchiveError(
        f"{name} is not a readable zip archive ({what}); it is {size} B long, "
        "probably truncated or damaged",
        hint=_HINT,
    )


def _end_record(tail: bytes) -> int | None:
    """Where the end record starts in ``tail``: the last signature whose comment length
    reaches exactly to the end (a comment may itself contain the signature)."""
    found = tail.rfind(_END_SIGNATURE)
    fallback = None
    while found >= 0:
        if found + _END.size <= len(tail):
            comment_length = _END.unpack_from(tail, found)[-1]
            if found + _END.size + comment_length == len(tail):
                return found
            fallback = found if fallback is None else fallback
        found = tail.rfind(_END_SIGNATURE, 0, found)
    # Some writers leave bytes after the comment; take the last record then, as zipfile does.
    return fallback


def locate_directory(read: ReadAt, size: int, name: str) -> DirectoryLocation:
    """Find the central directory of a ``size``-byte file from its end records, reading
    through ``read`` (a local file or a remote one's fetched tail). ArchiveError (exit 6)
    when there are none or they point outside the file."""
    tail_start = max(0, size - _END.size - _MAX_COMMENT)
    tail = read(tail_start, size - tail_start)
    found = _end_record(tail)
    if found is None:
        raise corrupt_archive(name, size, "no end-of-central-directory record")
    end_at = tail_start + found
    _, disk, _, _, _, cd_size, cd_offset, _ = _END.unpack_from(tail, found)
    if disk != 0:
        raise corrupt_archive(name, size, "it is split over several disks")
    directory_end = end_at
    locator_at = end_at - _END64_LOCATOR.size
    if locator_at >= 0:
        locator = read(locator_at, _END64_LOCATOR.size)
        if locator[:4] == _END64_LOCATOR_SIGNATURE:
            record_at = _END64_LOCATOR.unpack(locator)[2]
            record = read(record_at, _END64.size) if record_at < size else b""
            if len(record) < _END64.size or record[:4] != _END64_SIGNATURE:
                raise corrupt_archive(name, size, "the ZIP64 end record is missing")
            cd_size, cd_offset = _END64.unpack(record)[8:10]
            directory_end = locator_at - _END64.size
    start = directory_end - cd_size
    if start < 0 or cd_offset > start:
        raise corrupt_archive(name, size, "the central directory lies outside the file")
    return DirectoryLocation(offset=start, size=cd_size, shift=start - cd_offset)


def parse_directory(data: bytes, shift: int, name: str, size: int) -> list[ZipMember]:
    """The member records of the central directory ``data`` (all of it, as located);
    ArchiveError (exit 6) for an entry that is damaged or cut off."""
    return list(iter_directory(data, shift, name, size))


def iter_directory(data: bytes, shift: int, name: str, size: int) -> Iterator[ZipMember]:
    """:func:`parse_directory` one record at a time (a caller that keeps less of each
    record than all of it never holds 100,000 of them)."""
    position = 0
    while position + _CENTRAL.size <= len(data):
        entry = _CENTRAL.unpack_from(data, position)
        if entry[0] != _CENTRAL_SIGNATURE:
            raise corrupt_archive(name, size, f"bad central directory entry at byte {position}")
        flags, method, clock, date, crc, compressed, original = entry[5:12]
        name_length, extra_length, comment_length = entry[12:15]
        external_attr, offset = entry[17:19]
        name_at = position + _CENTRAL.size
        raw_name = data[name_at : name_at + name_length]
        extra = data[name_at + name_length : name_at + name_length + extra_length]
        position = name_at + name_length + extra_length + comment_length
        if position > len(data):
            raise corrupt_archive(name, size, "the central directory ends inside an entry")
        large = [v for v in (original, compressed, offset) if v == _ZIP64_MARK]
        if large:
            values = zip64_values(extra, len(large))
            if values is None:
                raise corrupt_archive(name, size, "a ZIP64 entry lacks its sizes")
            found = iter(values)
            original = next(found) if original == _ZIP64_MARK else original
            compressed = next(found) if compressed == _ZIP64_MARK else compressed
            offset = next(found) if offset == _ZIP64_MARK else offset
        try:
            member_name = raw_name.decode("utf-8" if flags & _UTF8_FLAG else "cp437")
        except UnicodeDecodeError:
            raise corrupt_archive(name, size, f"a member name is not UTF-8: {raw_name!r}") from None
        yield ZipMember(
            name=member_name,
            file_size=original,
            compress_size=compressed,
            compress_type=method,
            crc=crc,
            header_offset=offset + shift,
            flag_bits=flags,
            external_attr=external_attr,
            dos_time=date << 16 | clock,
            unix_mtime=extended_mtime(extra) if extra else None,
        )


def read_members(archive: Path) -> ZipIndex:
    """Read the central directory of ``archive``.

    Raises :class:`ArchiveError` (exit 6) when the file is not a readable zip (truncated,
    damaged, split over several disks) and :class:`UsageError` when it cannot be opened;
    nothing is written either way.
    """
    try:
        handle = os.open(archive, os.O_RDONLY | getattr(os, "O_BINARY", 0))
    except OSError as exc:
        raise UsageError(
            f"cannot read {archive}: {exc.strerror or exc}",
            hint="check that the file exists and that you may read it",
        ) from exc
    try:
        size = os.fstat(handle).st_size
        directory = locate_directory(
            lambda offset, length: pread(handle, length, offset), size, archive.name
        )
        data = pread(handle, directory.size, directory.offset)
    finally:
        os.close(handle)
    if len(data) < directory.size:
        raise corrupt_archive(archive.name, size, "the central directory is cut off")
    members = parse_directory(data, directory.shift, archive.name, size)
    return ZipIndex(archive, size, members)
