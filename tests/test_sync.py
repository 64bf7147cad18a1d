"""`sync` for cron and CI: idempotent, extracts, notices upstream changes, keeps the copy."""

from __future__ import annotations

import io
import zipfile
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.cli import Result, run_cli
from tests.conftest import FakeClock
from tests.downloads import archive, part_entry, write_manifest
from tests.http_server import LocalServer
from tests.same import assert_same_bytes
from tests.zips import build_segmented_images

FILE = "hyper-kvasir-segmented-images.zip"
PART = "segmented-images"


@dataclass
class Mirror:
    """A segmented-images zip on the test server, a manifest for it, and the data folder."""

    server: LocalServer
    content: bytes
    data_dir: Path
    tmp_path: Path

    @property
    def manifest(self) -> Path:
        return self.tmp_path / "m.yaml"

    def describe(self, pin: bool = True) -> None:
        entry = part_entry(
            PART, FILE, [self.server.url(FILE)], self.content, pin_sha=pin, pin_size=pin,
            root=PART, expected={"files": 6},
        )  # fmt: skip
        write_manifest(self.manifest, [entry])

    def sync(self, *args: str) -> Result:
        return run_cli("sync", *args, "--manifest", str(self.manifest))

    def synced_once(self) -> int:
        """Sync the part for the first time; how many requests the server has seen."""
        assert self.sync(PART).exit_code == 0
        return len(self.server.log)

    def upstream(self, content: bytes) -> None:
        self.server.put(FILE, content)

    @property
    def archive(self) -> bytes:
        return archive(self.data_dir, FILE).read_bytes()


@pytest.fixture
def mirror(
    tmp_path: Path, http_server: LocalServer, data_dir: Path, fake_clock: FakeClock
) -> Mirror:
    content = build_segmented_images(tmp_path / "source" / FILE, pairs=3).path.read_bytes()
    http_server.put(FILE, content)
    made = Mirror(http_server, content, data_dir, tmp_path)
    made.describe()
    return made


def test_sync_downloads_verifies_extracts_then_does_nothing(mirror: Mirror) -> None:
    first = mirror.sync(PART, "--json")
    assert first.exit_code == 0, first.stderr
    step = first.json()["parts"][0]
    assert step["download"] == "downloaded" and step["extract"]["extracted"] == 7
    assert (mirror.data_dir / PART / "bounding-boxes.json").exists()
    requests = len(mirror.server.log)
    # Second run: the default is every recorded part; nothing to do, not one request.
    second = mirror.sync("--json")
    assert second.exit_code == 0, second.stderr
    assert second.json()["bytes_fetched"] == 0
    assert second.json()["parts"][0]["download"] == "skipped"
    assert len(mirror.server.log) == requests


def test_check_remote_unchanged_sends_one_head_and_no_body(mirror: Mirror) -> None:
    before = mirror.synced_once()
    again = mirror.sync("--check-remote", "--json")
    assert again.exit_code == 0, again.stderr
    assert again.json()["parts"][0]["remote"] == "unchanged"
    assert [r.method for r in mirror.server.log[before:]] == ["HEAD"]


def test_check_remote_leaves_a_deliberately_deleted_archive_deleted(mirror: Mirror) -> None:
    """`extract --delete-archive` saved the space; an unchanged server must not undo it."""
    before = mirror.synced_once()
    deleted = run_cli(
        "extract", PART, "--delete-archive", "--verify", "--manifest", str(mirror.manifest)
    )
    assert deleted.exit_code == 0, deleted.stderr
    assert not archive(mirror.data_dir, FILE).exists()
    again = mirror.sync("--check-remote", "--json")
    assert again.exit_code == 0, again.stderr
    step = again.json()["parts"][0]
    assert step["remote"] == "unchanged" and step["bytes_fetched"] == 0
    assert not archive(mirror.data_dir, FILE).exists()
    assert [r.method for r in mirror.server.log[before:]] == ["HEAD"]


