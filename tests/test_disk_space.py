"""Free space as a full scratch disk sees it: a resumed download counts the blocks its
`.part` already holds (all of them when it was preallocated), and the room kept free is a
share of the write with a small floor, not a fixed 16 MiB."""

from __future__ import annotations

from pathlib import Path

import pytest

from hyperkvasir_cli.core import diskspace
from hyperkvasir_cli.core.diskspace import HEADROOM_CAP, HEADROOM_FLOOR, headroom, occupied
from tests.cli import Result, run_cli
from tests.conftest import FakeClock
from tests.downloads import archive, part_entry, write_manifest, zip_bytes
from tests.http_server import LocalServer
from tests.same import assert_same_bytes

FILE = "hyper-kvasir-segmented-images.zip"
PART = "segmented-images"
MIB = 1024 * 1024


def serve(tmp_path: Path, server: LocalServer, content: bytes) -> Path:
    server.put(FILE, content)
    return write_manifest(
        tmp_path / "m.yaml", [part_entry(PART, FILE, [server.url(FILE)], content)]
    )


def download(manifest: Path, *args: str) -> Result:
    return run_cli("download", PART, "--manifest", str(manifest), *args)


def free_space(monkeypatch: pytest.MonkeyPatch, free: int) -> None:
    monkeypatch.setattr(diskspace, "free_bytes", lambda directory: free)


def test_resume_after_a_full_disk_counts_what_the_preallocated_partial_holds(
    tmp_path: Path,
    data_dir: Path,
    http_server: LocalServer,
    fake_clock: FakeClock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    content = zip_bytes(8 * MIB + 5, seed=31)
    manifest = serve(tmp_path, http_server, content)
    faults = http_server.fault(FILE)
    faults.drop_every, faults.drops_left = MIB // 4, 1000  # every request is cut short
    monkeypatch.setenv("HYPERKVASIR_RETRIES", "0")
    assert download(manifest, "-n", "4").exit_code == 4
    partial = archive(data_dir, FILE).with_name(FILE + ".part")
    assert occupied(partial) >= len(content)  # preallocated: every block is held already
    # With no block left at all, even the record of progress cannot be written: exit 7
    # before any request, naming what little is needed.
    faults.drops_left = 0
    free_space(monkeypatch, 0)
    requests = len(http_server.log)
    full = download(manifest, "-n", "4")
    assert full.exit_code == 7 and "need 64.0 KiB more" in full.stderr
    assert len(http_server.log) == requests
    # The disk is now nearly full: what is missing still fits in the blocks the partial holds.
    free_space(monkeypatch, HEADROOM_FLOOR // 2)
    result = download(manifest, "-n", "4", "--json")
    assert result.exit_code == 0, result.stderr
    assert_same_bytes(archive(data_dir, FILE), content)
    assert result.json()["parts"][0]["action"] == "resumed"


def test_a_sequential_partial_needs_only_what_it_does_not_hold(
    tmp_path: Path,
    data_dir: Path,
    http_server: LocalServer,
    fake_clock: FakeClock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    content = zip_bytes(4 * MIB + 11, seed=32)
    manifest = serve(tmp_path, http_server, content)
    faults = http_server.fault(FILE)
    faults.drop_after, faults.drops_left = len(content) // 2, 1
    monkeypatch.setenv("HYPERKVASIR_RETRIES", "0")
    assert download(manifest, "-n", "1").exit_code == 4
    missing = len(content) - len(content) // 2
    free_space(monkeypatch, missing + HEADROOM_FLOOR // 2)
    short = download(manifest, "-n", "1")
    assert short.exit_code == 7, short.stderr
    assert "the partial file already holds 2.0 MiB" in short.stderr
    free_space(monkeypatch, missing + HEADROOM_FLOOR + 64 * 1024)
    assert download(manifest, "-n", "1").exit_code == 0


def test_a_7_mib_part_fits_on_a_nearly_empty_20_mib_disk(
    tmp_path: Path,
    data_dir: Path,
    http_server: LocalServer,
    fake_clock: FakeClock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    content = zip_bytes(7 * MIB, seed=33)
    manifest = serve(tmp_path, http_server, content)
    free_space(monkeypatch, 9 * MIB)  # a 20 MiB disk with a little on it already
    result = download(manifest)
    assert result.exit_code == 0, result.stderr
    assert_same_bytes(archive(data_dir, FILE), content)


def test_headroom_is_a_share_with_a_floor_and_a_cap() -> None:
    assert headroom(0) == headroom(7 * MIB) == HEADROOM_FLOOR
    assert headroom(1000 * MIB) == 10 * MIB
    assert headroom(60 * 1024 * MIB) == HEADROOM_CAP


def test_not_enough_space_says_what_is_kept_free(tmp_path: Path) -> None:
    from hyperkvasir_cli.core.errors import DiskSpaceError

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(diskspace, "free_bytes", lambda directory: 5 * MIB)
        with pytest.raises(DiskSpaceError) as caught:
            diskspace.ensure_free_space(tmp_path, 5 * MIB, "the part")
    assert "need 5.0 MiB" in caught.value.message and "1.0 MiB kept free" in caught.value.message
