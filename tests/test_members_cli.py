"""`ls`, `stats --remote` and `download --class/--include/--exclude` as a user runs them,
against the local server."""

from __future__ import annotations

import hashlib
import zipfile
from pathlib import Path

import pytest

from hyperkvasir_cli.core.records import records_path
from tests.cli import run_cli
from tests.conftest import FakeClock
from tests.downloads import part_entry, write_manifest
from tests.http_server import LocalServer
from tests.remote_zips import serve_labeled
from tests.same import assert_same_bytes
from tests.zips import BuiltArchive, build_labeled_images

FILE = "hyper-kvasir-labeled-images.zip"
POLYPS = "labeled-images/lower-gi-tract/pathological-findings/polyps/"


@pytest.fixture
def labeled(tmp_path: Path, http_server: LocalServer) -> tuple[BuiltArchive, Path]:
    """The labeled zip on the server (4 images a class, 12 polyps) and a manifest naming it
    with its published counts."""
    counts = {"polyps": 12, "cecum": 4, "pylorus": 4, "z-line": 4, "bbps-2-3": 4}
    return serve_labeled(http_server, tmp_path, counts)


def _tree(data_dir: Path) -> dict[str, bytes]:
    root = data_dir / "labeled-images"
    return {
        p.relative_to(data_dir).as_posix(): p.read_bytes()
        for p in root.rglob("*")
        if p.is_file() and not p.name.startswith(".")
    }


def test_ls_remote_lists_every_member_and_again_costs_one_request(
    labeled: tuple[BuiltArchive, Path], http_server: LocalServer, data_dir: Path
) -> None:
    built, manifest = labeled
    result = run_cli("ls", "labeled-images", "--remote", "--json", "--manifest", str(manifest))
    assert result.exit_code == 0, result.stderr
    document = result.json()
    assert document["count"] == len(built.members) and document["present"] == 0
    first = document["members"][0]
    assert set(first) == {"path", "size", "compressed_size", "crc32", "present"}
    assert {m["path"] for m in document["members"]} == set(built.members)
    assert not (data_dir / "archives" / FILE).exists()
    before = len(http_server.log)
    again = run_cli("ls", "labeled-images", "-r", "-k", "polyp", "--manifest", str(manifest))
    assert again.exit_code == 0, again.stderr
    assert [r.status for r in http_server.log[before:]] == [304]
    assert len(again.stdout.splitlines()) == 12 and POLYPS in again.stdout
    assert "12 members" in again.stderr


def test_ls_without_the_archive_points_at_remote(labeled: tuple[BuiltArchive, Path]) -> None:
    _, manifest = labeled
    result = run_cli("ls", "labeled-images", "--manifest", str(manifest))
    assert result.exit_code == 2
    assert "not downloaded" in result.stderr and "ls labeled-images --remote" in result.stderr
    assert "Traceback" not in result.stderr


def test_stats_remote_gives_the_published_counts_and_the_archive_s_numbers(
    labeled: tuple[BuiltArchive, Path], data_dir: Path
) -> None:
    _, manifest = labeled
    remote = run_cli("stats", "labeled-images", "--remote", "--json", "--manifest", str(manifest))
    assert remote.exit_code == 0, remote.stderr
    counted = remote.json()
    assert counted["source"] == "remote" and counted["matches_published"] is True
    assert not (data_dir / "archives" / FILE).exists()
    assert run_cli("download", "labeled-images", "--manifest", str(manifest)).exit_code == 0
    local = run_cli(
        "stats", "labeled-images", "--from-archive", "--json", "--manifest", str(manifest)
    )
    expected = local.json()
    for key in ("files", "bytes", "classes", "organs", "categories", "metadata_files"):
        assert counted[key] == expected[key], key


def test_download_a_class_then_check_it_and_again_moves_nothing(
    labeled: tuple[BuiltArchive, Path], http_server: LocalServer, data_dir: Path
) -> None:
    built, manifest = labeled
    args = ("download", "labeled-images", "--class", "polyp", "--manifest", str(manifest))
    dry = run_cli(*args, "--dry-run", "--json")
    assert dry.exit_code == 0, dry.stderr
    assert dry.json()["to_fetch"] == 12 and dry.json()["dry_run"] is True
    assert not (data_dir / "labeled-images").exists()
    result = run_cli(*args, "--json")
    assert result.exit_code == 0, result.stderr
    document = result.json()
    assert document["fetched"] == 12
    polyps = {k: v for k, v in built.members.items() if k.startswith(POLYPS)}
    assert _tree(data_dir) == polyps
    assert all(r.if_range for r in http_server.log if r.range and not r.range.startswith("bytes=-"))
    checked = run_cli("checksum", "labeled-images", "--extracted", "--manifest", str(manifest))
    assert checked.exit_code == 0, checked.stderr
    assert "12 ok" in checked.stdout
    parts = run_cli("parts", "--json", "--manifest", str(manifest)).json()
    [state] = [p for p in parts["parts"] if p["name"] == "labeled-images"]
    assert state["extracted_selection"]["classes"] == ["polyps"]
    before = len(http_server.log)
    again = run_cli(*args)
    assert again.exit_code == 0 and "nothing to do" in again.stderr
    assert len(http_server.log) - before == 1


def test_a_later_whole_download_completes_the_tree(
    labeled: tuple[BuiltArchive, Path], data_dir: Path
) -> None:
    built, manifest = labeled
    args = ("--manifest", str(manifest))
    assert run_cli("download", "labeled-images", "-k", "polyps", *args).exit_code == 0
    whole = run_cli("download", "labeled-images", "--extract", *args)
    assert whole.exit_code == 0, whole.stderr
    assert _tree(data_dir) == built.members
    assert "extracted_selection" not in records_path(data_dir).read_text()
    checked = run_cli("checksum", "labeled-images", "--extracted", *args)
    assert checked.exit_code == 0, checked.stderr


