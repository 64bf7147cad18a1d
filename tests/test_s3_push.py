"""Uploading verified archives to object storage (moto's real S3 server on 127.0.0.1):
multipart with checked parts, resumable after SIGKILL, nothing sent twice, the object
checked and described by a manifest any node can use."""

from __future__ import annotations

import base64
import hashlib
import os
import signal
import subprocess
import sys
import threading
import zlib
from pathlib import Path

import pytest

from hyperkvasir_cli.core.errors import IntegrityError
from hyperkvasir_cli.core.manifest import load_manifest, parse_manifest_text
from hyperkvasir_cli.core.manifest_writer import (
    StoredObject,
    manifest_with_objects,
    render_manifest,
)
from hyperkvasir_cli.core.progress import SilentProgress
from hyperkvasir_cli.transfer import s3_upload
from hyperkvasir_cli.transfer.part_digests import DigestsStopped, PartDigests, read_part
from hyperkvasir_cli.transfer.s3_client import read_object, write_object
from hyperkvasir_cli.transfer.s3_upload import (
    MIB,
    multipart_etag,
    part_size_for,
    plan_parts,
    upload_archive,
)
from tests.downloads import random_bytes
from tests.s3_server import Bucket
from tests.same import assert_same_bytes

REPO = Path(__file__).resolve().parents[1]
SIZE = 2 * 8 * MIB + 4321  # three parts: two whole, one short


@pytest.fixture
def archive(tmp_path: Path) -> Path:
    path = tmp_path / "labeled.zip"
    path.write_bytes(random_bytes(SIZE))
    return path


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _push(archive: Path, url: str, state: Path, sha256: str | None = None):  # type: ignore[no-untyped-def]
    return upload_archive(
        archive,
        url,
        sha256=sha256 or _sha(archive),
        state_path=state,
        progress=SilentProgress(),
        label="push",
    )


