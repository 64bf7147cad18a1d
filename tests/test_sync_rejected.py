"""A cron job against a server whose file fails verification: the failing version is
remembered by its validators and not fetched again until it changes, at most one bad copy
is kept per file, and one failing part does not stop the others."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from tests.cli import Result, run_cli
from tests.conftest import FakeClock
from tests.downloads import archive, leftovers, part_entry, records_of, write_manifest
from tests.http_server import LocalServer
from tests.same import assert_same_bytes
from tests.zips import build_segmented_images

PART = "segmented-images"
FILE = "hyper-kvasir-segmented-images.zip"
SPLITS = "official-splits"
SPLITS_FILE = "2_fold_split.csv"
SPLITS_CONTENT = b"file-name;class-name;split-index\n"


@pytest.fixture
def content(tmp_path: Path, http_server: LocalServer) -> bytes:
    """The segmented images' zip, served as FILE."""
    built = build_segmented_images(tmp_path / "src" / FILE, pairs=2).path.read_bytes()
    http_server.put(FILE, built)
    return built


def manifest(tmp_path: Path, server: LocalServer, content: bytes, **pins: object) -> Path:
    entry = part_entry(PART, FILE, [server.url(FILE)], content, root=PART)
    entry.update(pins)
    splits = part_entry(SPLITS, SPLITS_FILE, [server.url(SPLITS_FILE)], SPLITS_CONTENT, kind="csv")
    return write_manifest(tmp_path / "m.yaml", [entry, splits])


def sync(path: Path, *args: str) -> Result:
    return run_cli("sync", *args, "--manifest", str(path))


def gets(server: LocalServer, since: int) -> list[str]:
    return [r.method for r in server.log[since:] if r.method == "GET"]


def bad_copies(data_dir: Path) -> list[str]:
    return [name for name in leftovers(data_dir) if ".bad-" in name]


def tampered(content: bytes, seed: int) -> bytes:
    changed = bytearray(content)
    changed[100 + seed] ^= 0xFF
    return bytes(changed)


def test_a_changed_remote_that_fails_verification_is_fetched_once_per_version(
    tmp_path: Path,
    http_server: LocalServer,
    fake_clock: FakeClock,
    data_dir: Path,
    content: bytes,
) -> None:
    pinned = manifest(tmp_path, http_server, content)
    assert sync(pinned, PART).exit_code == 0
    # Night 1: upstream replaced by a file of the same size that is not the manifest's.
    http_server.put(FILE, tampered(content, 0))
    before = len(http_server.log)
    first = sync(pinned, "--check-remote")
    assert first.exit_code == 5, first.stderr
    assert gets(http_server, before) != [] and len(bad_copies(data_dir)) == 1
    assert_same_bytes(archive(data_dir, FILE), content)  # the verified copy stays
    (rejected,) = records_of(data_dir)[PART].rejected.values()
    assert rejected.sha256 == hashlib.sha256(tampered(content, 0)).hexdigest()
    # Nights 2 and 3: the same version is not fetched again, and no copy is added.
    for _night in range(2):
        before = len(http_server.log)
        again = sync(pinned, "--check-remote", "--json")
        assert again.exit_code == 5, again.stderr
        assert gets(http_server, before) == []  # one HEAD, no byte of the archive
        assert "not fetched again until the server's copy changes" in again.stderr
        assert again.json()["parts"][0]["remote"] == "changed, rejected earlier"
        assert len(bad_copies(data_dir)) == 1
    # Another bad version is fetched (it may have been the fix), and replaces the copy.
    http_server.put(FILE, tampered(content, 1))
    before = len(http_server.log)
    assert sync(pinned, "--check-remote").exit_code == 5
    assert gets(http_server, before) != [] and len(bad_copies(data_dir)) == 1


def test_a_manifest_with_a_wrong_sha256_fetches_the_file_once(
    tmp_path: Path,
    http_server: LocalServer,
    fake_clock: FakeClock,
    data_dir: Path,
    content: bytes,
) -> None:
    wrong = manifest(tmp_path, http_server, content, sha256="0" * 64)
    assert sync(wrong, PART).exit_code == 5
    before = len(http_server.log)
    again = sync(wrong, PART)
    assert again.exit_code == 5, again.stderr
    assert gets(http_server, before) == []
    assert "--force" in again.stderr.splitlines()[-1]
    assert len(bad_copies(data_dir)) == 1
    # A manifest that expects what the server has takes it; --force tries it anyway.
    forced = run_cli("download", PART, "--force", "--manifest", str(wrong))
    assert forced.exit_code == 5 and gets(http_server, before) != []
    assert len(bad_copies(data_dir)) == 1
    fixed = manifest(tmp_path, http_server, content)
    assert sync(fixed, PART).exit_code == 0
    assert_same_bytes(archive(data_dir, FILE), content)
    assert records_of(data_dir)[PART].rejected == {}


def test_a_failing_part_does_not_stop_the_others_and_the_most_severe_code_wins(
    tmp_path: Path,
    http_server: LocalServer,
    fake_clock: FakeClock,
    data_dir: Path,
    content: bytes,
) -> None:
    http_server.put(SPLITS_FILE, SPLITS_CONTENT)
    wrong = manifest(tmp_path, http_server, content, sha256="0" * 64)
    result = sync(wrong, PART, SPLITS, "--json")
    assert result.exit_code == 5, result.stderr
    document = result.json()
    steps = {step["part"]: step for step in document["parts"]}
    assert steps[PART]["error"]["exit_code"] == 5
    assert steps[SPLITS]["error"] is None and steps[SPLITS]["download"] == "downloaded"
    assert_same_bytes(archive(data_dir, SPLITS_FILE), SPLITS_CONTENT)
    assert document["error"]["exit_code"] == 5
    assert "going on with the other parts" in result.stderr
    # An unreachable part (exit 4) and a bad one (exit 5), in either order: exit 5.
    dead = write_manifest(
        tmp_path / "m2.yaml",
        [
            part_entry(SPLITS, SPLITS_FILE, ["http://127.0.0.1:9/x.csv"], b"x", kind="csv"),
            part_entry(PART, FILE, [http_server.url(FILE)], content, root=PART, sha256="0" * 64),
        ],
    )
    for order in ([SPLITS, PART], [PART, SPLITS]):
        fresh = tmp_path / "fresh" / order[0]
        both = run_cli("sync", *order, "--manifest", str(dead), "--data-dir", str(fresh))
        assert both.exit_code == 5, both.stderr
