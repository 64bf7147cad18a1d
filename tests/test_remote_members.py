"""Fetching a selection of members by range, straight into the extracted tree: exact bytes,
few requests, resumable after kill -9, and never two versions of the file in one tree."""

from __future__ import annotations

import json
import os
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from hyperkvasir_cli.archive.extract import extract_archive
from hyperkvasir_cli.archive.marker import read_marker
from hyperkvasir_cli.archive.selection import Selection
from hyperkvasir_cli.core.errors import ArchiveError, ExitCode, IntegrityError
from hyperkvasir_cli.remote.cache import current_directory
from hyperkvasir_cli.remote.directory import TAIL_BYTES
from hyperkvasir_cli.remote.members import fetch_selection
from hyperkvasir_cli.remote.ranges import RangesIgnored
from tests.child import Child
from tests.http_server import LocalServer
from tests.remote_zips import (
    cache_for,
    make_remote,
    options,
    polyp_archive,
    unlabeled_members,
    unlabeled_zip64,
    zip_of,
)
from tests.same import assert_same_bytes
from tests.zips import build_labeled_images

NAME = "hyper-kvasir-labeled-images.zip"
POLYPS = "labeled-images/lower-gi-tract/pathological-findings/polyps/"
COLITIS = "labeled-images/lower-gi-tract/pathological-findings/ulcerative-colitis-grade-1/"
PYLORUS = "labeled-images/upper-gi-tract/anatomical-landmarks/pylorus/"


@pytest.fixture
def server() -> Iterator[LocalServer]:
    served = LocalServer().start()
    yield served
    served.stop()


def _files(root: Path) -> dict[str, bytes]:
    """Every file under ``root`` (relative paths), hidden ones included."""
    found = {}
    for folder, _, names in os.walk(root):
        for name in names:
            path = Path(folder) / name
            found[path.relative_to(root).as_posix()] = path.read_bytes()
    return found


def _selected(members: dict[str, bytes], prefix: str) -> dict[str, bytes]:
    return {name: data for name, data in members.items() if name.startswith(prefix)}


def _data_files(target: Path) -> dict[str, bytes]:
    """The files of the tree: hyperkvasir's own (archives folder, hidden files) left out."""
    return {
        k: v
        for k, v in _files(target).items()
        if not k.startswith("archives/") and not k.rsplit("/", 1)[-1].startswith(".")
    }


def test_a_class_arrives_exact_in_few_requests_and_again_costs_one(
    tmp_path: Path, server: LocalServer
) -> None:
    built = build_labeled_images(tmp_path / NAME, {"polyps": 40, "pylorus": 6, "cecum": 6})
    server.put(NAME, built.path.read_bytes())
    data, target = tmp_path / "data", tmp_path / "data"
    remote = make_remote(server, NAME, connections=3)
    result = fetch_selection(remote, cache_for(data, NAME), target, options(classes=("polyp",)))
    polyps = _selected(built.members, POLYPS)
    assert _data_files(target) == polyps
    assert result.selected == result.fetched == 40
    # The directory came with the tail; 40 small images are not worth cutting for 3
    # connections (ranges are cut no smaller than 1 MiB).
    assert result.requests == 1 + 1
    selected_bytes = sum(m.compress_size for m in _index(built.path) if m.name in polyps)
    assert result.body_bytes <= 1.05 * selected_bytes + TAIL_BYTES
    assert all(r.if_range for r in server.gets(NAME)[1:])
    marker = read_marker(target / "labeled-images" / ".hyperkvasir-extract.json")
    assert marker is not None and marker.selection["classes"] == ["polyps"]
    assert marker.fetched_from == server.url(NAME) and marker.version == result.version
    before = len(server.log)
    again = fetch_selection(
        make_remote(server, NAME), cache_for(data, NAME), target, options(classes=("polyps",))
    )
    assert again.fetched == 0 and again.requests == 1 and again.directory_reused
    assert [r.status for r in server.log[before:]] == [304]


def _index(path: Path) -> list[zipfile.ZipInfo]:
    with zipfile.ZipFile(path) as archive:
        return [_Info(i.filename, i.compress_size) for i in archive.infolist()]  # type: ignore[misc]


class _Info:
    def __init__(self, name: str, compress_size: int) -> None:
        self.name, self.compress_size = name, compress_size


