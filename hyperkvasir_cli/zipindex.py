"""A zip's central directory as plain member records, read without touching member data.

:func:`read_members` lets :mod:`zipfile` parse the directory (it knows ZIP64, archive
comments and prefixed data) and keeps only what extraction and checking need, so the
archive can be judged (:mod:`hyperkvasir_cli.zipsafety`) before anything is written.
"""

from __future__ import annotations

import stat
import struct
import time
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

from hyperkvasir_cli.errors import ArchiveError, UsageError

_EXTENDED_TIMESTAMP = 0x5455
_MTIME_PRESENT = 0x01


@dataclass(frozen=True, slots=True)
class ZipMember:
    """One central directory entry. ``name`` is as stored (decoded, NUL bytes kept)."""

    name: str
    file_size: int
    compress_size: int
    compress_type: int
    crc: int
    header_offset: int
    flag_bits: int
    external_attr: int
    mtime: float | None
    is_dir: bool = field(init=False)

    def __post_init__(self) -> None:
        folder = self.name.endswith(("/", "\\")) or stat.S_ISDIR(self.unix_mode)
        object.__setattr__(self, "is_dir", folder)

    @property
    def unix_mode(self) -> int:
        return self.external_attr >> 16


@dataclass(frozen=True)
class ZipIndex:
    """Every member in central directory order, and the archive's size in bytes."""

    archive: Path
    size: int
    members: list[ZipMember]


def extended_mtime(extra: bytes) -> int | None:
    """The UTC modification time of an "extended timestamp" extra field (0x5455), if any."""
    position = 0
    while position + 4 <= len(extra):
        field_id, length = struct.unpack_from("<HH", extra, position)
        body = extra[position + 4 : position + 4 + length]
        if field_id == _EXTENDED_TIMESTAMP and len(body) >= 5 and body[0] & _MTIME_PRESENT:
            return int(struct.unpack_from("<i", body, 1)[0])
        position += 4 + length
    return None


def dos_mtime(date_time: tuple[int, int, int, int, int, int]) -> float | None:
    """A DOS timestamp as the epoch, read as local time like unzip and bsdtar do."""
    try:
        return time.mktime((*date_time, 0, 0, -1))
    except (OverflowError, ValueError):
        return None


def member_from_info(info: zipfile.ZipInfo) -> ZipMember:
    stamp = extended_mtime(info.extra)
    return ZipMember(
        name=info.orig_filename,
        file_size=info.file_size,
        compress_size=info.compress_size,
        compress_type=info.compress_type,
        crc=info.CRC,
        header_offset=info.header_offset,
        flag_bits=info.flag_bits,
        external_attr=info.external_attr,
        mtime=float(stamp) if stamp is not None else dos_mtime(info.date_time),
    )


def read_members(archive: Path) -> ZipIndex:
    """Read the central directory of ``archive``.

    Raises :class:`ArchiveError` (exit 6) when the file is not a readable zip (truncated,
    damaged, split over several disks) and :class:`UsageError` when it cannot be opened;
    nothing is written either way.
    """
    try:
        size = archive.stat().st_size
        with zipfile.ZipFile(archive) as opened:
            members = [member_from_info(info) for info in opened.infolist()]
    except OSError as exc:
        raise UsageError(
            f"cannot read {archive}: {exc.strerror or exc}",
            hint="check that the file exists and that you may read it",
        ) from exc
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, EOFError, struct.error) as exc:
        raise ArchiveError(
            f"{archive.name} is not a readable zip archive ({exc}); it is {size} B long, "
            "probably truncated or damaged",
            hint="check it with `hyperkvasir checksum`, and download it again if it fails",
        ) from exc
    return ZipIndex(archive=archive, size=size, members=members)
