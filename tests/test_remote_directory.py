"""A remote zip's directory read by range: round trips, bytes, ZIP64, servers without
suffix ranges or ranges at all, files that change, and the kept copy."""

from __future__ import annotations

import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from hyperkvasir_cli.archive.index import ZipMember, read_members
from hyperkvasir_cli.core.errors import ArchiveError, ExitCode, NetworkError
from hyperkvasir_cli.remote.cache import current_directory
from hyperkvasir_cli.remote.directory import TAIL_BYTES, read_remote_directory
from hyperkvasir_cli.remote.ranges import RangesIgnored
from tests.http_server import LocalServer
from tests.remote_zips import (
    UNLABELED_IMAGES,
    cache_for,
    labeled_shape_zip,
    make_remote,
    unlabeled_members,
    unlabeled_zip64,
    zip_of,
)
from tests.same import assert_same_items
from tests.zips import build_labeled_images

ZIP64_NAME = "hyper-kvasir-unlabeled-images.zip"
LABELED = "hyper-kvasir-labeled-images.zip"


@pytest.fixture(scope="module")
def zip64_archive(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A ZIP64 archive with as many members as the unlabeled zip (its end records are the
    ZIP64 ones because of the member count), built once for this module."""
    path = tmp_path_factory.mktemp("zip64") / ZIP64_NAME
    path.write_bytes(unlabeled_zip64())
    return path


@pytest.fixture
def server() -> Iterator[LocalServer]:
    served = LocalServer().start()
    yield served
    served.stop()


def _labeled(tmp_path: Path, per_class: int = 3, **kwargs: object) -> Path:
    return build_labeled_images(tmp_path / LABELED, per_class, **kwargs).path  # type: ignore[arg-type]


def _same(remote: list[ZipMember], local: list[ZipMember]) -> None:
    assert_same_items(remote, local, "the members")


def test_a_small_directory_comes_with_the_end_records_in_one_request(
    tmp_path: Path, server: LocalServer
) -> None:
    path = _labeled(tmp_path)
    server.put(LABELED, path.read_bytes())
    remote = make_remote(server, LABELED)
    directory = read_remote_directory(remote, LABELED)
    _same(directory.members, read_members(path).members)
    [request] = server.gets(LABELED)
    assert request.range == f"bytes=-{TAIL_BYTES}" and request.status == 206
    assert directory.pin.size == path.stat().st_size  # from Content-Range: no HEAD


def test_a_zip64_directory_of_99417_members_costs_two_round_trips(
    zip64_archive: Path, server: LocalServer
) -> None:
    server.put(ZIP64_NAME, zip64_archive.read_bytes())
    remote = make_remote(server, ZIP64_NAME, connections=4)
    directory = read_remote_directory(remote, ZIP64_NAME)
    local = read_members(zip64_archive)
    assert len(directory.members) == UNLABELED_IMAGES
    _same(directory.members, local.members)
    first, *directory_requests = server.gets(ZIP64_NAME)
    assert first.range == f"bytes=-{TAIL_BYTES}" and first.if_range is None
    # The second round trip: the directory over the 4 connections at once, each pinned.
    assert len(directory_requests) == 4
    assert all(r.status == 206 and r.if_range for r in directory_requests)
    moved = server.body_bytes(ZIP64_NAME)
    assert moved <= directory.location.size + TAIL_BYTES
    assert moved == remote.traffic.body_bytes


def test_the_labeled_zip_s_directory_takes_at_most_four_requests(server: LocalServer) -> None:
    content = labeled_shape_zip()
    server.put(LABELED, content)
    directory = read_remote_directory(make_remote(server, LABELED, connections=4), LABELED)
    assert len(directory.members) == 10_664
    assert 1_000_000 < directory.location.size < 2_000_000  # as the real one's
    requests = server.gets(LABELED)
    assert len(requests) <= 4  # the tail, then a few pieces of at least 512 KiB at once
    assert server.body_bytes(LABELED) <= directory.location.size + TAIL_BYTES


def test_a_server_without_suffix_ranges_costs_three_round_trips(
    zip64_archive: Path, server: LocalServer
) -> None:
    server.put(ZIP64_NAME, zip64_archive.read_bytes())
    server.fault(ZIP64_NAME).no_suffix_ranges = True
    remote = make_remote(server, ZIP64_NAME, connections=1)
    directory = read_remote_directory(remote, ZIP64_NAME)
    assert len(directory.members) == UNLABELED_IMAGES
    statuses = [r.status for r in server.gets(ZIP64_NAME)]
    assert statuses == [200, 206, 206]  # the size from the 200 (closed at once), tail, directory


def test_a_server_that_ignores_ranges_exits_4_with_a_hint(
    zip64_archive: Path, server: LocalServer
) -> None:
    server.put(ZIP64_NAME, zip64_archive.read_bytes())
    server.fault(ZIP64_NAME).ignore_range = True
    remote = make_remote(server, ZIP64_NAME, part="unlabeled-images")
    with pytest.raises(RangesIgnored) as raised:
        read_remote_directory(remote, ZIP64_NAME)
    assert raised.value.exit_code == ExitCode.NETWORK
    assert "hyperkvasir download unlabeled-images" in (raised.value.hint or "")
    assert len(server.gets(ZIP64_NAME)) == 2


def test_a_file_replaced_between_tail_and_directory_is_read_again_whole(
    zip64_archive: Path, tmp_path: Path, server: LocalServer
) -> None:
    old = zip64_archive.read_bytes()
    new = zip_of(unlabeled_members(2_000), compression=zipfile.ZIP_STORED)
    server.put(ZIP64_NAME, old)
    # Swapped on the server right after the tail of the old version has gone out.
    server.fault(ZIP64_NAME).replace_after_bytes = (len(old) - 1, new)
    changes: list[str] = []
    directory = read_remote_directory(
        make_remote(server, ZIP64_NAME), ZIP64_NAME, on_change=changes.append
    )
    assert len(directory.members) == 2_000
    assert directory.pin.size == len(new)
    assert len(changes) == 1 and "changed" in changes[0]


def test_not_a_zip_is_exit_6(server: LocalServer) -> None:
    server.put("page.zip", b"<html>" + b"x" * 100_000 + b"</html>")
    with pytest.raises(ArchiveError) as raised:
        read_remote_directory(make_remote(server, "page.zip"), "page.zip")
    assert "no end-of-central-directory record" in raised.value.message


def test_a_missing_file_is_exit_4(server: LocalServer) -> None:
    with pytest.raises(NetworkError) as raised:
        read_remote_directory(make_remote(server, "gone.zip"), "gone.zip")
    assert "404" in raised.value.message


def test_passing_failures_are_retried(tmp_path: Path, server: LocalServer) -> None:
    path = _labeled(tmp_path)
    server.put(LABELED, path.read_bytes())
    server.fault(LABELED).statuses = [(503, {"Retry-After": "2"}), (500, {})]
    remote = make_remote(server, LABELED)
    directory = read_remote_directory(remote, LABELED)
    _same(directory.members, read_members(path).members)
    assert remote.clock.sleeps[0] == 2.0  # type: ignore[attr-defined]


# --- the kept copy ---------------------------------------------------------------------


def test_listing_again_costs_one_conditional_request(
    zip64_archive: Path, tmp_path: Path, server: LocalServer
) -> None:
    server.put(ZIP64_NAME, zip64_archive.read_bytes())
    cache = cache_for(tmp_path / "data", ZIP64_NAME)
    first, reused = current_directory(make_remote(server, ZIP64_NAME), cache)
    assert not reused and cache.data_path.stat().st_size == first.location.size
    before = len(server.log)
    again, reused = current_directory(make_remote(server, ZIP64_NAME), cache)
    assert reused
    assert_same_items(again.members, first.members, "the members")
    [request] = server.log[before:]
    assert request.status == 304 and request.body_bytes == 0


def test_a_server_without_conditionals_still_costs_only_the_tail(
    tmp_path: Path, server: LocalServer
) -> None:
    path = _labeled(tmp_path, per_class=30)
    server.put(LABELED, path.read_bytes())
    server.fault(LABELED).no_conditionals = True
    cache = cache_for(tmp_path / "data", LABELED)
    current_directory(make_remote(server, LABELED), cache)
    before = len(server.log)
    _, reused = current_directory(make_remote(server, LABELED), cache)
    assert reused
    [request] = server.log[before:]
    assert request.status == 206 and request.body_bytes <= TAIL_BYTES


def test_a_changed_file_replaces_the_kept_directory(tmp_path: Path, server: LocalServer) -> None:
    server.put(LABELED, _labeled(tmp_path, per_class=2).read_bytes())
    cache = cache_for(tmp_path / "data", LABELED)
    old, _ = current_directory(make_remote(server, LABELED), cache)
    bigger = build_labeled_images(tmp_path / "v2" / LABELED, 3, seed=7).path
    server.put(LABELED, bigger.read_bytes())
    changes: list[str] = []
    new, reused = current_directory(make_remote(server, LABELED), cache, changes.append)
    assert not reused and len(new.members) > len(old.members)
    assert changes and "changed on the server" in changes[0]
    loaded = cache.load()
    assert loaded is not None and loaded.members == read_members(bigger).members


def test_a_damaged_kept_copy_is_no_copy(tmp_path: Path, server: LocalServer) -> None:
    path = _labeled(tmp_path)
    server.put(LABELED, path.read_bytes())
    cache = cache_for(tmp_path / "data", LABELED)
    current_directory(make_remote(server, LABELED), cache)
    cache.data_path.write_bytes(b"damaged")
    assert cache.load() is None
    directory, reused = current_directory(make_remote(server, LABELED), cache)
    assert not reused and directory.members == read_members(path).members