@pytest.mark.parametrize("compression", [zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED])
def test_stored_and_deflated_members_by_glob(
    tmp_path: Path, server: LocalServer, compression: int
) -> None:
    members = polyp_archive(polyps=12, member_size=20_000)
    members[f"{POLYPS}notes.txt"] = b"compressible " * 5_000
    server.put(NAME, zip_of(members, compression=compression))
    target = tmp_path / "data"
    result = fetch_selection(
        make_remote(server, NAME),
        cache_for(target, NAME),
        target,
        options(include=("*/polyps/*",), exclude=("*/0003.jpg",)),
    )
    wanted = {k: v for k, v in _selected(members, POLYPS).items() if not k.endswith("0003.jpg")}
    assert _data_files(target) == wanted and result.fetched == 12


def test_a_zip64_slice_selected_by_glob(tmp_path: Path, server: LocalServer) -> None:
    members = unlabeled_members()
    server.put("u.zip", unlabeled_zip64())
    target = tmp_path / "data"
    result = fetch_selection(
        make_remote(server, "u.zip", connections=4, part="unlabeled-images"),
        cache_for(target, "u.zip"),
        target,
        options("unlabeled-images", include=("*/images/0000a0*",)),
    )
    wanted = {k: v for k, v in members.items() if k.startswith("unlabeled-images/images/0000a0")}
    assert len(wanted) == 256 and _data_files(target) == wanted
    assert result.requests_planned <= 4


def test_dry_run_says_members_bytes_and_share_and_writes_nothing(
    tmp_path: Path, server: LocalServer
) -> None:
    members = polyp_archive(polyps=10, member_size=10_000, others=10)
    server.put(NAME, zip_of(members, compression=zipfile.ZIP_STORED))
    target = tmp_path / "tree"
    result = fetch_selection(
        make_remote(server, NAME),
        cache_for(tmp_path / "data", NAME),
        target,
        options(classes=("polyps",)),
        dry_run=True,
    )
    assert result.to_fetch == 10 and result.fetched == 0
    assert 100_000 <= result.fetch_bytes <= 1.05 * 100_000 + 10 * 200
    assert 0.3 < result.share < 0.4
    assert not target.exists()


def test_a_server_that_ignores_ranges_for_members_exits_4_and_writes_nothing(
    tmp_path: Path, server: LocalServer
) -> None:
    server.put(NAME, zip_of(polyp_archive(polyps=10, member_size=30_000)))
    data = tmp_path / "data"
    current_directory(make_remote(server, NAME), cache_for(data, NAME))  # kept from before
    server.fault(NAME).ignore_range = True
    with pytest.raises(RangesIgnored) as raised:
        fetch_selection(make_remote(server, NAME), cache_for(data, NAME), data, options())
    assert raised.value.exit_code == ExitCode.NETWORK and "whole-archive" in (
        raised.value.hint or ""
    )
    assert _data_files(data) == {}


def test_dropped_connections_cost_only_the_member_in_flight(
    tmp_path: Path, server: LocalServer
) -> None:
    members = polyp_archive(polyps=20, member_size=50_000)
    content = zip_of(members, compression=zipfile.ZIP_STORED)
    server.put(NAME, content)
    faults = server.fault(NAME)
    faults.drop_every, faults.drops_left = 180_000, 3
    target = tmp_path / "data"
    remote = make_remote(server, NAME, connections=1)
    result = fetch_selection(remote, cache_for(target, NAME), target, options(classes=("polyps",)))
    assert _data_files(target) == _selected(members, POLYPS)
    assert result.body_bytes <= TAIL_BYTES + 20 * 50_200 + 3 * 50_200


def test_a_damaged_member_is_exit_6_and_never_lands(tmp_path: Path, server: LocalServer) -> None:
    members = polyp_archive(polyps=6, member_size=20_000)
    content = bytearray(zip_of(members, compression=zipfile.ZIP_STORED))
    victim = members[f"{POLYPS}0004.jpg"]
    at = bytes(content).index(victim) + 1000
    content[at] ^= 0xFF
    server.put(NAME, bytes(content))
    target = tmp_path / "data"
    with pytest.raises(ArchiveError) as raised:
        fetch_selection(
            make_remote(server, NAME, connections=1),
            cache_for(target, NAME),
            target,
            options(classes=("polyps",)),
        )
    assert "CRC-32" in raised.value.message and "0004.jpg" in raised.value.message
    written = _data_files(target)
    assert f"{POLYPS}0004.jpg" not in written
    assert all(written[k] == members[k] for k in written)


def test_an_unsafe_member_refuses_the_run_before_any_member_is_fetched(
    tmp_path: Path, server: LocalServer
) -> None:
    members = polyp_archive(polyps=3, member_size=1_000)
    members["labeled-images/../../evil.jpg"] = b"evil"
    server.put(NAME, zip_of(members))
    target = tmp_path / "data"
    remote = make_remote(server, NAME)
    with pytest.raises(ArchiveError) as raised:
        fetch_selection(remote, cache_for(target, NAME), target, options())
    assert raised.value.exit_code == ExitCode.ARCHIVE and "evil" in raised.value.message
    assert remote.traffic.requests == 1  # the directory only
    assert not (target / "labeled-images").exists()


