"""`checksum --extracted` on a real tree prints what a person reads: the failures and one
summary line per part, not one OK line per file (12,668 of them for the real dataset);
--verbose lists every file, --quiet only the failures, --json counts and failures."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.cli import Result, run_cli
from tests.downloads import LABELED, LABELED_ZIP, place_labeled_archive, use_labeled_manifest
from tests.zips import BuiltArchive


@pytest.fixture
def extracted(
    labeled_zip: BuiltArchive, tmp_path: Path, data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> BuiltArchive:
    content = place_labeled_archive(data_dir, labeled_zip.path).read_bytes()
    use_labeled_manifest(tmp_path, "http://127.0.0.1:9/x", content, monkeypatch)
    assert run_cli("extract", LABELED).exit_code == 0
    return labeled_zip


def checksum(*args: str) -> Result:
    return run_cli("checksum", "--extracted", *args)


def test_an_intact_tree_is_one_line_per_part_not_one_per_file(extracted: BuiltArchive) -> None:
    result = checksum()
    assert result.exit_code == 0, result.stderr
    files = len(extracted.members)
    assert result.stdout.splitlines() == [
        f"{LABELED} archives/{LABELED_ZIP}: OK (sha256 matches the manifest)",
        f"{LABELED}: checked {files} extracted files: {files} ok",
        f"summary: checked 1 archive, {files} extracted files: {files + 1} ok",
    ]
    assert checksum("--quiet").stdout == ""


def test_a_failure_is_named_and_counted_in_its_part_line(
    extracted: BuiltArchive, data_dir: Path
) -> None:
    image = next(m for m in extracted.members if m.endswith(".jpg"))
    (data_dir / image).unlink()
    result = checksum()
    assert result.exit_code == 5
    lines = result.stdout.splitlines()
    assert len(lines) == 4
    assert lines[1].startswith(f"{LABELED} file {image}: FAILED (missing")
    assert lines[2].endswith(f"{len(extracted.members) - 1} ok, 1 missing")
    quiet = checksum("--quiet")
    assert quiet.stdout.splitlines() == [lines[1]]


def test_verbose_lists_every_file(extracted: BuiltArchive) -> None:
    result = checksum("--verbose")
    files = [line for line in result.stdout.splitlines() if " file " in line]
    assert len(files) == len(extracted.members) and all(f.endswith(": OK") for f in files)


def test_json_counts_every_part_and_lists_files_only_with_verbose(
    extracted: BuiltArchive, data_dir: Path
) -> None:
    image = next(m for m in extracted.members if m.endswith(".jpg"))
    (data_dir / image).unlink()
    document = checksum("--json").json()
    assert document["items_listed"] == "archives and problems"
    assert [(i["kind"], i["result"]) for i in document["items"]] == [
        ("archive", "ok"),
        ("extracted", "missing"),
    ]
    counts = document["parts"][LABELED]
    assert counts["kinds"]["extracted"] == len(extracted.members)
    assert counts["results"]["missing"] == 1
    assert document["summary"]["checked"] == len(extracted.members) + 1
    every = checksum("--json", "--verbose").json()
    assert every["items_listed"] == "all"
    assert len(every["items"]) == len(extracted.members) + 1
