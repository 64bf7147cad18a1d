"""Zip files written byte by byte, for shapes `zipfile` will not write: NUL bytes in names,
declared sizes that lie, unknown compression methods, a ZIP64 central directory for small
archives. Each archive is a real, parseable zip; only its metadata is hostile.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass
from pathlib import Path

ZIP64_MARK = 0xFFFFFFFF
DOS_TIME, DOS_DATE = 0, (2020 - 1980) << 9 | 1 << 5 | 1  # 2020-01-01 00:00


@dataclass
class RawMember:
    """One entry. ``content`` is what the member holds; ``stored`` the bytes in the archive
    (defaults: ``content`` itself for method 0, its raw deflate for method 8)."""

    name: str | bytes
    content: bytes = b""
    method: int = 0
    stored: bytes | None = None
    declared_size: int | None = None
    crc: int | None = None
    flags: int = 0
    external_attr: int = 0o100644 << 16

    def raw_name(self) -> bytes:
        return self.name if isinstance(self.name, bytes) else self.name.encode("utf-8")

    def data(self) -> bytes:
        if self.stored is not None:
            return self.stored
        if self.method == 8:
            packer = zlib.compressobj(6, zlib.DEFLATED, -15)
            return packer.compress(self.content) + packer.flush()
        return self.content

    def size(self) -> int:
        return len(self.content) if self.declared_size is None else self.declared_size

    def checksum(self) -> int:
        return zlib.crc32(self.content) if self.crc is None else self.crc


def deflated(data: bytes) -> bytes:
    packer = zlib.compressobj(6, zlib.DEFLATED, -15)
    return packer.compress(data) + packer.flush()


def raw_zip(path: Path, members: list[RawMember], *, zip64: bool = False) -> Path:
    """Write ``members`` as a zip; with ``zip64`` every size and offset goes through ZIP64
    extra fields and a ZIP64 end record, as in the dataset's large archives."""
    body = bytearray()
    central = bytearray()
    for member in members:
        name, data = member.raw_name(), member.data()
        offset = len(body)
        big = zip64 or member.size() >= ZIP64_MARK
        extra = struct.pack("<HHQQ", 1, 16, member.size(), len(data)) if big else b""
        sizes = (ZIP64_MARK, ZIP64_MARK) if big else (len(data), member.size())
        version = 45 if big else 20
        body += struct.pack(
            "<4sHHHHHIIIHH", b"PK\x03\x04", version, member.flags, member.method,
            DOS_TIME, DOS_DATE, member.checksum(), *sizes, len(name), len(extra),
        )  # fmt: skip
        body += name + extra + data
        central_extra = (
            struct.pack("<HHQQQ", 1, 24, member.size(), len(data), offset) if zip64 else extra
        )
        central += struct.pack(
            "<4sHHHHHHIIIHHHHHII", b"PK\x01\x02", 3 << 8 | version, version, member.flags,
            member.method, DOS_TIME, DOS_DATE, member.checksum(), *sizes, len(name),
            len(central_extra), 0, 0, 0, member.external_attr,
            ZIP64_MARK if zip64 else offset,
        )  # fmt: skip
        central += name + central_extra
    start = len(body)
    body += central
    count = len(members)
    if zip64:
        end64 = len(body)
        body += struct.pack(
            "<4sQHHIIQQQQ", b"PK\x06\x06", 44, 45, 45, 0, 0, count, count, len(central), start
        )
        body += struct.pack("<4sIQI", b"PK\x06\x07", 0, end64, 1)
        body += struct.pack("<4sHHHHIIH", b"PK\x05\x06", 0, 0, 0xFFFF, 0xFFFF,
                            ZIP64_MARK, ZIP64_MARK, 0)  # fmt: skip
    else:
        body += struct.pack("<4sHHHHIIH", b"PK\x05\x06", 0, 0, count, count, len(central),
                            start, 0)  # fmt: skip
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(bytes(body))
    return path