def test_check_remote_fetches_a_changed_file_beside_and_swaps(
    mirror: Mirror, tmp_path: Path
) -> None:
    mirror.describe(pin=False)
    mirror.synced_once()
    newer = build_segmented_images(tmp_path / "newer" / FILE, pairs=4, seed=9).path.read_bytes()
    mirror.upstream(newer)
    result = mirror.sync("--check-remote", "--json")
    assert result.exit_code == 0, result.stderr
    assert result.json()["parts"][0]["remote"] == "changed"
    assert_same_bytes(mirror.archive, newer)
    with zipfile.ZipFile(io.BytesIO(newer)) as new_zip:
        for name in new_zip.namelist():
            assert_same_bytes(mirror.data_dir / name, new_zip.read(name))


def test_a_new_version_with_fewer_files_leaves_one_version_in_the_tree(
    mirror: Mirror, tmp_path: Path
) -> None:
    """A cron job must not end with the old version's files mixed into the new one."""
    older = build_segmented_images(tmp_path / "older" / FILE, pairs=4, seed=3).path.read_bytes()
    mirror.upstream(older)
    mirror.content = older
    mirror.describe(pin=False)
    mirror.synced_once()
    # The part's folder holds the archive's files: a stray file goes with the old version.
    (mirror.data_dir / PART / "my-notes.txt").write_text("mine")
    newer = build_segmented_images(tmp_path / "newer" / FILE, pairs=2, seed=9).path.read_bytes()
    mirror.upstream(newer)
    result = mirror.sync("--check-remote", "--json")
    assert result.exit_code == 0, result.stderr
    extract = result.json()["parts"][0]["extract"]
    with zipfile.ZipFile(io.BytesIO(newer)) as new_zip:
        wanted = {n for n in new_zip.namelist() if not n.endswith("/")}
    with zipfile.ZipFile(io.BytesIO(older)) as old_zip:
        gone = {n for n in old_zip.namelist() if not n.endswith("/")} - wanted
    on_disk = {
        str(path.relative_to(mirror.data_dir))
        for path in (mirror.data_dir / PART).rglob("*")
        if path.is_file() and not path.name.startswith(".hyperkvasir")
    }
    assert on_disk == wanted
    assert extract["superseded_removed"] == len(gone) + 1  # and the notes file
    assert "of the previous version that this archive no longer has" in result.stderr


def test_upstream_change_against_a_pinned_checksum_exits_5_and_keeps_the_copy(
    mirror: Mirror,
) -> None:
    before = mirror.synced_once()
    mirror.upstream(mirror.content + b"appended upstream")
    result = mirror.sync("--check-remote")
    assert result.exit_code == 5
    assert "upstream changed" in result.stderr and "kept" in result.stderr
    assert_same_bytes(mirror.archive, mirror.content)
    assert [r.method for r in mirror.server.log[before:]] == ["HEAD"]  # no byte fetched


def test_same_size_upstream_change_with_pinned_checksum_keeps_the_verified_copy(
    mirror: Mirror,
) -> None:
    mirror.synced_once()
    tampered = bytearray(mirror.content)
    tampered[100] ^= 0xFF
    mirror.upstream(bytes(tampered))
    result = mirror.sync("--check-remote")
    assert result.exit_code == 5
    assert "upstream changed" in result.stderr
    assert_same_bytes(mirror.archive, mirror.content)


def test_sync_with_nothing_recorded_is_success() -> None:
    result = run_cli("sync", "--json")
    assert result.exit_code == 0
    assert result.json()["parts"] == []


def test_sync_output_without_a_terminal_has_no_carriage_returns(mirror: Mirror) -> None:
    result = mirror.sync(PART)
    assert result.exit_code == 0
    assert "\r" not in result.stderr
    assert all(line[:4].isdigit() and "T" in line[:20] for line in result.stderr.splitlines())


def test_an_interrupted_sync_says_so_in_its_document(
    mirror: Mirror, monkeypatch: pytest.MonkeyPatch
) -> None:
    def interrupted(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr("hyperkvasir_cli.ops.sync.sync_part", interrupted)
    result = mirror.sync(PART, "--json")
    assert result.exit_code == 130
    document = result.json()
    assert document["ok"] is False and document["error"]["exit_code"] == 130
    assert "interrupted" in result.stderr
