"""`sync` for cron and CI: idempotent, extracts, notices upstream changes, keeps the copy."""

from __future__ import annotations

import hashlib
import io
import zipfile
from pathlib import Path

import pytest

from tests.cli import run_cli
from tests.conftest import FakeClock
from tests.downloads import archive, part_entry, write_manifest
from tests.http_server import LocalServer
from tests.zips import build_segmented_images

FILE = "hyper-kvasir-segmented-images.zip"


@pytest.fixture
def zip_bytes(tmp_path: Path) -> bytes:
    return build_segmented_images(tmp_path / "source" / FILE, pairs=3).path.read_bytes()


def manifest_for(tmp_path: Path, server: LocalServer, content: bytes, pin: bool = True) -> Path:
    server.put(FILE, content)
    return write_manifest(
        tmp_path / "m.yaml",
        [
            part_entry(
                "segmented-images",
                FILE,
                [server.url(FILE)],
                content,
                pin_sha=pin,
                pin_size=pin,
                root="segmented-images",
                expected={"files": 6},
            )
        ],
    )


def test_sync_downloads_verifies_extracts_then_does_nothing(
    tmp_path: Path,
    http_server: LocalServer,
    zip_bytes: bytes,
    data_dir: Path,
    fake_clock: FakeClock,
) -> None:
    manifest = manifest_for(tmp_path, http_server, zip_bytes)
    first = run_cli("sync", "segmented-images", "--manifest", str(manifest), "--json")
    assert first.exit_code == 0, first.stderr
    step = first.json()["parts"][0]
    assert step["download"] == "downloaded" and step["extract"]["extracted"] == 7
    assert (data_dir / "segmented-images" / "bounding-boxes.json").exists()
    requests = len(http_server.log)
    # Second run: the default is every recorded part; nothing to do, not one request.
    second = run_cli("sync", "--manifest", str(manifest), "--json")
    assert second.exit_code == 0, second.stderr
    assert second.json()["bytes_fetched"] == 0
    assert second.json()["parts"][0]["download"] == "skipped"
    assert len(http_server.log) == requests


def test_check_remote_unchanged_sends_one_head_and_no_body(
    tmp_path: Path, http_server: LocalServer, zip_bytes: bytes, fake_clock: FakeClock
) -> None:
    manifest = manifest_for(tmp_path, http_server, zip_bytes)
    assert run_cli("sync", "segmented-images", "--manifest", str(manifest)).exit_code == 0
    before = len(http_server.log)
    again = run_cli("sync", "--check-remote", "--manifest", str(manifest), "--json")
    assert again.exit_code == 0, again.stderr
    assert again.json()["parts"][0]["remote"] == "unchanged"
    assert [r.method for r in http_server.log[before:]] == ["HEAD"]


def test_check_remote_fetches_a_changed_file_beside_and_swaps(
    tmp_path: Path,
    http_server: LocalServer,
    zip_bytes: bytes,
    data_dir: Path,
    fake_clock: FakeClock,
) -> None:
    manifest = manifest_for(tmp_path, http_server, zip_bytes, pin=False)
    assert run_cli("sync", "segmented-images", "--manifest", str(manifest)).exit_code == 0
    newer = build_segmented_images(tmp_path / "newer" / FILE, pairs=4, seed=9).path.read_bytes()
    http_server.put(FILE, newer)
    result = run_cli("sync", "--check-remote", "--manifest", str(manifest), "--json")
    assert result.exit_code == 0, result.stderr
    assert result.json()["parts"][0]["remote"] == "changed"
    assert archive(data_dir, FILE).read_bytes() == newer
    with zipfile.ZipFile(io.BytesIO(newer)) as new_zip:
        for name in new_zip.namelist():
            assert (data_dir / name).read_bytes() == new_zip.read(name)


def test_upstream_change_against_a_pinned_checksum_exits_5_and_keeps_the_copy(
    tmp_path: Path,
    http_server: LocalServer,
    zip_bytes: bytes,
    data_dir: Path,
    fake_clock: FakeClock,
) -> None:
    manifest = manifest_for(tmp_path, http_server, zip_bytes)
    assert run_cli("sync", "segmented-images", "--manifest", str(manifest)).exit_code == 0
    http_server.put(FILE, zip_bytes + b"appended upstream")
    result = run_cli("sync", "--check-remote", "--manifest", str(manifest))
    assert result.exit_code == 5
    assert "upstream changed" in result.stderr and "kept" in result.stderr
    assert (
        hashlib.sha256(archive(data_dir, FILE).read_bytes()).hexdigest()
        == hashlib.sha256(zip_bytes).hexdigest()
    )


def test_same_size_upstream_change_with_pinned_checksum_keeps_the_verified_copy(
    tmp_path: Path,
    http_server: LocalServer,
    zip_bytes: bytes,
    data_dir: Path,
    fake_clock: FakeClock,
) -> None:
    manifest = manifest_for(tmp_path, http_server, zip_bytes)
    assert run_cli("sync", "segmented-images", "--manifest", str(manifest)).exit_code == 0
    tampered = bytearray(zip_bytes)
    tampered[100] ^= 0xFF
    http_server.put(FILE, bytes(tampered))
    result = run_cli("sync", "--check-remote", "--manifest", str(manifest))
    assert result.exit_code == 5
    assert "upstream changed" in result.stderr
    assert archive(data_dir, FILE).read_bytes() == zip_bytes


def test_sync_with_nothing_recorded_is_success() -> None:
    result = run_cli("sync", "--json")
    assert result.exit_code == 0
    assert result.json()["parts"] == []


def test_sync_output_without_a_terminal_has_no_carriage_returns(
    tmp_path: Path, http_server: LocalServer, zip_bytes: bytes, fake_clock: FakeClock
) -> None:
    manifest = manifest_for(tmp_path, http_server, zip_bytes)
    result = run_cli("sync", "segmented-images", "--manifest", str(manifest))
    assert result.exit_code == 0
    assert "\r" not in result.stderr
    assert all(line[:4].isdigit() and "T" in line[:20] for line in result.stderr.splitlines())
