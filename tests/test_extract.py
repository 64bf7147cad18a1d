"""`hyperkvasir extract`, used as a person would: real zips in the data folder, the real
command line, and the files that end up on disk."""

from __future__ import annotations

import errno
import hashlib
import json
import os
import stat
import time
import zipfile
from pathlib import Path

import pytest
import yaml

from hyperkvasir_cli.archive.extract import OwnFiles, own_placement
from hyperkvasir_cli.archive.safety import Placement
from hyperkvasir_cli.archive.selection import Selection
from hyperkvasir_cli.archive.worker import write_error
from hyperkvasir_cli.core.classes import LABELED_CLASSES
from hyperkvasir_cli.core.lock import data_lock
from tests.cli import Result, run_cli
from tests.downloads import record_store, records_of
from tests.hostile_zips import RawMember, deflated, raw_zip
from tests.same import assert_same_bytes
from tests.zips import BuiltArchive, build_labeled_images, build_segmented_images, write_zip

LABELED_FILE = "hyper-kvasir-labeled-images.zip"
# A fifth of the published counts (at least one): the real mix of large and tiny classes.
SCALED_COUNTS = {c.name: 1 for c in LABELED_CLASSES} | {
    "cecum": 20, "polyps": 21, "bbps-2-3": 23, "z-line": 19, "ileum": 2, "hemorrhoids": 1,
}  # fmt: skip

# What a refused extraction may leave in the data folder: the lock, and the records of the
# archive's check (its first-seen sha256, as download would record it).
OWN_FILES = {".hyperkvasir.lock", ".hyperkvasir-records.yaml", ".hyperkvasir-records.yaml.lock"}


class Workspace:
    """A data folder, a manifest describing the archives put into it, and the CLI."""

    def __init__(self, tmp_path: Path, data_dir: Path) -> None:
        self.tmp_path = tmp_path
        self.data_dir = data_dir
        self.manifest = tmp_path / "manifest.yaml"
        self.parts: list[dict[str, object]] = []
        self.out = tmp_path / "out"

    def add_part(self, name: str, file: str, root: str | None, **extra: object) -> Path:
        part: dict[str, object] = {
            "name": name,
            "file": file,
            "urls": [f"http://127.0.0.1:9/{file}"],
        }
        if root:
            part["root"] = root
        self.parts = [p for p in self.parts if p["name"] != name] + [{**part, **extra}]
        self.manifest.write_text(yaml.safe_dump({"dataset": "hyper-kvasir", "parts": self.parts}))
        return self.data_dir / "archives" / file

    def labeled(
        self, per_class: int | dict[str, int] = SCALED_COUNTS, **options: object
    ) -> BuiltArchive:
        path = self.add_part("labeled-images", LABELED_FILE, "labeled-images")
        return build_labeled_images(path, per_class=per_class, **options)  # type: ignore[arg-type]

    def raw(self, members: list[RawMember], *, zip64: bool = False) -> Path:
        return raw_zip(self.add_part("odd", "odd.zip", "odd"), members, zip64=zip64)

    def extract(self, *args: str) -> Result:
        return run_cli("extract", *args, "--manifest", str(self.manifest))

    def files(self, root: Path | None = None) -> dict[str, bytes]:
        """Every file under ``root`` (default: the --to folder), by relative path."""
        base = root or self.out
        return {
            p.relative_to(base).as_posix(): p.read_bytes()
            for p in sorted(base.rglob("*"))
            if p.is_file()
        }


@pytest.fixture
def ws(tmp_path: Path, data_dir: Path) -> Workspace:
    return Workspace(tmp_path, data_dir)


def dataset_files(files: dict[str, bytes]) -> dict[str, bytes]:
    return {k: v for k, v in files.items() if not k.endswith(".hyperkvasir-extract.json")}


def snapshot(folder: Path) -> set[str]:
    return {p.relative_to(folder).as_posix() for p in folder.rglob("*")}


# --- the real layout, complete and intact ------------------------------------------------


def test_labeled_images_land_at_their_real_paths_byte_for_byte(ws: Workspace) -> None:
    built = ws.labeled()
    result = ws.extract("labeled-images", "--to", str(ws.out), "--json")
    assert result.exit_code == 0, result.stderr
    files = ws.files()
    assert dataset_files(files) == built.members  # same paths, same bytes (so same CRC-32)
    images = [p for p in files if p.endswith(".jpg")]
    assert len(images) == sum(SCALED_COUNTS.values())
    polyps = [
        p
        for p in images
        if p.startswith("labeled-images/lower-gi-tract/pathological-findings/polyps/")
    ]
    assert len(polyps) == 21
    report = result.json()["parts"][0]
    assert report["selected"] == report["extracted"] == len(built.members)
    assert report["skipped"] == 0 and report["nothing_to_do"] is False
    assert report["bytes"] == sum(map(len, built.members.values()))
    assert "extracted" in result.stderr and str(ws.out) in result.stderr


def test_files_get_the_archive_times_and_nothing_unfinished_remains(ws: Workspace) -> None:
    ws.labeled(per_class=1)
    assert ws.extract("labeled-images", "--to", str(ws.out)).exit_code == 0
    csv = ws.out / "labeled-images" / "image-labels.csv"
    assert csv.stat().st_mtime == time.mktime((2020, 1, 1, 0, 0, 0, 0, 0, -1))
    assert not list(ws.out.rglob("*.hkx-tmp"))


