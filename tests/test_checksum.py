"""`hyperkvasir checksum`: archives against the manifest or the record, zip members
against their CRC-32, extracted trees against the central directory."""

from __future__ import annotations

import hashlib
import shutil
import zipfile
from pathlib import Path

import pytest
import yaml

from hyperkvasir_cli.archive.marker import ExtractMarker, marker_path, write_marker
from hyperkvasir_cli.archive.selection import Selection
from hyperkvasir_cli.check.integrity import (
    ArchiveExpectation,
    CheckItem,
    CheckReport,
    ItemKind,
    ItemResult,
    archive_expectation,
    failure_error,
    judge_archive,
)
from hyperkvasir_cli.check.parts import tree_decision
from hyperkvasir_cli.check.tree import plan_tree
from hyperkvasir_cli.core.config import PartRecord
from hyperkvasir_cli.core.hashing import FileDigest
from hyperkvasir_cli.core.lock import data_lock
from hyperkvasir_cli.core.manifest import Part
from hyperkvasir_cli.core.progress import SilentProgress
from hyperkvasir_cli.core.records import records_path
from hyperkvasir_cli.core.worker_threads import SharedProgress
from tests.checksum_homes import (
    LABELED_ZIP,
    Home,
    flip_byte,
    make_full_home,
    make_home,
    make_two_part_home,
    member_data_offset,
    set_first_compression_method,
    write_manifest,
)
from tests.cli import run_cli
from tests.downloads import record_store, records_of
from tests.hostile_zips import RawMember, raw_zip
from tests.zips import BuiltArchive, build_labeled_images, build_segmented_images, write_zip


@pytest.fixture
def home(tmp_path: Path, data_dir: Path) -> Home:
    return make_home(data_dir, tmp_path / "manifest.yaml")


@pytest.fixture
def stored_home(tmp_path: Path, data_dir: Path) -> Home:
    """Members stored uncompressed: a flipped byte decodes fine and only the CRC tells."""
    return make_home(data_dir, tmp_path / "manifest.yaml", zipfile.ZIP_STORED)


# -- archives ----------------------------------------------------------------------------


def test_downloaded_archive_is_ok_and_the_verification_is_recorded(
    home: Home, data_dir: Path
) -> None:
    result = home.checksum()
    assert result.exit_code == 0, result.stderr
    assert (
        f"labeled-images archives/{LABELED_ZIP}: OK (sha256 matches the manifest)" in result.stdout
    )
    assert "summary: checked 1 archive: 1 ok" in result.stdout
    record = records_of(data_dir)["labeled-images"]
    assert record.verified_at is not None
    assert record.sha256 == hashlib.sha256(home.archive.read_bytes()).hexdigest()
    assert record.sha256_source == "manifest"