# --- the file changes on the server ----------------------------------------------------


def _two_ranges_then_swap(
    server: LocalServer, target: Path, old: dict[str, bytes], new: bytes
) -> None:
    """Serve ``old`` (its directory already kept in ``target``: the server's faults act on
    any answer past their byte); swap in ``new`` as soon as the first selected range (the
    colitis images) has gone out."""
    content = zip_of(old, compression=zipfile.ZIP_STORED)
    server.put(NAME, content)
    current_directory(make_remote(server, NAME), cache_for(target, NAME))
    last = old[f"{COLITIS}0003.jpg"]
    server.fault(NAME).replace_after_bytes = (content.index(last) + len(last), new)


def test_a_change_the_written_members_cannot_follow_is_exit_5_with_old_bytes_only(
    tmp_path: Path, server: LocalServer
) -> None:
    old = polyp_archive(polyps=30, member_size=20_000, seed=0)
    new_members = polyp_archive(polyps=30, member_size=20_000, seed=1)
    target = tmp_path / "data"
    _two_ranges_then_swap(server, target, old, zip_of(new_members, compression=zipfile.ZIP_STORED))
    wanted = options(include=(f"{COLITIS}*", f"{PYLORUS}*"))
    with pytest.raises(IntegrityError) as raised:
        fetch_selection(
            make_remote(server, NAME, connections=1), cache_for(target, NAME), target, wanted
        )
    assert raised.value.exit_code == ExitCode.INTEGRITY
    assert "changed on the server" in raised.value.message
    written = _data_files(target)
    assert written == _selected(old, COLITIS)  # the old version's exact bytes, nothing else
    # Again: the tree is brought to the new version whole.
    result = fetch_selection(make_remote(server, NAME), cache_for(target, NAME), target, wanted)
    final = _data_files(target)
    assert final == {**_selected(new_members, COLITIS), **_selected(new_members, PYLORUS)}
    assert result.fetched == 8


def test_a_change_elsewhere_in_the_file_is_followed(tmp_path: Path, server: LocalServer) -> None:
    old = polyp_archive(polyps=30, member_size=20_000, seed=0)
    new_members = dict(old)
    new_members[f"{POLYPS}0007.jpg"] = b"another image"  # outside the selection
    target = tmp_path / "data"
    _two_ranges_then_swap(server, target, old, zip_of(new_members, compression=zipfile.ZIP_STORED))
    wanted = options(include=(f"{COLITIS}*", f"{PYLORUS}*"))
    result = fetch_selection(
        make_remote(server, NAME, connections=1), cache_for(target, NAME), target, wanted
    )
    final = _data_files(target)
    assert final == {**_selected(old, COLITIS), **_selected(old, PYLORUS)}
    assert len(result.changes) == 1 and "ETag" in result.changes[0]
    marker = read_marker(target / "labeled-images" / ".hyperkvasir-extract.json")
    assert marker is not None and marker.version == result.version
    assert str(len(zip_of(new_members, compression=zipfile.ZIP_STORED))) in result.version


# --- kill -9 and a later whole archive -------------------------------------------------

_CHILD = """
import sys
from pathlib import Path
from tests.remote_zips import cache_for, options
from tests.http_server import LocalServer
from hyperkvasir_cli.remote.directory import Remote, Traffic
from hyperkvasir_cli.remote.members import fetch_selection
from hyperkvasir_cli.transfer.http_client import build_client
from hyperkvasir_cli.transfer.retry import RetryPolicy
from hyperkvasir_cli.core.clock import SystemClock
url, target = sys.argv[1], Path(sys.argv[2])
client = build_client(connect_timeout=5.0, stall_timeout=30.0, environ={})
remote = Remote(client, url, "labeled-images", SystemClock(), RetryPolicy(), Traffic(), 1)
cache = cache_for(target, url.rsplit("/", 1)[1])
fetch_selection(remote, cache, target, options(classes=("polyps",)))
"""


