"""What `split` and `extract` say about what they did, or would do, so that a user on a
shared server is never left with silently wrong output: a split of images that are not
extracted, a target that is a file, a deleted archive."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.cli import Result, run_cli
from tests.downloads import LABELED, LABELED_ZIP, archive, place_labeled_archive
from tests.http_server import LocalServer
from tests.zips import BuiltArchive


def only_downloaded(labeled_zip: BuiltArchive, data_dir: Path) -> None:
    """The archive in the data folder, not extracted."""
    place_labeled_archive(data_dir, labeled_zip.path)


def warnings(result: Result) -> list[str]:
    return [line for line in result.stderr.splitlines() if "warning:" in line]


def test_a_split_of_images_not_extracted_warns_and_says_so_in_split_json(
    labeled_zip: BuiltArchive, labeled_served: LocalServer, data_dir: Path, tmp_path: Path
) -> None:
    only_downloaded(labeled_zip, data_dir)
    out = tmp_path / "split"
    result = run_cli("split", "--out", str(out), "--json")
    assert result.exit_code == 0, result.stderr
    (said,) = warnings(result)
    assert (
        "labeled-images is not extracted" in said and "hyperkvasir extract labeled-images" in said
    )
    assert result.json()["images_extracted"] is False
    document = json.loads((out / "split.json").read_text())
    assert document["images_extracted"] is False and "not extracted" in document["warning"]
    # Once extracted, the same split has nothing to say, and split.json its usual keys.
    assert run_cli("extract", LABELED).exit_code == 0
    again = run_cli("split", "--out", str(tmp_path / "again"))
    assert again.exit_code == 0 and warnings(again) == []
    assert "images_extracted" not in json.loads((tmp_path / "again" / "split.json").read_text())


def test_the_same_split_made_again_after_extracting_updates_split_json_in_place(
    labeled_zip: BuiltArchive, labeled_served: LocalServer, data_dir: Path, tmp_path: Path
) -> None:
    """The warning says to run `extract`; doing so and splitting again into the same
    folder is the same split, not "another split" that needs --force."""
    only_downloaded(labeled_zip, data_dir)
    out = tmp_path / "split"
    assert run_cli("split", "--out", str(out)).exit_code == 0
    csvs = {p.name: p.read_bytes() for p in out.glob("*.csv")}
    assert run_cli("extract", LABELED).exit_code == 0
    again = run_cli("split", "--out", str(out), "--json")
    assert again.exit_code == 0, again.stderr
    assert warnings(again) == [] and again.json()["images_extracted"] is True
    document = json.loads((out / "split.json").read_text())
    assert "images_extracted" not in document and "warning" not in document
    assert {p.name: p.read_bytes() for p in out.glob("*.csv")} == csvs
    # Another split in that folder still needs --force.
    other = run_cli("split", "--out", str(out), "--seed", "7")
    assert other.exit_code == 2 and "holds another split" in other.stderr


@pytest.mark.parametrize("where", ["file", "below a file"])
def test_extract_to_a_file_fails_before_downloading(
    where: str, labeled_served: LocalServer, tmp_path: Path, data_dir: Path
) -> None:
    blocker = tmp_path / "notes.txt"
    blocker.write_text("mine\n")
    target = blocker if where == "file" else blocker / "sub"
    result = run_cli("extract", LABELED, "--to", str(target))
    assert result.exit_code == 2, result.stderr
    assert f"--to {target}" in result.stderr and "not a folder" in result.stderr
    assert labeled_served.log == [] and not archive(data_dir, LABELED_ZIP).exists()
    assert blocker.read_text() == "mine\n"


def test_extract_delete_archive_says_it_deleted_the_archive(
    labeled_zip: BuiltArchive, labeled_served: LocalServer, data_dir: Path
) -> None:
    only_downloaded(labeled_zip, data_dir)
    result = run_cli("extract", LABELED, "--delete-archive")
    assert result.exit_code == 0, result.stderr
    path = archive(data_dir, LABELED_ZIP)
    assert not path.exists()
    (said,) = [line for line in result.stderr.splitlines() if "deleted" in line]
    assert f"deleted the archive {path}" in said and "CRC-32" in said