def test_parts_are_sized_for_the_file() -> None:
    assert part_size_for(1) == 8 * MIB
    assert part_size_for(4 * 1024 * MIB) == 8 * MIB
    big = part_size_for(100 * 1024 * MIB)
    assert big % MIB == 0 and -(-100 * 1024 * MIB // big) <= 1000
    parts = plan_parts(SIZE, 8 * MIB)
    assert [p.number for p in parts] == [1, 2, 3]
    assert sum(p.length for p in parts) == SIZE and parts[-1].length == 4321
    assert plan_parts(0, 8 * MIB)[0].length == 0


def test_push_stores_the_archive_with_its_sha256_and_size(
    s3_bucket: Bucket, archive: Path, tmp_path: Path
) -> None:
    state = tmp_path / "state.json"
    result = _push(archive, s3_bucket.url("lab/labeled.zip"), state)
    assert (result.action, result.parts, result.parts_sent, result.bytes_sent) == (
        "uploaded",
        3,
        3,
        SIZE,
    )
    assert_same_bytes(s3_bucket.get("lab/labeled.zip"), archive, "the uploaded object")
    head = s3_bucket.head("lab/labeled.zip")
    assert head["Metadata"] == {"sha256": _sha(archive), "size": str(SIZE)}
    digests = [hashlib.md5(random_bytes(SIZE)[p.offset : p.offset + p.length]).digest()
               for p in plan_parts(SIZE, 8 * MIB)]  # fmt: skip
    assert head["ETag"] == result.etag == multipart_etag(digests)
    assert not state.exists() and s3_bucket.pending_uploads() == []


def test_a_second_push_of_an_unchanged_archive_sends_nothing(
    s3_bucket: Bucket, archive: Path, tmp_path: Path
) -> None:
    url = s3_bucket.url("lab/labeled.zip")
    _push(archive, url, tmp_path / "state.json")
    again = _push(archive, url, tmp_path / "state.json")
    assert (again.action, again.bytes_sent, again.parts_sent) == ("unchanged", 0, 0)


def test_an_object_of_other_bytes_is_replaced(
    s3_bucket: Bucket, archive: Path, tmp_path: Path
) -> None:
    s3_bucket.put("lab/labeled.zip", b"an older copy")
    result = _push(archive, s3_bucket.url("lab/labeled.zip"), tmp_path / "state.json")
    assert result.action == "uploaded"
    assert_same_bytes(s3_bucket.get("lab/labeled.zip"), archive, "the uploaded object")


def test_push_killed_with_sigkill_resumes_without_resending_finished_parts(
    s3_bucket: Bucket, archive: Path, tmp_path: Path
) -> None:
    url, state, sha = s3_bucket.url("lab/labeled.zip"), tmp_path / "state.json", _sha(archive)
    child = subprocess.Popen(
        [sys.executable, "-m", "tests.push_child", str(archive), url, sha, str(state)],
        cwd=REPO,
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    assert child.stdout is not None
    finished = [child.stdout.readline()]  # one part is on the server
    child.send_signal(signal.SIGKILL)
    child.wait()
    assert all(line.strip() for line in finished)
    assert state.exists() and len(s3_bucket.pending_uploads()) == 1
    result = _push(archive, url, state)
    assert result.action == "resumed"
    assert result.parts_kept >= 1
    assert result.bytes_sent <= SIZE - 8 * MIB
    assert_same_bytes(s3_bucket.get("lab/labeled.zip"), archive, "the uploaded object")
    assert s3_bucket.pending_uploads() == [] and not state.exists()


def test_an_archive_that_is_not_the_verified_one_is_never_published(
    s3_bucket: Bucket, archive: Path, tmp_path: Path
) -> None:
    with pytest.raises(IntegrityError, match="nothing was published"):
        _push(archive, s3_bucket.url("lab/labeled.zip"), tmp_path / "s.json", sha256="0" * 64)
    assert s3_bucket.keys() == [] and s3_bucket.pending_uploads() == []


def test_a_pending_upload_of_other_bytes_is_dropped(
    s3_bucket: Bucket, archive: Path, tmp_path: Path
) -> None:
    state, url = tmp_path / "state.json", s3_bucket.url("lab/labeled.zip")
    other = tmp_path / "other.zip"
    other.write_bytes(random_bytes(SIZE, seed=9))
    with pytest.raises(IntegrityError):  # leaves its pending upload and state behind
        _push(other, url, state, sha256="1" * 64)
    s3_bucket.client.create_multipart_upload(Bucket=s3_bucket.name, Key="lab/labeled.zip")
    result = _push(archive, url, state)
    assert result.action == "uploaded"
    assert_same_bytes(s3_bucket.get("lab/labeled.zip"), archive, "the uploaded object")


MANIFEST = """
dataset: hyper-kvasir
parts:
  - name: labeled-images
    file: hyper-kvasir-labeled-images.zip
    urls: [https://example.org/a/hyper-kvasir-labeled-images.zip]
    root: labeled-images
    expected: {files: 3, classes: {polyps: 3}}
  - name: segmented-images
    file: hyper-kvasir-segmented-images.zip
    urls: [https://example.org/a/hyper-kvasir-segmented-images.zip]
"""


def test_the_written_manifest_names_the_objects_first_then_the_original_urls() -> None:
    base = parse_manifest_text(MANIFEST, "m.yaml")
    labeled = StoredObject("labeled-images", "s3://lab/p/hk-l.zip", 10, "a" * 64)
    written = manifest_with_objects(base, [labeled])
    again = parse_manifest_text(render_manifest(written, comment="pushed"), "again")
    assert again.model_dump() == written.model_dump()
    part = again.part("labeled-images")
    assert part.urls == [
        "s3://lab/p/hk-l.zip",
        "https://example.org/a/hyper-kvasir-labeled-images.zip",
    ]
    assert (part.size, part.sha256, part.expected.classes) == (10, "a" * 64, {"polyps": 3})
    assert again.part("segmented-images") == base.part("segmented-images")


def test_a_later_push_of_another_part_keeps_the_earlier_object() -> None:
    base = parse_manifest_text(MANIFEST, "m.yaml")
    first = manifest_with_objects(
        base, [StoredObject("labeled-images", "s3://lab/p/l.zip", 10, "a" * 64)]
    )
    second = manifest_with_objects(
        base,
        [StoredObject("segmented-images", "s3://lab/p/s.zip", 20, "b" * 64)],
        previous=first,
        prefix="s3://lab/p/",
    )
    assert second.part("labeled-images").urls[0] == "s3://lab/p/l.zip"
    assert second.part("segmented-images").urls[0] == "s3://lab/p/s.zip"


def test_a_manifest_is_read_back_from_the_bucket(s3_bucket: Bucket) -> None:
    bundled = load_manifest()
    url = s3_bucket.url("lab/manifest.yaml")
    write_object(url, render_manifest(bundled).encode(), "application/yaml")
    assert parse_manifest_text(read_object(url).decode(), url).model_dump() == bundled.model_dump()


def test_parts_carry_a_crc32_and_the_object_its_composite(
    s3_bucket: Bucket, archive: Path, tmp_path: Path
) -> None:
    """Declared when the upload is created (as the AWS CLI does): the store checks each
    part's CRC32 too, and keeps the composite, which needs no pass over the whole object."""
    _push(archive, s3_bucket.url("lab/labeled.zip"), tmp_path / "state.json")
    head = s3_bucket.client.head_object(
        Bucket=s3_bucket.name, Key="lab/labeled.zip", ChecksumMode="ENABLED"
    )
    data = random_bytes(SIZE)
    crcs = b"".join(
        zlib.crc32(data[p.offset : p.offset + p.length]).to_bytes(4, "big")
        for p in plan_parts(SIZE, 8 * MIB)
    )
    composite = base64.b64encode(zlib.crc32(crcs).to_bytes(4, "big")).decode("ascii")
    # S3 writes the part count after it ("...-3"); moto leaves it out.
    assert head["ChecksumCRC32"].removesuffix("-3") == composite
    assert head.get("ChecksumType", "COMPOSITE") == "COMPOSITE"


def test_a_part_that_fails_stops_the_upload_and_its_error_is_told(
    s3_bucket: Bucket, archive: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    read = s3_upload._Upload._read

    def first_fails(upload: s3_upload._Upload, part: s3_upload.PlannedPart) -> bytearray:
        if part.number == 1:
            raise IntegrityError("part 1 unreadable")
        return read(upload, part)

    monkeypatch.setattr(s3_upload._Upload, "_read", first_fails)
    with pytest.raises(IntegrityError, match="part 1 unreadable"):
        _push(archive, s3_bucket.url("lab/labeled.zip"), tmp_path / "state.json")
    # Not the verified bytes: the upload is aborted, its parts are of no use to a rerun.
    assert s3_bucket.keys() == [] and s3_bucket.pending_uploads() == []


def test_a_part_changed_after_it_was_hashed_is_never_published(
    s3_bucket: Bucket, archive: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The digests are worked out from one read and the part sent from another: bytes
    that changed in between are caught by the part's ETag (moto checks no Content-MD5)."""
    read = s3_upload._Upload._read

    def second_changes(upload: s3_upload._Upload, part: s3_upload.PlannedPart) -> bytearray:
        body = read(upload, part)
        if part.number == 2:
            body[100] ^= 0xFF
        return body

    monkeypatch.setattr(s3_upload._Upload, "_read", second_changes)
    with pytest.raises(IntegrityError, match=r"changed while uploading \(part 2\)"):
        _push(archive, s3_bucket.url("lab/labeled.zip"), tmp_path / "state.json")
    assert s3_bucket.keys() == [] and s3_bucket.pending_uploads() == []


def test_digests_started_ahead_are_used_and_closed_when_nothing_is_sent(
    s3_bucket: Bucket, archive: Path, tmp_path: Path
) -> None:
    url, state, sha = s3_bucket.url("lab/labeled.zip"), tmp_path / "state.json", _sha(archive)
    first = upload_archive(
        archive, url, sha256=sha, state_path=state, progress=SilentProgress(), label="push",
        digests=PartDigests(archive, sha),
    )  # fmt: skip
    assert first.action == "uploaded" and first.parts_sent == 3
    ahead = PartDigests(archive, sha)
    again = upload_archive(
        archive, url, sha256=sha, state_path=state, progress=SilentProgress(), label="push",
        digests=ahead,
    )  # fmt: skip
    assert again.action == "unchanged" and again.bytes_sent == 0
    assert not [t for t in threading.enumerate() if t.name.startswith("part-digests")]
    with pytest.raises(DigestsStopped):
        ahead.part(1)


def test_part_digests_are_each_parts_md5_and_crc32_and_the_whole_sha256(
    archive: Path,
) -> None:
    data = archive.read_bytes()
    with PartDigests(archive, _sha(archive), threads=3) as digests:
        assert digests.sha256() == hashlib.sha256(data).hexdigest()
        for part in plan_parts(SIZE, 8 * MIB):
            piece = data[part.offset : part.offset + part.length]
            found = digests.part(part.number)
            assert found.md5 == hashlib.md5(piece).digest()
            assert base64.b64decode(found.crc32) == zlib.crc32(piece).to_bytes(4, "big")
    with PartDigests(archive, "0" * 64) as wrong:
        with pytest.raises(IntegrityError, match="nothing was published"):
            wrong.sha256()
        with pytest.raises(DigestsStopped):  # the senders waiting stop
            wrong.part(3)
    empty = archive.with_name("empty.zip")
    empty.write_bytes(b"")
    with PartDigests(empty, hashlib.sha256(b"").hexdigest()) as nothing:
        assert nothing.part(1).md5 == hashlib.md5(b"").digest()


def test_a_file_shorter_than_its_parts_is_an_integrity_error(tmp_path: Path) -> None:
    short = tmp_path / "short.zip"
    short.write_bytes(b"x" * 10)
    fd = os.open(short, os.O_RDONLY)
    try:
        with pytest.raises(IntegrityError, match="shrank while uploading"):
            read_part(fd, s3_upload.PlannedPart(1, 0, 20), memoryview(bytearray(20)))
    finally:
        os.close(fd)