def test_default_target_is_the_data_folder_and_the_config_records_it(
    ws: Workspace, data_dir: Path
) -> None:
    built = ws.labeled(per_class=1)
    assert ws.extract("labeled-images").exit_code == 0
    assert dataset_files(ws.files(data_dir / "labeled-images")) == {
        k.removeprefix("labeled-images/"): v for k, v in built.members.items()
    }
    record = records_of(data_dir)["labeled-images"]
    assert record.extracted_to == str(data_dir)
    assert record.extracted_at is not None


def test_marker_records_archive_checksum_counts_and_selection(ws: Workspace) -> None:
    built = ws.labeled(per_class=2)
    digest = hashlib.sha256(built.path.read_bytes()).hexdigest()
    ws.add_part("labeled-images", LABELED_FILE, "labeled-images", sha256=digest)
    assert ws.extract("labeled-images", "--to", str(ws.out), "-k", "polyp").exit_code == 0
    marker = json.loads((ws.out / "labeled-images" / ".hyperkvasir-extract.json").read_text())
    assert marker["archive"] == LABELED_FILE and marker["archive_sha256"] == digest
    assert marker["members"] == 2
    assert marker["bytes"] == sum(len(v) for k, v in built.members.items() if "/polyps/" in k)
    assert Selection.build(**marker["selection"]) == Selection.build(classes=["polyps"])
    assert marker["completed_at"].endswith("Z") and marker["tool_version"]


# --- resumable and idempotent -------------------------------------------------------------


def test_second_run_does_nothing_and_says_so(ws: Workspace) -> None:
    ws.labeled(per_class=1)
    assert ws.extract("labeled-images", "--to", str(ws.out)).exit_code == 0
    before = {p: p.stat().st_ino for p in ws.out.rglob("*")}
    again = ws.extract("labeled-images", "--to", str(ws.out), "--json")
    assert again.exit_code == 0
    assert "nothing to do" in again.stderr
    report = again.json()["parts"][0]
    assert report["nothing_to_do"] is True and report["extracted"] == 0
    assert {p: p.stat().st_ino for p in ws.out.rglob("*")} == before  # nothing rewritten


def test_rerun_replaces_missing_and_wrong_sized_files_only(ws: Workspace) -> None:
    built = ws.labeled(per_class=2)
    assert ws.extract("labeled-images", "--to", str(ws.out)).exit_code == 0
    images = sorted(p for p in ws.out.rglob("*.jpg"))
    images[0].unlink()
    images[1].write_bytes(images[1].read_bytes()[:10])
    report = ws.extract("labeled-images", "--to", str(ws.out), "--json").json()["parts"][0]
    assert (report["extracted"], report["skipped"]) == (2, len(built.members) - 2)
    assert dataset_files(ws.files()) == built.members


def test_verify_catches_a_same_size_corruption_that_size_checks_miss(ws: Workspace) -> None:
    built = ws.labeled(per_class=1)
    assert ws.extract("labeled-images", "--to", str(ws.out)).exit_code == 0
    victim = next(ws.out.rglob("*.jpg"))
    victim.write_bytes(bytes(len(victim.read_bytes())))
    assert ws.extract("labeled-images", "--to", str(ws.out), "--json").json()["parts"][0][
        "nothing_to_do"
    ]
    checked = ws.extract("labeled-images", "--to", str(ws.out), "--verify", "--json")
    report = checked.json()["parts"][0]
    assert report["extracted"] == 1 and report["verified"] is True
    assert dataset_files(ws.files()) == built.members


def test_force_extracts_everything_again(ws: Workspace) -> None:
    built = ws.labeled(per_class=1)
    assert ws.extract("labeled-images", "--to", str(ws.out)).exit_code == 0
    report = ws.extract("labeled-images", "--to", str(ws.out), "-f", "-j").json()["parts"][0]
    assert report["extracted"] == len(built.members)


def test_unfinished_files_of_a_killed_run_are_removed(ws: Workspace) -> None:
    ws.labeled(per_class=1)
    assert ws.extract("labeled-images", "--to", str(ws.out)).exit_code == 0
    folder = next(ws.out.rglob("*.jpg")).parent
    leftover = folder / ".abc.jpg.0badf00d.hkx-tmp"
    leftover.write_bytes(b"half")
    report = ws.extract("labeled-images", "--to", str(ws.out), "--json").json()["parts"][0]
    assert report["stale_removed"] == 1 and not leftover.exists()


def test_a_changed_archive_makes_same_sized_files_checked(ws: Workspace) -> None:
    members = {"odd/a.txt": b"first version", "odd/b.txt": b"unchanged"}
    path = ws.add_part("odd", "odd.zip", "odd")
    write_zip(path, members)
    ws.add_part("odd", "odd.zip", "odd", sha256=hashlib.sha256(path.read_bytes()).hexdigest())
    assert ws.extract("odd", "--to", str(ws.out)).exit_code == 0
    write_zip(path, {**members, "odd/a.txt": b"second versio"})  # same size
    ws.add_part("odd", "odd.zip", "odd", sha256=hashlib.sha256(path.read_bytes()).hexdigest())
    report = ws.extract("odd", "--to", str(ws.out), "--json").json()["parts"][0]
    assert report["extracted"] == 1
    assert (ws.out / "odd" / "a.txt").read_bytes() == b"second versio"


# --- selection --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "selection",
    [["--include", "*/polyps/*"], ["--class", "polyp"], ["-k", "polyps"], ["-k", "Polyp"]],
)
def test_polyp_selection_yields_exactly_the_polyp_images(
    ws: Workspace, selection: list[str]
) -> None:
    built = ws.labeled()
    assert ws.extract("labeled-images", "--to", str(ws.out), *selection).exit_code == 0
    expected = {k: v for k, v in built.members.items() if "/polyps/" in k}
    assert len(expected) == 21
    assert dataset_files(ws.files()) == expected


