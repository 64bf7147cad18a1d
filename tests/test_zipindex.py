"""The central directory reader sees every archive exactly as `zipfile` does, and says
clearly when a file is no readable zip."""

from __future__ import annotations

import time
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest

from hyperkvasir_cli.archive.index import ZipMember, read_members
from hyperkvasir_cli.core.errors import ArchiveError, UsageError
from tests.hostile_zips import RawMember, raw_zip
from tests.zips import build_labeled_images, build_segmented_images, write_zip


def with_comment_and_folders(path: Path, comment: bytes = b"made for a test") -> None:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("segmented-images/", b"")
        archive.writestr("segmented-images/masks/a.jpg", b"mask" * 100)
        archive.writestr("Résumé/ü.txt", b"utf-8 name")
        archive.comment = comment


def self_extracting(path: Path) -> None:
    write_zip(path.with_suffix(".inner"), {"labeled-images/a.jpg": b"a", "labeled-images/b": b"b"})
    path.write_bytes(b"MZ" + bytes(5000) + path.with_suffix(".inner").read_bytes())


SHAPES: dict[str, Callable[[Path], object]] = {
    "labeled, deflated": lambda p: build_labeled_images(p, per_class=1),
    "labeled, ZIP64 local headers": lambda p: build_labeled_images(p, force_zip64=True),
    "labeled, bzip2": lambda p: build_labeled_images(p, compression=zipfile.ZIP_BZIP2),
    "segmented": lambda p: build_segmented_images(p),
    "ZIP64 directory": lambda p: raw_zip(
        p, [RawMember(f"x/{n}", b"%d" % n) for n in range(50)], zip64=True
    ),
    "comment and folders": with_comment_and_folders,
    "data before the archive": self_extracting,
    "empty": lambda p: zipfile.ZipFile(p, "w").close(),
}


@pytest.mark.parametrize("shape", SHAPES)
def test_members_match_what_zipfile_reads(tmp_path: Path, shape: str) -> None:
    path = tmp_path / "a.zip"
    SHAPES[shape](path)
    with zipfile.ZipFile(path) as reference:
        expected = [
            (i.orig_filename, i.file_size, i.compress_size, i.compress_type, i.CRC,
             i.header_offset, i.flag_bits, i.external_attr, i.is_dir())
            for i in reference.infolist()
        ]  # fmt: skip
        content = {i.orig_filename: reference.read(i) for i in reference.infolist()}
    index = read_members(path)
    found = [
        (m.name, m.file_size, m.compress_size, m.compress_type, m.crc, m.header_offset,
         m.flag_bits, m.external_attr, m.is_dir)
        for m in index.members
    ]  # fmt: skip
    assert found == expected
    assert index.size == path.stat().st_size
    assert len(content) == len(index.members)


def test_a_comment_holding_an_end_record_signature_does_not_mislead(tmp_path: Path) -> None:
    path = tmp_path / "c.zip"
    with_comment_and_folders(path, b"PK\x05\x06" + bytes(18) + b" looks like an end record")
    names = [m.name for m in read_members(path).members]
    assert names == ["segmented-images/", "segmented-images/masks/a.jpg", "Résumé/ü.txt"]


def test_dos_time_is_local_time_and_extended_time_wins(tmp_path: Path) -> None:
    path = tmp_path / "t.zip"
    write_zip(path, {"a.txt": b"a"})
    (member,) = read_members(path).members
    assert member.mtime == time.mktime((2020, 1, 1, 0, 0, 0, 0, 0, -1))
    stamped = ZipMember("b", 1, 1, 0, 0, 0, unix_mtime=1_600_000_000)
    assert stamped.mtime == 1_600_000_000


@pytest.mark.parametrize(
    ("damage", "words"),
    [
        (lambda data: data[: len(data) // 2], "no end-of-central-directory record"),
        (lambda data: b"not a zip at all" * 10, "no end-of-central-directory record"),
        (lambda data: data.replace(b"PK\x01\x02", b"PK\x01\x09", 1), "bad central directory"),
    ],
)
def test_damaged_archives_are_named_errors(
    tmp_path: Path, damage: Callable[[bytes], bytes], words: str
) -> None:
    path = tmp_path / "d.zip"
    build_labeled_images(path, per_class=1)
    path.write_bytes(damage(path.read_bytes()))
    with pytest.raises(ArchiveError) as info:
        read_members(path)
    assert words in info.value.message and "d.zip" in info.value.message
    assert info.value.hint


def test_a_missing_archive_is_a_usage_error(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="cannot read"):
        read_members(tmp_path / "nowhere.zip")