def test_one_flipped_byte_exits_5_with_expected_and_found_sha256(
    home: Home, data_dir: Path
) -> None:
    expected = hashlib.sha256(home.archive.read_bytes()).hexdigest()
    flip_byte(home.archive, home.archive.stat().st_size // 2)
    found = hashlib.sha256(home.archive.read_bytes()).hexdigest()
    result = home.checksum()
    assert result.exit_code == 5
    line = next(line for line in result.stdout.splitlines() if LABELED_ZIP in line)
    assert "FAILED" in line and f"expected {expected}, found {found}" in line
    assert "the manifest" in line
    assert result.stderr.splitlines()[-2].startswith("error: 1 of 1 checked items")
    assert "hyperkvasir download labeled-images --force" in result.stderr
    assert not records_path(data_dir).exists()  # a failed check records nothing


def test_truncated_archive_reports_both_sizes(home: Home) -> None:
    size = home.archive.stat().st_size
    with home.archive.open("r+b") as handle:
        handle.truncate(size - 100)
    result = home.checksum("labeled-images")
    assert result.exit_code == 5
    assert (
        f"size differs from the manifest: expected {size} B, found {size - 100} B" in result.stdout
    )


def test_recorded_sha256_is_used_when_the_manifest_has_none(tmp_path: Path, data_dir: Path) -> None:
    built = build_labeled_images(data_dir / "archives" / LABELED_ZIP)
    manifest = write_manifest(tmp_path / "m.yaml", built.path, size=False, sha256=False)
    digest = hashlib.sha256(built.path.read_bytes()).hexdigest()
    record_store(data_dir).update_part(
        "labeled-images", size=built.path.stat().st_size, sha256=digest, sha256_source="recorded"
    )
    home = Home(data_dir, manifest, built)
    result = home.checksum()
    assert result.exit_code == 0, result.stderr
    assert "OK (sha256 matches the value recorded at first download" in result.stdout
    assert "has not changed since it was fetched" in result.stdout
    assert records_of(data_dir)["labeled-images"].verified_at is not None

    flip_byte(built.path, 10)
    failed = home.checksum("--json")
    assert failed.exit_code == 5
    (item,) = failed.json()["items"]
    assert (item["result"], item["source"]) == ("failed", "recorded")
    assert item["expected"]["sha256"] == digest != item["found"]["sha256"]


def test_without_any_published_or_recorded_value_the_hash_is_shown_not_failed(
    tmp_path: Path, data_dir: Path
) -> None:
    built = build_labeled_images(data_dir / "archives" / LABELED_ZIP)
    home = Home(data_dir, write_manifest(tmp_path / "m.yaml", built.path, sha256=False), built)
    result = home.checksum()
    assert result.exit_code == 0
    assert "NOT VERIFIED" in result.stdout and "no sha256 to compare with" in result.stdout
    assert hashlib.sha256(built.path.read_bytes()).hexdigest() in result.stdout
    assert not records_path(data_dir).exists()


def test_nothing_downloaded_is_nothing_to_check(tmp_path: Path, data_dir: Path) -> None:
    built = build_labeled_images(tmp_path / "elsewhere" / LABELED_ZIP)
    manifest = write_manifest(tmp_path / "m.yaml", built.path)
    result = run_cli("checksum", "--manifest", str(manifest))
    assert result.exit_code == 0
    assert "nothing to check" in result.stderr
    document = run_cli("checksum", "--json", "--manifest", str(manifest)).json()
    assert document["ok"] is True and document["items"] == []


def test_unknown_part_exits_2_and_an_absent_named_part_says_how_to_get_it(
    home: Home,
) -> None:
    unknown = home.checksum("labelled-images")
    assert unknown.exit_code == 2
    assert "labeled-images" in unknown.stderr
    home.archive.rename(home.archive.with_name(LABELED_ZIP + ".part"))
    absent = home.checksum("labeled-images")
    assert absent.exit_code == 2
    assert "not downloaded" in absent.stderr
    assert "hyperkvasir resume labeled-images" in absent.stderr


def test_a_held_lock_only_costs_the_record(home: Home, data_dir: Path) -> None:
    with data_lock(home.data / ".hyperkvasir.lock"):
        result = home.checksum()
    assert result.exit_code == 0
    assert "not recorded" in result.stderr
    assert not records_path(data_dir).exists()


def test_json_lists_every_item_with_stable_keys(home: Home) -> None:
    document = home.checksum("--json", "--deep", "--verbose").json()
    assert set(document) == {
        "ok",
        "algorithm",
        "items_listed",
        "items",
        "notes",
        "parts",
        "summary",
    }
    assert document["ok"] is True
    archive, *members = document["items"]
    assert archive == {
        "part": "labeled-images",
        "kind": "archive",
        "path": f"archives/{LABELED_ZIP}",
        "result": "ok",
        "reason": "sha256 matches the manifest",
        "expected": {
            "size": home.archive.stat().st_size,
            "sha256": hashlib.sha256(home.archive.read_bytes()).hexdigest(),
        },
        "found": archive["found"],
        "source": "manifest",
    }
    assert archive["found"]["sha256"] == archive["expected"]["sha256"]
    assert {m["path"] for m in members} == set(home.built.members)
    assert {m["source"] for m in members} == {"central-directory"}
    summary = document["summary"]
    assert summary["checked"] == 1 + len(home.built.members)
    assert summary["results"]["ok"] == summary["checked"]
    assert summary["kinds"] == {
        "archive": 1,
        "member": len(home.built.members),
        "extracted": 0,
        "listed": 0,
    }


def test_algorithm_adds_that_digest(home: Home) -> None:
    document = home.checksum("--algorithm", "md5", "--json").json()
    found = document["items"][0]["found"]
    content = home.archive.read_bytes()
    assert found["md5"] == hashlib.md5(content).hexdigest()
    assert found["sha256"] == hashlib.sha256(content).hexdigest()
    assert document["items"][0]["result"] == "ok"


def test_several_archives_are_all_checked(home: Home, tmp_path: Path) -> None:
    segmented = build_segmented_images(home.data / "archives" / "hyper-kvasir-segmented-images.zip")
    parts = yaml.safe_load(home.manifest.read_text())["parts"]
    parts.append(
        {
            "name": "segmented-images",
            "file": segmented.path.name,
            "urls": ["https://example.org/s.zip"],
            "sha256": hashlib.sha256(b"something else").hexdigest(),
        }
    )
    home.manifest.write_text(yaml.safe_dump({"parts": parts}))
    result = home.checksum("--jobs", "2")
    assert result.exit_code == 5
    lines = result.stdout.splitlines()
    assert lines[0].startswith(f"labeled-images archives/{LABELED_ZIP}: OK")
    assert lines[1].startswith(f"segmented-images archives/{segmented.path.name}: FAILED")


# -- zip members -------------------------------------------------------------------------


def test_deep_names_the_member_whose_crc_does_not_match_and_exits_6(stored_home: Home) -> None:
    member = stored_home.image(3)
    flip_byte(stored_home.archive, member_data_offset(stored_home.archive, member) + 5)
    result = stored_home.checksum("--deep")
    assert result.exit_code == 6  # a bad CRC is a corrupt archive (SPEC), the higher code
    bad = [line for line in result.stdout.splitlines() if "FAILED" in line]
    assert len(bad) == 2  # the archive's sha256, and that one member
    assert bad[1].startswith(f"labeled-images member {member}: FAILED (changed: the CRC-32")
    assert member in result.stderr
    assert "fetch it again with `hyperkvasir download labeled-images --force`" in result.stderr


def test_deep_names_a_corrupted_deflated_member(home: Home) -> None:
    member = home.image(7)
    flip_byte(home.archive, member_data_offset(home.archive, member) + 3)
    result = home.checksum("--deep", "--json")
    assert result.exit_code == 6
    bad = [item for item in result.json()["items"] if item["kind"] == "member"]
    assert [item["path"] for item in bad if item["result"] != "ok"] == [member]


def test_deep_reports_every_bad_member_not_just_the_first(stored_home: Home) -> None:
    members = [stored_home.image(1), stored_home.image(20)]
    for member in members:
        flip_byte(stored_home.archive, member_data_offset(stored_home.archive, member) + 5)
    items = stored_home.checksum("--deep", "--json", "-J", "2").json()["items"]
    changed = sorted(i["path"] for i in items if i["result"] == "changed")
    assert changed == sorted(members)


def test_deep_on_a_truncated_zip_exits_6_saying_what_is_wrong(home: Home) -> None:
    with home.archive.open("r+b") as handle:
        handle.truncate(home.archive.stat().st_size // 2)
    result = home.checksum("--deep")
    assert result.exit_code == 6
    assert "no valid zip central directory" in result.stdout
    assert "truncated or is not a zip" in result.stdout
    assert result.stderr.startswith("error:") or "\nerror:" in result.stderr
    assert "Traceback" not in result.stderr


def test_deep_on_an_unsupported_compression_method_exits_6_naming_the_member(
    tmp_path: Path, data_dir: Path
) -> None:
    built = build_labeled_images(data_dir / "archives" / LABELED_ZIP)
    member = set_first_compression_method(built.path, 95)
    home = Home(data_dir, write_manifest(tmp_path / "m.yaml", built.path), built)
    result = home.checksum("--deep")
    assert result.exit_code == 6
    method = "uses compression method xz (95), which hyperkvasir cannot read"
    assert f"member {member}: FAILED (unsupported: the member {method}" in result.stdout


# -- extracted trees ---------------------------------------------------------------------


def test_an_intact_extracted_tree_is_ok(home: Home) -> None:
    home.extract()
    result = home.checksum("--extracted", "--verbose")
    assert result.exit_code == 0, result.stdout
    files = [line for line in result.stdout.splitlines() if " file " in line]
    assert len(files) == len(home.built.members)
    assert all(line.endswith(": OK") for line in files)


def test_a_corrupted_image_is_named_as_changed(home: Home) -> None:
    home.extract()
    image = home.image(5)
    flip_byte(home.data / image, 200)
    result = home.checksum("--extracted", "--json")
    assert result.exit_code == 5
    (bad,) = [item for item in result.json()["items"] if item["result"] != "ok"]
    assert (bad["path"], bad["result"], bad["kind"]) == (image, "changed", "extracted")
    assert bad["expected"]["crc32"] != bad["found"]["crc32"]
    assert bad["expected"]["size"] == bad["found"]["size"]
    assert image in result.stderr
    assert "hyperkvasir extract labeled-images" in result.stderr


def test_a_deleted_image_is_named_as_missing_and_an_extra_one_as_unexpected(
    home: Home,
) -> None:
    home.extract()
    gone = home.image(0)
    (home.data / gone).unlink()
    extra = Path(home.image(1)).with_name("not-from-the-archive.jpg").as_posix()
    (home.data / extra).write_bytes(b"x")
    (home.data / "labeled-images" / ".hyperkvasir-extract.json").write_text("{}")
    (home.data / (home.image(2) + ".hkx-tmp")).write_bytes(b"partial")
    (home.data / "labeled-images" / ".DS_Store").write_bytes(b"Finder was here")
    result = home.checksum("--extracted")
    assert result.exit_code == 5
    assert f"file {gone}: FAILED (missing" in result.stdout
    assert f"file {extra}: FAILED (unexpected" in result.stdout
    assert sum("FAILED" in line for line in result.stdout.splitlines()) == 2
    assert "ignored 1 leftover temporary file" in result.stderr


def test_quick_compares_sizes_only(home: Home) -> None:
    home.extract()
    flip_byte(home.data / home.image(0), 100)  # same size: quick cannot see it
    assert home.checksum("--extracted", "--quick").exit_code == 0
    with (home.data / home.image(1)).open("ab") as handle:
        handle.write(b"more")
    result = home.checksum("--extracted", "--quick")
    assert result.exit_code == 5
    assert f"file {home.image(1)}: FAILED (changed: size expected" in result.stdout


def test_a_selective_extraction_expects_only_what_it_selected(home: Home) -> None:
    home.extract()
    polyps = [m for m in home.built.members if "/polyps/" in m]
    others = [m for m in home.built.data_files if m not in polyps]
    for member in others[1:]:
        (home.data / member).unlink()  # one unselected image stays: not "unexpected"
    selection = Selection.build(classes=["polyp"])  # the split files' spelling
    marker = ExtractMarker.completed(LABELED_ZIP, None, len(polyps), 0, selection)
    write_marker(marker_path(home.data, "labeled-images", "labeled-images"), marker)
    result = home.checksum("--extracted", "--json", "--verbose")
    assert result.exit_code == 0, result.stdout
    checked = [i["path"] for i in result.json()["items"] if i["kind"] == "extracted"]
    assert sorted(checked) == sorted(polyps)
    assert any("extracted with a selection" in note for note in result.json()["notes"])


def test_to_checks_a_tree_extracted_elsewhere(home: Home, tmp_path: Path) -> None:
    elsewhere = home.extract(tmp_path / "elsewhere")
    (elsewhere / home.image(4)).unlink()
    result = home.checksum("--extracted", "--to", str(elsewhere))
    assert result.exit_code == 5
    assert f"file {elsewhere.as_posix()}/{home.image(4)}: FAILED (missing" in result.stdout


def test_the_recorded_extraction_target_is_used(home: Home, tmp_path: Path, data_dir: Path) -> None:
    target = home.extract(tmp_path / "recorded")
    record_store(data_dir).update_part("labeled-images", extracted_to=str(target))
    assert home.checksum("--extracted").exit_code == 0
    (target / home.image(0)).write_bytes(b"short")
    result = home.checksum("--extracted")
    assert result.exit_code == 5
    assert home.image(0) in result.stdout


def test_a_recorded_tree_that_vanished_is_missing_and_an_unextracted_part_is_skipped(
    home: Home, tmp_path: Path, data_dir: Path
) -> None:
    skipped = home.checksum("--extracted")
    assert skipped.exit_code == 0
    assert "not extracted" in skipped.stderr
    record_store(data_dir).update_part("labeled-images", extracted_to=str(tmp_path / "gone"))
    result = home.checksum("--extracted")
    assert result.exit_code == 5
    assert "FAILED (missing: the extracted folder does not exist)" in result.stdout


# -- options -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "args",
    [
        ("--quick", "--deep"),
        ("--to", "/tmp"),
        ("--format", "sha256sum", "--json"),
        ("--format", "md5sum", "--algorithm", "sha1"),
        ("--check", "SUMS", "--deep"),
    ],
)
def test_conflicting_options_exit_2(home: Home, args: tuple[str, ...]) -> None:
    result = home.checksum(*args)
    assert result.exit_code == 2
    assert result.stderr.startswith("error: ")
    assert "Traceback" not in result.stderr


def test_help_documents_every_option() -> None:
    result = run_cli("checksum", "--help")
    assert result.exit_code == 0
    for option in (
        "--deep",
        "--extracted",
        "--quick",
        "--to",
        "--algorithm",
        "--format",
        "--check",
        "--jobs",
        "--json",
    ):
        assert option in result.stdout


def test_a_member_that_would_escape_the_target_exits_6(tmp_path: Path, data_dir: Path) -> None:
    archive = data_dir / "archives" / LABELED_ZIP
    write_zip(archive, {"labeled-images/a.jpg": b"a", "../outside.txt": b"evil"})
    (tmp_path / "outside.txt").write_bytes(b"evil")
    home = Home(data_dir, write_manifest(tmp_path / "m.yaml", archive), BuiltArchive(archive))
    (data_dir / "labeled-images").mkdir()
    (data_dir / "labeled-images" / "a.jpg").write_bytes(b"a")
    result = home.checksum("--extracted")
    assert result.exit_code == 6
    assert "member ../outside.txt: FAILED (unsafe path" in result.stdout


# -- decisions, pure -----------------------------------------------------------------------


def part(**fields: object) -> Part:
    return Part.model_validate({"name": "p", "file": "p.zip", "urls": ["http://h/p.zip"], **fields})


def test_the_manifest_wins_over_the_record_and_the_record_over_nothing() -> None:
    record = PartRecord(size=5, sha256="b" * 64)
    assert archive_expectation(part(size=9, sha256="a" * 64), record) == ArchiveExpectation(
        9, "a" * 64, "manifest"
    )
    assert archive_expectation(part(), record) == ArchiveExpectation(5, "b" * 64, "recorded")
    assert archive_expectation(part(size=9), None) == ArchiveExpectation(9, None, "manifest")
    assert archive_expectation(part(), None) == ArchiveExpectation(None, None, None)


def test_tree_decision() -> None:
    assert tree_decision(root_exists=True, recorded=False, named=False) == "check"
    assert tree_decision(root_exists=False, recorded=True, named=False) == "missing"
    assert tree_decision(root_exists=False, recorded=False, named=True) == "missing"
    assert tree_decision(root_exists=False, recorded=False, named=False) == "skip"


def test_the_plan_names_paths_as_extraction_does() -> None:
    def info(name: str, size: int = 1) -> zipfile.ZipInfo:
        entry = zipfile.ZipInfo(name)
        entry.file_size, entry.CRC = size, 7
        return entry

    infos = [
        info("labeled-images/"),
        info("labeled-images\\upper\\a.jpg", 5),
        info("labeled-images/./b.jpg"),
        info("labeled-images/.DS_Store"),
        info("../escape.txt"),
        info("extra-top/c.jpg"),
    ]
    plan = plan_tree(infos, None, "labeled-images")
    assert [(e.path, e.size) for e in plan.expected] == [
        ("extra-top/c.jpg", 1),
        ("labeled-images/b.jpg", 1),
        ("labeled-images/upper/a.jpg", 5),
    ]
    assert "labeled-images/.DS_Store" in plan.members  # never unexpected, never expected
    assert plan.roots == ("extra-top", "labeled-images")
    assert [name for name, _ in plan.unsafe] == ["../escape.txt"]


def test_an_unreadable_archive_outranks_a_mismatch() -> None:
    def item(result: ItemResult) -> CheckItem:
        return CheckItem("p", "extracted", f"m-{result}", result, "why")

    mixed = CheckReport([item("ok"), item("changed"), item("unreadable")])
    error = failure_error(mixed)
    assert error is not None and error.exit_code == 6
    assert "2 of 3 checked items" in error.message and "m-changed (changed)" in error.message
    mismatch = failure_error(CheckReport([item("ok"), item("missing")]))
    assert mismatch is not None and mismatch.exit_code == 5
    assert failure_error(CheckReport([item("ok"), item("unverifiable")])) is None


# -- a part without a root: `full` ---------------------------------------------------------


@pytest.fixture
def full_home(tmp_path: Path, data_dir: Path) -> Home:
    return make_full_home(data_dir, tmp_path / "manifest.yaml")


def test_full_extracted_into_the_data_folder_is_checked_where_its_members_are(
    full_home: Home,
) -> None:
    extracted = full_home.run("extract", "full")
    assert extracted.exit_code == 0, extracted.stderr
    # The data folder holds more than the archive: none of it is the archive's business.
    (full_home.data / "my-notes.txt").write_text("mine")
    (full_home.data / "my-experiments").mkdir()
    (full_home.data / "my-experiments" / "run.csv").write_text("a,b\n")
    result = full_home.checksum("--extracted", "--json", "--verbose")
    assert result.exit_code == 0, result.stdout + result.stderr
    files = {i["path"]: i["result"] for i in result.json()["items"] if i["kind"] == "extracted"}
    assert files == dict.fromkeys(full_home.built.members, "ok")

    extra = "labeled-images/lower-gi-tract/not-from-the-archive.jpg"
    (full_home.data / extra).write_bytes(b"x")
    gone = full_home.image(0)
    (full_home.data / gone).unlink()
    plain = full_home.checksum("full", "--extracted")
    assert plain.exit_code == 5
    failed = [line for line in plain.stdout.splitlines() if "FAILED" in line]
    assert failed == [
        f"full file {gone}: FAILED (missing: the file does not exist)",
        f"full file {extra}: FAILED (unexpected: not in the archive)",
    ]
    assert full_home.run_hint(plain).exit_code == 0  # `hyperkvasir extract full` restores
    assert "missing" not in full_home.checksum("--extracted").stdout


def test_full_extracted_with_a_selection_honours_its_marker(full_home: Home) -> None:
    result = full_home.run("extract", "full", "--include", "segmented-images/*")
    assert result.exit_code == 0, result.stderr
    assert (full_home.data / ".hyperkvasir-extract-full.json").exists()
    checked = full_home.checksum("--extracted", "--json", "--verbose")
    assert checked.exit_code == 0, checked.stdout
    paths = [i["path"] for i in checked.json()["items"] if i["kind"] == "extracted"]
    assert sorted(paths) == sorted(m for m in full_home.built.members if m.startswith("seg"))
    assert any("full: extracted with a selection" in n for n in checked.json()["notes"])


def test_full_extracted_elsewhere_is_a_copy_checked_when_named(
    full_home: Home, tmp_path: Path
) -> None:
    out = tmp_path / "elsewhere"
    assert full_home.run("extract", "full", "--to", str(out)).exit_code == 0
    # The data folder's own check does not look at a copy elsewhere, and says where it is.
    own = full_home.checksum("--extracted")
    assert own.exit_code == 0 and f"checked with --to {out}" in own.stderr
    flip_byte(out / full_home.image(1), 40)  # same size: only the CRC-32 tells
    result = full_home.checksum("--extracted", "--to", str(out))
    assert result.exit_code == 5
    assert f"full file {out.as_posix()}/{full_home.image(1)}: FAILED (changed" in result.stdout
    assert f"`hyperkvasir extract full --to {out} --verify`" in result.stderr
    assert full_home.run_hint(result).exit_code == 0
    assert full_home.checksum("--extracted", "--to", str(out)).exit_code == 0


def test_full_not_extracted_is_skipped_unless_named(full_home: Home) -> None:
    skipped = full_home.checksum("--extracted")
    assert skipped.exit_code == 0
    assert "full: not extracted" in skipped.stderr
    named = full_home.checksum("full", "--extracted")
    assert named.exit_code == 5
    assert "FAILED (missing: none of the archive's folders" in named.stdout
    assert "`hyperkvasir extract full`" in named.stderr


def test_the_plan_of_a_part_without_a_root_searches_only_its_members_folders() -> None:
    def info(name: str) -> zipfile.ZipInfo:
        entry = zipfile.ZipInfo(name)
        entry.CRC = 0
        return entry

    plan = plan_tree([info("a/x.jpg"), info("b/c/y.jpg"), info("top.txt")], None, None)
    assert plan.roots == ("a", "b")
    assert [e.path for e in plan.expected] == ["a/x.jpg", "b/c/y.jpg", "top.txt"]


# -- --deep: corrupt and unsafe archives exit 6 --------------------------------------------


def test_deep_names_a_member_whose_size_differs_and_exits_6(tmp_path: Path, data_dir: Path) -> None:
    archive = raw_zip(
        data_dir / "archives" / LABELED_ZIP,
        [
            RawMember("labeled-images/a.jpg", b"a" * 100, method=8, declared_size=120),
            RawMember("labeled-images/b.jpg", b"b" * 100, method=8),
        ],
    )
    home = Home(data_dir, write_manifest(tmp_path / "m.yaml", archive), BuiltArchive(archive))
    result = home.checksum("--deep", "--verbose")
    assert result.exit_code == 6
    assert (
        "labeled-images member labeled-images/a.jpg: FAILED (changed: size expected 120 B, "
        "found 100 B)" in result.stdout
    )
    assert "labeled-images member labeled-images/b.jpg: OK" in result.stdout


HOSTILE = {
    "duplicate": (
        [RawMember("labeled-images/a.jpg", b"a"), RawMember("labeled-images/a.jpg", b"b")],
        "labeled-images/a.jpg",
        "repeats another member's path",
    ),
    "dot-dot": (
        [RawMember("labeled-images/a.jpg", b"a"), RawMember("labeled-images/../evil", b"e")],
        "labeled-images/../evil",
        "has '..' in its path",
    ),
    "symlink": (
        [
            RawMember("labeled-images/a.jpg", b"a"),
            RawMember("labeled-images/link", b"/etc/passwd", external_attr=0o120777 << 16),
        ],
        "labeled-images/link",
        "is a symbolic link",
    ),
    "outside": (
        [RawMember("labeled-images/a.jpg", b"a"), RawMember("other/notes.txt", b"x")],
        "other/notes.txt",
        "lies outside the part's folder labeled-images/",
    ),
    "nul": (
        [RawMember("labeled-images/a.jpg", b"a"), RawMember(b"labeled-images/b\x00.jpg", b"b")],
        "labeled-images/b\\x00.jpg",
        "has a NUL byte in its name",
    ),
}


@pytest.mark.parametrize("shape", sorted(HOSTILE))
def test_deep_refuses_every_member_extract_refuses_for_the_same_reason(
    tmp_path: Path, data_dir: Path, shape: str
) -> None:
    members, shown, reason = HOSTILE[shape]
    archive = raw_zip(data_dir / "archives" / LABELED_ZIP, members)
    home = Home(data_dir, write_manifest(tmp_path / "m.yaml", archive), BuiltArchive(archive))
    extracted = home.run("extract", "labeled-images", "--to", str(tmp_path / "out"))
    assert extracted.exit_code == 6
    assert reason in extracted.stderr
    result = home.checksum("--deep", "--verbose")
    assert result.exit_code == 6, result.stdout
    line = next(
        x for x in result.stdout.splitlines() if x.startswith(f"labeled-images member {shown}:")
    )
    assert (
        line.startswith(f"labeled-images member {shown}: FAILED (")
        and f"the member {reason}" in line
    )
    assert "labeled-images member labeled-images/a.jpg: OK" in result.stdout or shape == "duplicate"
    assert "\x00" not in result.stdout
    # The manifest pins this very file: a new copy would be the same.
    assert "the published file itself is damaged or unsafe" in result.stderr
    assert "--force" not in result.stderr
    document = home.checksum("--deep", "--json").json()
    refused = [i for i in document["items"] if i["result"] == "failed"]
    assert refused and {i["kind"] for i in refused} == {"member"}
    assert document["items"][0]["result"] == "ok"  # the archive's sha256 itself matches


def test_member_failures_exit_6_and_the_highest_code_wins() -> None:
    def item(kind: ItemKind, result: ItemResult) -> CheckItem:
        return CheckItem("p", kind, f"{kind}-{result}", result, "why")

    for bad in ("changed", "failed", "unreadable"):
        error = failure_error(CheckReport([item("member", "ok"), item("member", bad)]))
        assert error is not None and error.exit_code == 6, bad
    both = failure_error(CheckReport([item("archive", "failed"), item("member", "changed")]))
    assert both is not None and both.exit_code == 6
    assert "archive-failed (failed)" in both.message
    archive_only = failure_error(CheckReport([item("archive", "failed")]))
    assert archive_only is not None and archive_only.exit_code == 5


# -- hints that fix the problem ------------------------------------------------------------


def test_a_same_size_change_hints_extract_verify_which_restores_it(home: Home) -> None:
    assert home.run("extract", "labeled-images").exit_code == 0
    image = home.image(5)
    flip_byte(home.data / image, 200)
    result = home.checksum("--extracted")
    assert result.exit_code == 5
    assert "`hyperkvasir extract labeled-images --verify`" in result.stderr
    assert home.run("extract", "labeled-images").exit_code == 0  # skips it: same size
    assert home.checksum("--extracted").exit_code == 5
    assert home.run_hint(result).exit_code == 0
    assert home.checksum("--extracted").exit_code == 0


def test_unexpected_files_are_said_to_be_removable_not_extractable(home: Home) -> None:
    home.extract()
    extra = home.data / "labeled-images" / "notes.txt"
    extra.write_text("mine")
    result = home.checksum("--extracted")
    assert result.exit_code == 5
    hint = result.stderr.splitlines()[-1]
    assert hint.startswith("hint: ")
    assert "extract" not in hint.replace("extracted", "")
    assert "not from the archive" in hint and "can be removed" in hint
    extra.unlink()
    assert home.checksum("--extracted").exit_code == 0


def test_a_missing_and_a_changed_file_and_an_extra_one_get_one_hint(home: Home) -> None:
    home.extract()
    (home.data / home.image(0)).unlink()
    flip_byte(home.data / home.image(1), 100)
    (home.data / "labeled-images" / "notes.txt").write_text("mine")
    result = home.checksum("--extracted")
    hint = result.stderr.splitlines()[-1]
    assert "`hyperkvasir extract labeled-images --verify`" in hint
    assert "1 unexpected file is not from the archive" in hint


# -- after `extract --delete-archive` ------------------------------------------------------


def test_after_delete_archive_the_extracted_files_are_unverifiable_not_ok(home: Home) -> None:
    deleted = home.run("extract", "labeled-images", "--delete-archive")
    assert deleted.exit_code == 0, deleted.stderr
    assert not home.archive.exists()
    for args in (("--extracted",), ("labeled-images", "--extracted")):
        result = home.checksum(*args, "--verbose")
        assert result.exit_code == 0, result.stderr
        (line,) = result.stdout.splitlines()[:-1]
        assert line.startswith("labeled-images file labeled-images: NOT VERIFIED (")
        assert f"the archive {LABELED_ZIP} was deleted after extraction" in line
        assert "summary: checked 1 extracted file: 1 unverifiable" in result.stdout
        assert "warning: 1 checked item could not be verified" in result.stderr
    document = home.checksum("--extracted", "--json").json()
    (item,) = document["items"]
    assert (item["kind"], item["result"]) == ("extracted", "unverifiable")
    assert document["summary"]["results"]["ok"] == 0
    assert document["summary"]["results"]["unverifiable"] == 1

    shutil.rmtree(home.data / "labeled-images")
    vanished = home.checksum("--extracted")
    assert vanished.exit_code == 5
    assert "labeled-images file labeled-images: FAILED (missing" in vanished.stdout


def test_after_delete_archive_checking_archives_only_says_why_there_is_nothing(
    home: Home,
) -> None:
    assert home.run("extract", "labeled-images", "--delete-archive").exit_code == 0
    unnamed = home.checksum()
    assert unnamed.exit_code == 0
    assert "labeled-images: the archive was deleted after extraction" in unnamed.stderr
    named = home.checksum("labeled-images")
    assert named.exit_code == 2
    assert "deleted after extraction" in named.stderr
    assert "hyperkvasir checksum labeled-images --extracted" in named.stderr


# -- output details ------------------------------------------------------------------------


def test_algorithm_digest_is_printed_in_the_plain_line(home: Home) -> None:
    md5 = hashlib.md5(home.archive.read_bytes()).hexdigest()
    result = home.checksum("labeled-images", "--algorithm", "md5")
    assert result.exit_code == 0
    assert (
        f"labeled-images archives/{LABELED_ZIP}: OK (sha256 matches the manifest; md5 {md5})"
        in result.stdout
    )
    home.extract()
    files = home.checksum("--extracted", "-A", "md5", "--verbose").stdout
    image = home.image(0)
    digest = hashlib.md5(home.built.members[image]).hexdigest()
    assert f"labeled-images file {image}: OK (md5 {digest})" in files
    quick = home.checksum("--quick", "-A", "md5")
    assert quick.exit_code == 2 and "--quick" in quick.stderr


def test_a_size_mismatch_names_each_number_once() -> None:
    expected = ArchiveExpectation(10, None, "manifest")
    _, small = judge_archive(expected, FileDigest(9, {}))
    assert small == "size differs from the manifest: expected 10 B, found 9 B"
    _, large = judge_archive(expected, FileDigest(5000, {}))
    assert large.endswith("found 5000 B (4.9 KiB)")


def test_an_archive_that_is_not_a_zip_is_one_failed_item(tmp_path: Path, data_dir: Path) -> None:
    archive = data_dir / "archives" / LABELED_ZIP
    archive.parent.mkdir(parents=True)
    archive.write_bytes(b"<html>not found</html>\n" * 20)  # its sha256 is the pinned one
    home = Home(data_dir, write_manifest(tmp_path / "m.yaml", archive), BuiltArchive(archive))
    (data_dir / "labeled-images").mkdir()
    for pinned in (True, False):
        if not pinned:
            write_manifest(home.manifest, archive, sha256=False, size=True)
            flip_byte(archive, 3)
        result = home.checksum("--deep", "--extracted")
        assert result.exit_code == 6
        lines = [line for line in result.stdout.splitlines() if LABELED_ZIP in line]
        assert len(lines) == 1 and "FAILED" in lines[0] and ": OK" not in lines[0]
        assert "no valid zip central directory" in lines[0]
        assert "summary: checked 1 archive: 1 unreadable" in result.stdout


def test_one_task_logs_one_start_line(tmp_path: Path, data_dir: Path) -> None:
    home = make_two_part_home(data_dir, tmp_path / "manifest.yaml")
    home.extract()
    for jobs in ("1", "3"):
        result = home.checksum("--deep", "--extracted", "-J", jobs)
        assert result.exit_code == 0, result.stdout
        started = [line for line in result.stderr.splitlines() if "started" in line]
        assert len(started) == 1, result.stderr
        assert started[0].endswith("checking 2 parts: started, " + started[0].split(", ")[-1])
        assert "100.0%" in result.stderr.splitlines()[-1]


def test_shared_progress_held_open_starts_and_finishes_once() -> None:
    events: list[str] = []

    class Recorder(SilentProgress):
        def start(self, label: str, total: int | None, completed: int = 0) -> None:
            events.append(f"start {label} {total}")

        def extend(self, label: str, total: int | None, completed: int) -> None:
            events.append(f"extend {label} {total}")

        def finish(self) -> None:
            events.append("finish")

    shared = SharedProgress(Recorder(), "checking")
    with shared.held():
        for total in (10, 20):
            shared.start("phase", total)
            shared.finish()
    assert events == ["start checking 10", "extend checking 30", "finish"]


def test_deep_and_extracted_name_an_escaping_member_once(tmp_path: Path, data_dir: Path) -> None:
    archive = data_dir / "archives" / LABELED_ZIP
    write_zip(archive, {"labeled-images/a.jpg": b"a", "../outside.txt": b"evil"})
    home = Home(data_dir, write_manifest(tmp_path / "m.yaml", archive), BuiltArchive(archive))
    home.extract(data_dir)  # as another tool would have: ../outside.txt lands beside data/
    result = home.checksum("--deep", "--extracted")
    assert result.exit_code == 6
    named = [line for line in result.stdout.splitlines() if "../outside.txt" in line]
    assert named == [
        "labeled-images member ../outside.txt: FAILED (unsafe: the member has '..' in its "
        "path, which leads out of the target folder (extract refuses the archive))"
    ]


def test_full_after_delete_archive_is_unverifiable(full_home: Home) -> None:
    assert full_home.run("extract", "full", "--delete-archive").exit_code == 0
    result = full_home.checksum("--extracted", "--json")
    assert result.exit_code == 0
    (item,) = result.json()["items"]
    assert (item["part"], item["result"]) == ("full", "unverifiable")
    assert "hyper-kvasir.zip was deleted after extraction" in item["reason"]


# -- a failed archive loses its "verified" record -----------------------------------------


def parts_state(home: Home) -> str:
    (part,) = home.run("parts", "--json").json()["parts"]
    return str(part["state"])


def test_a_failed_archive_loses_its_verification_so_download_checks_it_again(
    home: Home, data_dir: Path
) -> None:
    assert home.checksum().exit_code == 0  # verified and recorded
    assert parts_state(home) == "verified"
    flip_byte(home.archive, home.archive.stat().st_size // 2)
    result = home.checksum("labeled-images")
    assert result.exit_code == 5
    record = records_of(data_dir)["labeled-images"]
    assert record.verified_at is None and record.sha256 is not None  # the reference stays
    assert parts_state(home) == "downloaded"
    assert "no longer recorded as verified" in result.stderr
    assert "`hyperkvasir download labeled-images --force`" in result.stderr
    # (test_download.py: the next plain `download` or `sync` then sets it aside and fetches.)


def test_a_withdrawn_verification_needs_the_lock_and_says_when_it_cannot(
    home: Home, data_dir: Path
) -> None:
    assert home.checksum().exit_code == 0
    flip_byte(home.archive, 100)
    with data_lock(home.data / ".hyperkvasir.lock"):
        result = home.checksum()
    assert result.exit_code == 5
    assert "not recorded" in result.stderr
    assert records_of(data_dir)["labeled-images"].verified_at is not None
    assert "`hyperkvasir download labeled-images --force`" in result.stderr


@pytest.mark.parametrize("options", [[], ["--deep"], ["--extracted"]])
def test_a_recorded_html_page_is_not_a_zip_and_loses_its_verification(
    tmp_path: Path, data_dir: Path, options: list[str]
) -> None:
    """What an earlier version recorded for an HTML error page served with 200."""
    archive = data_dir / "archives" / LABELED_ZIP
    archive.parent.mkdir(parents=True)
    page = b"<!DOCTYPE html><html><body>Service temporarily moved</body></html>"
    archive.write_bytes(page)
    manifest = write_manifest(tmp_path / "m.yaml", archive, size=False, sha256=False)
    record_store(data_dir).update_part(
        "labeled-images",
        archive=str(archive),
        size=len(page),
        sha256=hashlib.sha256(page).hexdigest(),
        sha256_source="recorded",
        verified_at="2026-01-01T00:00:00Z",
    )
    home = Home(data_dir, manifest, BuiltArchive(archive))
    result = home.checksum(*options)
    assert result.exit_code == 6, result.stdout + result.stderr
    (line,) = [line for line in result.stdout.splitlines() if LABELED_ZIP in line]
    assert "FAILED" in line and ": OK" not in line and "zip" in line
    assert "`hyperkvasir download labeled-images --force`" in result.stderr
    assert records_of(data_dir)["labeled-images"].verified_at is None
    assert parts_state(home) == "downloaded"


def test_quick_reads_no_central_directory(tmp_path: Path, data_dir: Path) -> None:
    archive = data_dir / "archives" / LABELED_ZIP
    archive.parent.mkdir(parents=True)
    archive.write_bytes(b"<html>not a zip</html>")
    manifest = write_manifest(tmp_path / "m.yaml", archive, sha256=False)
    result = Home(data_dir, manifest, BuiltArchive(archive)).checksum("--quick")
    assert result.exit_code == 0, result.stderr
    # Only the size was compared: it says so, and nothing was recorded.
    (line,) = [line for line in result.stdout.splitlines() if LABELED_ZIP in line]
    assert line.endswith(": OK (size matches the manifest; the content was not read (--quick))")
    assert not records_path(data_dir).exists()


def test_a_published_archive_that_reads_as_a_zip_is_not_opened_by_a_plain_check(
    home: Home, monkeypatch: pytest.MonkeyPatch
) -> None:

    def no_reading(*args: object, **kwargs: object) -> object:
        raise AssertionError("the central directory of a pinned archive was read")

    from hyperkvasir_cli.check import parts as part_check

    monkeypatch.setattr(part_check, "read_members", no_reading)
    result = home.checksum()
    assert result.exit_code == 0, result.stderr
    (line,) = [line for line in result.stdout.splitlines() if LABELED_ZIP in line]
    assert line.endswith(": OK (sha256 matches the manifest)")