def test_classes_in_split_file_spellings_and_excludes_combine(ws: Workspace) -> None:
    built = ws.labeled(per_class=2)
    args = ["-k", "normal-z-line", "-k", "oesophagitis-a", "-x", "*/esophagitis-a/*"]
    assert ws.extract("labeled-images", "--to", str(ws.out), *args).exit_code == 0
    assert set(dataset_files(ws.files())) == {k for k in built.members if "/z-line/" in k}


def test_several_includes_add_up(ws: Workspace) -> None:
    built = ws.labeled(per_class=2)
    args = ["-i", "labeled-images/*.csv", "-i", "*/ileum/*"]
    assert ws.extract("labeled-images", "--to", str(ws.out), *args).exit_code == 0
    expected = {k for k in built.members if "/ileum/" in k} | {"labeled-images/image-labels.csv"}
    assert set(dataset_files(ws.files())) == expected


def test_unknown_class_is_a_usage_error_listing_the_classes(ws: Workspace) -> None:
    ws.labeled(per_class=1)
    result = ws.extract("labeled-images", "--to", str(ws.out), "--class", "polipo")
    assert result.exit_code == 2
    assert "unknown class 'polipo'" in result.stderr
    assert all(name in result.stderr for name in ("polyps", "ileum", "bbps-0-1"))  # all 23
    assert not ws.out.exists()


def test_a_selection_that_matches_nothing_is_an_error(ws: Workspace) -> None:
    ws.labeled(per_class=1)
    result = ws.extract("labeled-images", "--to", str(ws.out), "--include", "polyps/*")
    assert result.exit_code == 2
    assert "matched no member" in result.stderr and "hint:" in result.stderr


def test_platform_junk_is_not_extracted(ws: Workspace) -> None:
    path = ws.add_part("odd", "odd.zip", "odd")
    write_zip(
        path,
        {
            "odd/a.jpg": b"a",
            "__MACOSX/odd/._a.jpg": b"resource fork",
            "odd/.DS_Store": b"finder",
            "odd/Thumbs.db": b"thumbs",
        },
    )
    report = ws.extract("odd", "--to", str(ws.out), "--json").json()["parts"][0]
    assert report["selected"] == 1
    assert dataset_files(ws.files()) == {"odd/a.jpg": b"a"}


# --- unsafe and damaged archives -----------------------------------------------------------