def test_killed_with_kill_9_then_run_again_fetches_little_twice(
    tmp_path: Path, server: LocalServer
) -> None:
    members = polyp_archive(polyps=30, member_size=40_000)
    content = zip_of(members, compression=zipfile.ZIP_STORED)
    server.put(NAME, content)
    target = tmp_path / "data"
    # The directory is kept already: the pause below would stop the tail's answer too.
    current_directory(make_remote(server, NAME), cache_for(target, NAME))
    faults = server.fault(NAME)
    faults.rate = 2_000_000  # a throttled server
    faults.pause_after = content.index(members[f"{POLYPS}0010.jpg"]) + 20_000
    with (tmp_path / "child.err").open("wb") as errors:
        child = Child(server.url(NAME), str(target), program=("-c", _CHILD), stderr=errors)
    polyp_folder = target / POLYPS
    try:
        assert faults.paused.wait(30)
        child.wait_for(
            lambda: polyp_folder.is_dir() and len(list(polyp_folder.glob("*.jpg"))) >= 10,
            "the first ten polyps on disk",
        )
        child.kill()
    finally:
        child.close()
    faults.rate = None
    faults.resume.set()
    kept = len(list(polyp_folder.glob("*.jpg")))
    assert list(polyp_folder.glob(".*.hkx-tmp"))  # the member in flight, left by the kill
    result = fetch_selection(
        make_remote(server, NAME), cache_for(target, NAME), target, options(classes=("polyps",))
    )
    assert _data_files(target) == _selected(members, POLYPS)
    assert not list(polyp_folder.glob(".*.hkx-tmp"))
    assert result.fetched == 30 - kept
    assert result.body_bytes <= (30 - kept) * 40_200 + TAIL_BYTES


def test_a_later_whole_archive_completes_the_tree(tmp_path: Path, server: LocalServer) -> None:
    built = build_labeled_images(tmp_path / NAME, 3)
    server.put(NAME, built.path.read_bytes())
    target = tmp_path / "data"
    fetch_selection(
        make_remote(server, NAME), cache_for(target, NAME), target, options(classes=("polyps",))
    )
    result = extract_archive(
        built.path, target, root="labeled-images", selection=Selection(), part_name="labeled-images"
    )
    assert result.extracted == len(built.members) - 3
    assert _data_files(target / "labeled-images") == {
        k.removeprefix("labeled-images/"): v for k, v in built.members.items()
    }
    marker = json.loads((target / "labeled-images" / ".hyperkvasir-extract.json").read_text())
    assert marker["selection"] == {"include": [], "exclude": [], "classes": []}
    assert marker["version"] is None


# --- members read as streams (stats --remote) ------------------------------------------


def test_a_member_read_as_a_stream_costs_its_start_unless_read_to_the_end(
    tmp_path: Path, server: LocalServer
) -> None:
    from hyperkvasir_cli.remote.reader import FIRST_BYTES, MemberOpener

    members = polyp_archive(polyps=3, member_size=300_000)
    server.put(NAME, zip_of(members, compression=zipfile.ZIP_STORED))
    remote = make_remote(server, NAME)
    directory, _ = current_directory(remote, cache_for(tmp_path, NAME))
    opener = MemberOpener(remote, directory)
    wanted = f"{POLYPS}0001.jpg"
    before = len(server.log)
    with opener.open(wanted) as stream:
        assert stream.read(16) == members[wanted][:16]
    [header_only] = server.log[before:]
    assert header_only.body_bytes <= FIRST_BYTES
    with opener.open(wanted) as stream:
        assert_same_bytes(stream.read(), members[wanted])  # CRC-checked at the end
    assert len(server.log[before:]) == 3  # the whole member: its start, then the rest


def test_stats_remote_of_the_segmented_and_video_parts_match_the_archives(
    tmp_path: Path, server: LocalServer
) -> None:
    from hyperkvasir_cli.core.manifest import load_manifest
    from hyperkvasir_cli.dataset.sources import DataSource
    from hyperkvasir_cli.dataset.stats.compute import compute_stats
    from tests.zips import build_labeled_videos, build_segmented_images

    manifest = load_manifest()
    for part_name, built in (
        ("segmented-images", build_segmented_images(tmp_path / "s.zip", pairs=3)),
        ("labeled-videos", build_labeled_videos(tmp_path / "v.zip")),
    ):
        part = manifest.part(part_name)
        server.put(built.path.name, built.path.read_bytes())
        remote = make_remote(server, built.path.name, part=part_name)
        directory, _ = current_directory(remote, cache_for(tmp_path, built.path.name))
        root = part.root or part.name
        remote_source = DataSource("remote", tmp_path, root, (remote, directory))
        local_source = DataSource("archive", built.path, root)
        remote_stats = compute_stats(part, remote_source).as_json()
        local_stats = compute_stats(part, local_source).as_json()
        for document in (remote_stats, local_stats):
            document.pop("source"), document.pop("path")
        assert remote_stats == local_stats, part_name