def test_a_server_without_ranges_exits_4_with_a_hint_and_writes_no_image(
    tmp_path: Path, http_server: LocalServer, data_dir: Path
) -> None:
    built = build_labeled_images(tmp_path / "served" / FILE, 40)
    content = built.path.read_bytes()
    assert len(content) > 300_000  # larger than what a server's whole answer is read for
    http_server.put(FILE, content)
    http_server.fault(FILE).ignore_range = True
    manifest = write_manifest(
        tmp_path / "manifest.yaml",
        [part_entry("labeled-images", FILE, [http_server.url(FILE)], content)],
    )
    result = run_cli("download", "labeled-images", "-k", "polyps", "--manifest", str(manifest))
    assert result.exit_code == 4
    assert result.stderr.count("ignores byte ranges") == 1  # the error, not a log line too
    assert "hint: " in result.stderr and "hyperkvasir download labeled-images" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (data_dir / "labeled-images").exists()


def test_a_file_changed_mid_selection_exits_without_a_traceback_and_keeps_old_bytes(
    tmp_path: Path, http_server: LocalServer, data_dir: Path, fake_clock: FakeClock
) -> None:
    counts = {"polyps": 8, "cecum": 8, "z-line": 8}
    old = build_labeled_images(tmp_path / "v1" / FILE, counts, compression=zipfile.ZIP_STORED)
    new = build_labeled_images(tmp_path / "v2" / FILE, counts, seed=5)
    content = old.path.read_bytes()
    http_server.put(FILE, content)
    manifest = write_manifest(
        tmp_path / "manifest.yaml",
        [
            part_entry(
                "labeled-images", FILE, [http_server.url(FILE)], pin_size=False, pin_sha=False
            )
        ],
    )
    args = ("--manifest", str(manifest), "-n", "1")
    assert run_cli("ls", "labeled-images", "--remote", *args).exit_code == 0
    cecum = [k for k in old.members if "/cecum/" in k]
    end_of_cecum = content.index(old.members[cecum[-1]]) + 1
    http_server.fault(FILE).replace_after_bytes = (end_of_cecum, new.path.read_bytes())
    result = run_cli("download", "labeled-images", "-k", "cecum", "-k", "z-line", *args)
    assert result.exit_code in (4, 5, 6), result.stderr
    assert "Traceback" not in result.stderr and "changed" in result.stderr
    for path, data in _tree(data_dir).items():
        assert_same_bytes(data, old.members[path], path)
    again = run_cli("download", "labeled-images", "-k", "cecum", "-k", "z-line", *args)
    assert again.exit_code == 0, again.stderr
    wanted = {k: v for k, v in new.members.items() if "/cecum/" in k or "/z-line/" in k}
    assert _tree(data_dir) == wanted


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("download", "labeled-images", "segmented-images", "-k", "polyps"), "name exactly one"),
        (("download", "labeled-images", "-k", "polyps", "--extract"), "--extract does not go"),
        (("download", "labeled-images", "--to", "x"), "--to goes with a selection"),
        (("download", "labeled-images", "-k", "polpy"), "unknown class 'polpy'"),
        (("ls", "labeled-imgs", "--remote"), "unknown part"),
        (("stats", "--remote"), "name the parts"),
        (("stats", "labeled-images", "--remote", "--images"), "do not go together"),
    ],
)
def test_usage_errors_name_the_problem(
    labeled: tuple[BuiltArchive, Path],
    http_server: LocalServer,
    args: tuple[str, ...],
    message: str,
) -> None:
    _, manifest = labeled
    result = run_cli(*args, "--manifest", str(manifest))
    assert result.exit_code == 2, result.stderr
    assert message in result.stderr and "Traceback" not in result.stderr
    assert http_server.log == []


def test_the_directory_is_kept_beside_the_archives(
    labeled: tuple[BuiltArchive, Path], data_dir: Path
) -> None:
    built, manifest = labeled
    assert run_cli("ls", "labeled-images", "-r", "--manifest", str(manifest)).exit_code == 0
    kept = data_dir / "archives" / f"{FILE}.directory"
    content = built.path.read_bytes()
    assert kept.read_bytes() in content
    assert (
        hashlib.sha256(kept.read_bytes()).hexdigest()
        in kept.with_suffix(".directory.json").read_text()
    )


def test_download_to_another_folder_and_ls_says_what_is_present(
    labeled: tuple[BuiltArchive, Path], tmp_path: Path, data_dir: Path
) -> None:
    built, manifest = labeled
    args = ("--manifest", str(manifest))
    elsewhere = tmp_path / "elsewhere"
    result = run_cli(
        "download", "labeled-images", "-i", "*/cecum/*", "-t", str(elsewhere), "--json", *args
    )
    assert result.exit_code == 0, result.stderr
    assert result.json()["target"] == str(elsewhere)
    cecum = {k: v for k, v in built.members.items() if "/cecum/" in k}
    assert _tree(elsewhere) == cecum and not (data_dir / "labeled-images").exists()
    assert run_cli("download", "labeled-images", "-k", "z-line", *args).exit_code == 0
    assert run_cli("download", "labeled-images", *args).exit_code == 0  # the whole archive
    listing = run_cli("ls", "labeled-images", "-k", "z-line", "-k", "cecum", "--json", *args)
    document = listing.json()
    assert document["source"] == "archive" and document["count"] == 8
    present = {m["path"].split("/")[3] for m in document["members"] if m["present"]}
    assert present == {"z-line"}  # cecum went to the other folder