def symlink_zip(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("odd/ok.txt", b"fine")
        link = zipfile.ZipInfo("odd/passwd")
        link.external_attr = (stat.S_IFLNK | 0o777) << 16
        archive.writestr(link, "/etc/passwd")


def named_zip(name: str):  # type: ignore[no-untyped-def]
    def build(path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        with zipfile.ZipFile(path, "w") as archive:
            archive.writestr("odd/ok.txt", b"fine")
            archive.writestr(zipfile.ZipInfo(name), b"evil")

    return build


@pytest.mark.parametrize(
    ("build", "member", "reason"),
    [
        (named_zip("../evil.txt"), "../evil.txt", "'..'"),
        (named_zip("odd/../../evil.txt"), "odd/../../evil.txt", "'..'"),
        (named_zip("/tmp/abs.txt"), "/tmp/abs.txt", "absolute path"),
        (named_zip("C:/x.txt"), "C:/x.txt", "drive letter"),
        (named_zip("..\\evil.txt"), "..\\\\evil.txt", "'..'"),
        (symlink_zip, "odd/passwd", "symbolic link"),
        (
            lambda p: raw_zip(
                p, [RawMember("odd/ok.txt", b"ok"), RawMember(b"odd/a\x00/../../x", b"x")]
            ),
            "odd/a\\x00/../../x",
            "NUL byte",
        ),
    ],
)
def test_unsafe_archives_exit_6_naming_the_member_and_write_nothing_anywhere(
    ws: Workspace,
    tmp_path: Path,
    build,
    member: str,
    reason: str,  # type: ignore[no-untyped-def]
) -> None:
    build(ws.add_part("odd", "odd.zip", "odd"))
    before = snapshot(tmp_path)
    result = ws.extract("odd", "--to", str(ws.out))
    assert result.exit_code == 6
    error = error_line(result)  # after the lines of the archive's first check
    assert error.startswith("error: odd.zip is unsafe to extract: member ")
    assert repr(member.replace("\\\\", "\\")) in error or member in error
    assert reason in error and "nothing was written" in error
    assert "hint:" in result.stderr and "Traceback" not in result.stderr
    # The lock, and the config recording the archive's first-seen sha256 (as download would).
    lock_and_record = {"data/" + name for name in OWN_FILES}
    assert snapshot(tmp_path) - before <= lock_and_record
    assert not ws.out.exists()


def test_a_link_on_disk_leading_out_of_the_target_is_not_followed(
    ws: Workspace, tmp_path: Path
) -> None:
    ws.labeled(per_class=1)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    ws.out.mkdir()
    (ws.out / "labeled-images").symlink_to(elsewhere)
    result = ws.extract("labeled-images", "--to", str(ws.out))
    assert result.exit_code == 6
    assert "resolves outside" in result.stderr
    assert list(elsewhere.iterdir()) == []


@pytest.mark.parametrize(
    ("member", "words"),
    [
        (RawMember("odd/x.jpg", b"data", method=9, stored=b"????"), ["deflate64 (9)", "odd/x.jpg"]),
        (RawMember("odd/x.jpg", b"data", method=93, stored=b"????"), ["zstd (93)", "odd/x.jpg"]),
        (RawMember("odd/x.jpg", b"data", flags=0x1), ["encrypted", "odd/x.jpg"]),
    ],
)
def test_unreadable_members_exit_6_naming_method_and_member(
    ws: Workspace, member: RawMember, words: list[str]
) -> None:
    ws.raw([RawMember("odd/ok.txt", b"ok"), member])
    result = ws.extract("odd", "--to", str(ws.out))
    assert result.exit_code == 6
    assert all(word in result.stderr for word in words)
    assert not ws.out.exists()


def test_a_member_inflating_past_its_declared_size_is_stopped(ws: Workspace) -> None:
    payload = bytes(4_000_000)
    bomb = RawMember("odd/bomb.bin", payload[:1000], method=8, stored=deflated(payload))
    ws.raw([RawMember("odd/first.txt", b"first"), bomb])
    result = ws.extract("odd", "--to", str(ws.out))
    assert result.exit_code == 6
    assert "inflates to more than the 1000 B it declares" in result.stderr
    assert ws.files() == {"odd/first.txt": b"first"}  # no bomb, no temporary file


def test_a_bad_crc_exits_6_and_leaves_no_file_under_its_name(ws: Workspace) -> None:
    ws.raw([RawMember("odd/good.txt", b"good"), RawMember("odd/bad.txt", b"payload", crc=123)])
    result = ws.extract("odd", "--to", str(ws.out))
    assert result.exit_code == 6
    assert "'odd/bad.txt' has CRC-32" in result.stderr and "0000007b" in result.stderr
    assert ws.files() == {"odd/good.txt": b"good"}


def test_a_truncated_archive_exits_6_and_writes_nothing(ws: Workspace) -> None:
    built = ws.labeled(per_class=1)
    built.path.write_bytes(built.path.read_bytes()[: built.path.stat().st_size // 2])
    result = ws.extract("labeled-images", "--to", str(ws.out))
    assert result.exit_code == 6
    assert "not a readable zip" in result.stderr and "truncated" in result.stderr
    assert not ws.out.exists()


def test_not_enough_space_for_the_declared_sizes_exits_7_before_writing(ws: Workspace) -> None:
    ws.raw(
        [
            RawMember("odd/small.txt", b"x"),
            RawMember("odd/huge.bin", b"x", method=8, declared_size=2**50),
        ]
    )
    result = ws.extract("odd", "--to", str(ws.out))
    assert result.exit_code == 7
    assert "not enough disk space" in result.stderr and "1024.0 TiB" in result.stderr
    assert not ws.out.exists()


def test_the_space_check_counts_whole_blocks_not_bytes() -> None:
    """16,102 images of 700 B need 63 MiB of 4 KiB blocks, not 11 MiB."""
    from hyperkvasir_cli.core.diskspace import allocated

    assert allocated([700] * 16_102, 4096) == 16_102 * 4096
    assert allocated([0, 1, 4096, 4097], 4096) == 0 + 4096 + 4096 + 8192


# --- ZIP64 and other methods ------------------------------------------------------------


def test_zip64_archive_with_thousands_of_members_extracts_completely(ws: Workspace) -> None:
    members = {f"odd/images/{n:05d}.jpg": n.to_bytes(4, "big") * (n % 7 + 1) for n in range(3000)}
    ws.raw(
        [
            RawMember(name, data, method=8 if n % 2 else 0)
            for n, (name, data) in enumerate(members.items())
        ],
        zip64=True,
    )
    result = ws.extract("odd", "--to", str(ws.out), "--jobs", "2", "--json")
    assert result.exit_code == 0, result.stderr
    assert result.json()["parts"][0]["extracted"] == 3000
    assert dataset_files(ws.files()) == members


def test_zip64_local_headers_from_zipfile_are_read(ws: Workspace) -> None:
    built = ws.labeled(per_class=1, force_zip64=True)
    assert ws.extract("labeled-images", "--to", str(ws.out)).exit_code == 0
    assert dataset_files(ws.files()) == built.members


@pytest.mark.parametrize("method", [zipfile.ZIP_STORED, zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA])
def test_stored_bzip2_and_lzma_members_extract(ws: Workspace, method: int) -> None:
    built = ws.labeled(per_class=1, compression=method)
    assert ws.extract("labeled-images", "--to", str(ws.out)).exit_code == 0
    assert dataset_files(ws.files()) == built.members


# --- the command around the engine ------------------------------------------------------


def test_delete_archive_after_a_verified_complete_extraction(ws: Workspace, data_dir: Path) -> None:
    built = ws.labeled(per_class=1)
    digest = hashlib.sha256(built.path.read_bytes()).hexdigest()
    store = record_store(data_dir)
    store.update_part(  # as `download` leaves it
        "labeled-images",
        archive=str(built.path),
        sha256=digest,
        size=built.path.stat().st_size,
        verified_at="2026-01-01T00:00:00Z",
    )
    refused = ws.extract("labeled-images", "--to", str(ws.out), "-k", "polyps", "--delete-archive")
    assert refused.exit_code == 2 and built.path.exists() and not ws.out.exists()
    result = ws.extract("labeled-images", "--to", str(ws.out), "--delete-archive", "--json")
    assert result.exit_code == 0, result.stderr
    assert result.json()["parts"][0]["archive_deleted"] is True
    assert not built.path.exists()
    assert dataset_files(ws.files()) == built.members
    record = store.read()["labeled-images"]
    assert record.archive is None and record.sha256 == digest
    assert record.copies[str(ws.out)].extracted_from_sha256 == digest


def test_a_missing_archive_is_downloaded_first(ws: Workspace, tmp_path: Path) -> None:
    mirror = tmp_path / "mirror" / LABELED_FILE
    built = build_labeled_images(mirror, per_class=1)
    ws.add_part("labeled-images", LABELED_FILE, "labeled-images", urls=[mirror.as_uri()])
    result = ws.extract("labeled-images", "--to", str(ws.out))
    assert result.exit_code == 0, result.stderr
    assert_same_bytes(ws.data_dir / "archives" / LABELED_FILE, mirror)
    assert dataset_files(ws.files()) == built.members


def test_csv_parts_and_unknown_parts_are_usage_errors(ws: Workspace) -> None:
    ws.add_part("official-splits", "2_fold_split.csv", None)
    assert ws.extract("official-splits").exit_code == 2
    unknown = ws.extract("labelled-images")
    assert unknown.exit_code == 2 and "official-splits" in unknown.stderr
    assert ws.extract().exit_code == 2


def test_another_run_holding_the_lock_exits_8(ws: Workspace, data_dir: Path) -> None:
    ws.labeled(per_class=1)
    with data_lock(data_dir / ".hyperkvasir.lock"):
        result = ws.extract("labeled-images", "--to", str(ws.out))
    assert result.exit_code == 8
    assert not ws.out.exists()


def test_help_documents_every_option() -> None:
    text = run_cli("extract", "--help").stdout
    options = "--to -t --include -i --exclude -x --class -k --jobs -J --verify --force -f"
    for option in [*options.split(), "--delete-archive", "--wait-lock", "-w", "--json", "-j"]:
        assert option in text


def test_jobs_must_be_positive(ws: Workspace) -> None:
    ws.labeled(per_class=1)
    assert ws.extract("labeled-images", "--jobs", "0").exit_code == 2


def test_a_partial_extraction_elsewhere_keeps_the_recorded_complete_tree(
    ws: Workspace, data_dir: Path
) -> None:
    ws.labeled()
    assert ws.extract("labeled-images").exit_code == 0
    partial = ws.extract("labeled-images", "--class", "polyp", "--to", str(ws.out))
    assert partial.exit_code == 0, partial.stderr
    record = records_of(data_dir)["labeled-images"]
    assert record.extracted_to == str(data_dir)


# --- the part's folder and hyperkvasir's own files ----------------------------------------


def error_line(result: Result) -> str:
    """The `error:` line (verification and progress may log lines before it)."""
    return next(line for line in result.stderr.splitlines() if line.startswith("error: "))


def labeled_with(ws: Workspace, extra: dict[str, bytes]) -> BuiltArchive:
    """A labeled-images archive with ``extra`` members after the real ones."""
    built = ws.labeled(per_class=1)
    write_zip(built.path, {**built.members, **extra})
    return built


@pytest.mark.parametrize(
    "stray", [f"archives/{LABELED_FILE}", "config.yaml", "README.txt", "other-root/x.jpg"]
)
def test_a_member_outside_the_parts_folder_is_refused_before_anything_is_written(
    ws: Workspace, data_dir: Path, stray: str
) -> None:
    built = labeled_with(ws, {stray: b"not part of labeled-images"})
    archive = built.path.read_bytes()
    before = snapshot(data_dir)
    result = ws.extract("labeled-images")  # into the data folder, which holds archives/
    assert result.exit_code == 6, result.stderr
    error = error_line(result)
    assert f"member {stray!r} lies outside the part's folder labeled-images/" in error
    assert "nothing was written" in error and "hint:" in result.stderr
    assert_same_bytes(built.path, archive)  # the verified archive is untouched
    assert snapshot(data_dir) - before <= OWN_FILES


def test_the_refusal_counts_the_other_members_outside_the_folder(ws: Workspace) -> None:
    labeled_with(ws, {"README.txt": b"r", "config.yaml": b"c", "other/x.jpg": b"x"})
    result = ws.extract("labeled-images", "--to", str(ws.out))
    assert result.exit_code == 6
    assert "member 'README.txt' lies outside" in result.stderr
    assert "(2 more members refused)" in result.stderr
    assert not ws.out.exists()


def test_the_root_folder_entry_and_platform_junk_outside_it_are_fine(ws: Workspace) -> None:
    path = ws.add_part("labeled-images", LABELED_FILE, "labeled-images")
    path.parent.mkdir(parents=True)
    with zipfile.ZipFile(path, "w") as archive:
        archive.mkdir("labeled-images")
        archive.writestr("labeled-images/image-labels.csv", b"a,b\r\n")
        archive.writestr("__MACOSX/labeled-images/._image-labels.csv", b"fork")
        archive.writestr(".DS_Store", b"finder")
    result = ws.extract("labeled-images", "--to", str(ws.out))
    assert result.exit_code == 0, result.stderr
    assert dataset_files(ws.files()) == {"labeled-images/image-labels.csv": b"a,b\r\n"}


def full_archive(ws: Workspace, extra: dict[str, bytes], folder: Path | None = None) -> Path:
    """The `full` part (no root; it contains the four others) with ``extra`` members."""
    path = ws.add_part("full", "hyper-kvasir.zip", None, contains=[])
    if folder is not None:
        path = folder / "hyper-kvasir.zip"
    write_zip(path, {"labeled-images/image-labels.csv": b"a,b\r\n", **extra})
    return path


@pytest.mark.parametrize(
    ("stray", "words"),
    [
        ("archives/hyper-kvasir.zip", "archives folder"),
        ("archives/hyper-kvasir-labeled-images.zip.part", "archives folder"),
        ("Archives/x.zip", "archives folder"),  # the same folder on case-insensitive disks
        (".hyperkvasir.lock", "lock"),
        (".hyperkvasir.lock.info", "lock"),
        ("labeled-images/.hyperkvasir-extract.json/x.txt", "reserved for hyperkvasir"),
        ("labeled-images/x.jpg.hkx-tmp/y.jpg", "reserved for hyperkvasir"),
        (".hyperkvasir-records.yaml", "records"),
        (".hyperkvasir-records.yaml.lock", "records"),
    ],
)
def test_no_member_of_any_part_may_land_on_hyperkvasirs_own_files(
    ws: Workspace, data_dir: Path, stray: str, words: str
) -> None:
    path = full_archive(ws, {stray: b"evil"})
    archive = path.read_bytes()
    before = snapshot(data_dir)
    result = ws.extract("full")
    assert result.exit_code == 6, result.stderr
    error = error_line(result)
    assert f"member {stray!r}" in error and words in error and "nothing was written" in error
    assert_same_bytes(path, archive)
    assert snapshot(data_dir) - before <= OWN_FILES


def test_a_folder_entry_for_the_archives_folder_is_refused_too(ws: Workspace) -> None:
    path = full_archive(ws, {})
    with zipfile.ZipFile(path, "a") as archive:
        archive.mkdir("archives")
    result = ws.extract("full")
    assert result.exit_code == 6 and "member 'archives/'" in result.stderr


def test_the_config_file_is_reserved_when_it_lies_in_the_target(
    ws: Workspace, data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = data_dir / "config.yaml"
    monkeypatch.setenv("HYPERKVASIR_CONFIG", str(config))
    assert run_cli("config", "set", "retries", "3").exit_code == 0
    full_archive(ws, {"config.yaml": b"data_dir: /somewhere/else\n"})
    result = ws.extract("full")
    assert result.exit_code == 6, result.stderr
    assert "member 'config.yaml'" in result.stderr and "config file" in result.stderr
    assert b"/somewhere/else" not in config.read_bytes()  # the settings stay ours


def test_the_same_names_are_ordinary_files_in_another_target(ws: Workspace) -> None:
    strays = {"archives/hyper-kvasir.zip": b"a", ".hyperkvasir.lock": b"l", "config.yaml": b"c"}
    full_archive(ws, strays)
    result = ws.extract("full", "--to", str(ws.out))
    assert result.exit_code == 0, result.stderr
    assert {k: v for k, v in dataset_files(ws.files()).items() if k in strays} == strays


@pytest.mark.parametrize("stray", ["hyper-kvasir.zip", "hyper-kvasir.zip.part.json"])
def test_archives_kept_in_the_target_itself_are_reserved_with_their_partials(
    ws: Workspace, data_dir: Path, monkeypatch: pytest.MonkeyPatch, stray: str
) -> None:
    monkeypatch.setenv("HYPERKVASIR_ARCHIVES_DIR", str(data_dir))
    path = full_archive(ws, {stray: b"evil"}, folder=data_dir)
    archive = path.read_bytes()
    result = ws.extract("full")
    assert result.exit_code == 6, result.stderr
    assert f"member {stray!r} would be written over an archive" in error_line(result)
    assert_same_bytes(path, archive)


def test_a_link_on_disk_leading_into_the_archives_folder_is_not_followed(
    ws: Workspace, data_dir: Path
) -> None:
    ws.labeled(per_class=1)
    (data_dir / "labeled-images").symlink_to(data_dir / "archives")
    result = ws.extract("labeled-images")
    assert result.exit_code == 6, result.stderr
    assert "archives folder" in result.stderr
    assert sorted(p.name for p in (data_dir / "archives").iterdir()) == [LABELED_FILE]


# --- an archive nobody verified ---------------------------------------------------------


def test_another_parts_archive_under_this_name_is_refused_with_exit_5(
    ws: Workspace, tmp_path: Path, data_dir: Path
) -> None:
    real = build_labeled_images(tmp_path / "real" / LABELED_FILE, per_class=1)
    size, digest = real.path.stat().st_size, hashlib.sha256(real.path.read_bytes()).hexdigest()
    path = ws.add_part("labeled-images", LABELED_FILE, "labeled-images", size=size, sha256=digest)
    build_segmented_images(path)  # the wrong zip, copied under this part's name
    wrong = path.read_bytes()
    result = ws.extract("labeled-images", "--to", str(ws.out))
    assert result.exit_code == 5, result.stderr
    error = error_line(result)
    assert f"expected {size} B, found {len(wrong)} B" in error
    assert "hint:" in result.stderr
    assert_same_bytes(path, wrong)  # left where it is, and not used
    assert not ws.out.exists()
    record = records_of(data_dir).get("labeled-images")
    assert record is None or record.verified_at is None


def test_a_same_sized_archive_with_other_content_is_refused_by_its_sha256(
    ws: Workspace, data_dir: Path
) -> None:
    built = ws.labeled(per_class=1)
    good = built.path.read_bytes()
    digest = hashlib.sha256(good).hexdigest()
    ws.add_part("labeled-images", LABELED_FILE, "labeled-images", size=len(good), sha256=digest)
    damaged = bytearray(good)
    damaged[100] ^= 0xFF
    built.path.write_bytes(bytes(damaged))
    result = ws.extract("labeled-images", "--to", str(ws.out))
    assert result.exit_code == 5, result.stderr
    error = error_line(result)
    assert digest in error and hashlib.sha256(damaged).hexdigest() in error
    assert_same_bytes(built.path, bytes(damaged))
    assert not ws.out.exists()
    assert "labeled-images" not in records_of(data_dir)


def test_an_unrecorded_archive_matching_the_manifest_is_recorded_as_download_does(
    ws: Workspace, data_dir: Path
) -> None:
    built = ws.labeled(per_class=1)
    digest = hashlib.sha256(built.path.read_bytes()).hexdigest()
    size = built.path.stat().st_size
    ws.add_part("labeled-images", LABELED_FILE, "labeled-images", size=size, sha256=digest)
    result = ws.extract("labeled-images", "--to", str(ws.out))
    assert result.exit_code == 0, result.stderr
    record = records_of(data_dir)["labeled-images"]
    assert (record.size, record.sha256, record.sha256_source) == (size, digest, "manifest")
    assert record.archive == str(built.path) and record.verified_at is not None
    assert record.copies[str(ws.out)].extracted_from_sha256 == digest


def test_without_a_published_sha256_the_first_seen_value_is_recorded_with_a_note(
    ws: Workspace, data_dir: Path
) -> None:
    built = ws.labeled(per_class=1)
    result = ws.extract("labeled-images", "--to", str(ws.out))
    assert result.exit_code == 0, result.stderr
    digest = hashlib.sha256(built.path.read_bytes()).hexdigest()
    record = records_of(data_dir)["labeled-images"]
    assert (record.sha256, record.sha256_source) == (digest, "recorded")
    assert record.size == built.path.stat().st_size and record.verified_at is not None
    assert f"recorded sha256 {digest}" in result.stderr and "first seen" in result.stderr


def test_a_recorded_verified_archive_is_not_hashed_again(
    ws: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    built = ws.labeled(per_class=1)
    assert ws.extract("labeled-images", "--to", str(ws.out)).exit_code == 0  # hashed, recorded
    from hyperkvasir_cli.core import hashing

    def no_hashing(*args: object, **kwargs: object) -> object:
        raise AssertionError("a verified archive was hashed again")

    monkeypatch.setattr(hashing, "hash_file", no_hashing)
    result = ws.extract("labeled-images", "--to", str(ws.out), "--force")
    assert result.exit_code == 0, result.stderr
    assert dataset_files(ws.files()) == built.members


def test_a_recorded_archive_replaced_by_another_size_is_checked_again(
    ws: Workspace, tmp_path: Path
) -> None:
    built = ws.labeled(per_class=1)
    assert ws.extract("labeled-images", "--to", str(ws.out)).exit_code == 0
    build_labeled_images(built.path, per_class=2)  # no sha256 published: the recorded one rules
    result = ws.extract("labeled-images", "--to", str(tmp_path / "again"))
    assert result.exit_code == 5, result.stderr
    assert "differs from the record" in error_line(result)
    assert not (tmp_path / "again").exists()


# --- names the file system cannot hold ----------------------------------------------------


@pytest.mark.parametrize("name", ["x" * 252 + ".jpg", "é" * 128])  # 256 bytes each
def test_a_name_longer_than_the_file_system_allows_is_refused_up_front(
    ws: Workspace, name: str
) -> None:
    utf8 = 0x800  # the name is UTF-8 (general purpose flag bit 11)
    ws.raw([RawMember("odd/ok.txt", b"ok"), RawMember(f"odd/{name}", b"x", flags=utf8)])
    result = ws.extract("odd", "--to", str(ws.out))
    assert result.exit_code == 6, result.stderr
    error = error_line(result)
    assert f"member 'odd/{name}'" in error and "256 bytes" in error and "255" in error
    assert "writable" not in result.stderr
    assert not ws.out.exists()


def test_a_name_of_exactly_255_bytes_extracts(ws: Workspace) -> None:
    name = "odd/" + "y" * 251 + ".jpg"
    ws.raw([RawMember(name, b"long but legal")])
    result = ws.extract("odd", "--to", str(ws.out))
    assert result.exit_code == 0, result.stderr
    assert dataset_files(ws.files()) == {name: b"long but legal"}


def test_a_path_longer_than_the_file_system_allows_is_refused_up_front(ws: Workspace) -> None:
    deep = "odd/" + "/".join(f"{n:02d}" + "d" * 198 for n in range(21)) + "/f.jpg"
    ws.raw([RawMember("odd/ok.txt", b"ok"), RawMember(deep, b"x")])
    result = ws.extract("odd", "--to", str(ws.out))
    assert result.exit_code == 6, result.stderr
    error = error_line(result)
    assert f"member {deep!r}" in error and "4096" in error
    assert "writable" not in result.stderr
    assert not ws.out.exists()


def test_a_file_where_a_folder_is_needed_is_named_in_the_error(ws: Workspace) -> None:
    ws.raw([RawMember("odd/sub/a.txt", b"a")])
    ws.out.mkdir()
    (ws.out / "odd").write_bytes(b"in the way")
    result = ws.extract("odd", "--to", str(ws.out))
    assert result.exit_code == 2, result.stderr
    error = error_line(result)
    assert str(ws.out / "odd") in error and "a file where a folder is needed" in error
    assert "writable" not in result.stderr and "hint:" in result.stderr


def test_a_folder_where_a_file_goes_is_named_in_the_error(ws: Workspace) -> None:
    ws.raw([RawMember("odd/a.txt", b"a")])
    (ws.out / "odd" / "a.txt").mkdir(parents=True)
    result = ws.extract("odd", "--to", str(ws.out))
    assert result.exit_code == 2, result.stderr
    assert "a folder is where the file goes" in error_line(result)
    assert "writable" not in result.stderr


# --- what the summary says --------------------------------------------------------------


def test_one_member_is_counted_in_the_singular(ws: Workspace) -> None:
    ws.raw([RawMember("odd/a.txt", b"a")])
    first = ws.extract("odd", "--to", str(ws.out))
    assert first.exit_code == 0
    assert "odd: extracted 1 member (" in first.stderr
    again = ws.extract("odd", "--to", str(ws.out))
    assert "the 1 selected member is already extracted" in again.stderr


@pytest.mark.parametrize("folders", [[], ["odd/", "odd/empty/"]])
def test_an_archive_without_files_says_so(ws: Workspace, folders: list[str]) -> None:
    path = ws.add_part("odd", "odd.zip", "odd")
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w") as archive:
        for folder in folders:
            archive.mkdir(folder.rstrip("/"))
    result = ws.extract("odd", "--to", str(ws.out), "--json")
    assert result.exit_code == 0, result.stderr
    assert "odd: odd.zip has no files to extract" in result.stderr
    assert "selection" not in result.stderr
    assert result.json()["parts"][0]["selected"] == 0


# --- the pieces: reserved places from absolute paths, and write errors -------------------


def test_only_own_files_inside_the_target_are_reserved(tmp_path: Path) -> None:
    data = tmp_path / "data"
    lock, config = data / ".hyperkvasir.lock", tmp_path / "home" / "config.yaml"
    own = OwnFiles(
        archives_dir=data / "archives",
        archive_files=("x.zip",),
        files=((lock, "the lock"), (config, "the config file")),
    )
    at_data = own_placement(data, "labeled-images", own)
    assert at_data.root == "labeled-images"
    assert at_data.folders == (("archives", "the archives folder"),)
    assert at_data.prefixes == ((".hyperkvasir.lock", "the lock"),)
    above = own_placement(tmp_path, None, own)
    assert above.folders == (("data/archives", "the archives folder"),)
    assert [p for p, _ in above.prefixes] == ["data/.hyperkvasir.lock", "home/config.yaml"]
    in_archives = own_placement(data / "archives", None, own)
    assert in_archives.folders == () and [p for p, _ in in_archives.prefixes] == ["x.zip"]
    for elsewhere in (data / "archives" / "sub", tmp_path / "out"):
        assert own_placement(elsewhere, None, own) == Placement()


def test_a_link_to_the_target_reserves_the_same_places(tmp_path: Path) -> None:
    data = tmp_path / "data"
    (data / "archives").mkdir(parents=True)
    (tmp_path / "link").symlink_to(data)
    own = OwnFiles(archives_dir=tmp_path / "link" / "archives")
    assert own_placement(data, None, own).folders == (("archives", "the archives folder"),)


@pytest.mark.parametrize(
    ("error", "words"),
    [
        (errno.ENAMETOOLONG, ["too long for the file system", "--to", "--exclude"]),
        (errno.ENOSPC, ["disk filled up"]),
        (errno.EACCES, ["writable"]),
    ],
)
def test_write_errors_say_what_went_wrong(error: int, words: list[str]) -> None:
    failure = write_error(OSError(error, os.strerror(error)), "/x/y.jpg")
    text = f"{failure.message} {failure.hint}"
    assert all(word in text for word in words), text


def test_a_write_through_a_file_names_the_file_in_the_way(tmp_path: Path) -> None:
    (tmp_path / "a").write_bytes(b"file")
    failure = write_error(OSError(errno.ENOTDIR, "Not a directory"), str(tmp_path / "a/b/c.jpg"))
    assert f"{tmp_path / 'a'} is a file where a folder is needed" in failure.message
    assert "writable" not in f"{failure.message} {failure.hint}"


def test_parts_says_when_only_a_selection_was_extracted(ws: Workspace) -> None:
    ws.labeled()
    assert ws.extract("labeled-images", "--class", "polyp").exit_code == 0
    listed = run_cli("parts", "--json", "--manifest", str(ws.manifest)).json()["parts"]
    (labeled,) = [p for p in listed if p["name"] == "labeled-images"]
    assert labeled["state"] == "extracted"
    assert labeled["extracted_selection"]["classes"] == ["polyps"]
    table = run_cli("parts", "--manifest", str(ws.manifest)).stdout
    assert "extracted (a selection)" in table
    assert ws.extract("labeled-images").exit_code == 0  # everything now
    listed = run_cli("parts", "--json", "--manifest", str(ws.manifest)).json()["parts"]
    assert [p["extracted_selection"] for p in listed if p["name"] == "labeled-images"] == [None]


# --- an archive without a published sha256 must be a readable zip to be recorded ---------


@pytest.mark.parametrize("damage", ["truncated", "html"])
def test_an_unpublished_archive_that_is_not_a_zip_is_not_recorded_by_extract(
    ws: Workspace, data_dir: Path, damage: str
) -> None:
    built = ws.labeled(per_class=1)  # the manifest publishes neither size nor sha256
    good = built.path.read_bytes()
    if damage == "truncated":
        wrong = good[: len(good) // 2]
    else:
        wrong = b"<!DOCTYPE html><html><body>Service temporarily moved</body></html>"
    built.path.write_bytes(wrong)
    result = ws.extract("labeled-images", "--to", str(ws.out))
    assert result.exit_code == 6, result.stderr  # a corrupt archive, as a truncated zip is
    error = error_line(result)
    assert "not a zip" in error and ("HTML" in error) == (damage == "html")
    assert "hyperkvasir download labeled-images --force" in result.stderr
    assert_same_bytes(built.path, wrong)  # left where it is, and not used
    assert not ws.out.exists()
    record = records_of(data_dir).get("labeled-images")
    assert record is None or record.verified_at is None
    built.path.write_bytes(good)  # the right file put in its place is recorded
    assert ws.extract("labeled-images", "--to", str(ws.out)).exit_code == 0
    record = records_of(data_dir)["labeled-images"]
    assert record.sha256 == hashlib.sha256(good).hexdigest() and record.verified_at
