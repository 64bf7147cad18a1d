"""`hyperkvasir export` as a user runs it: shards of the extracted tree or the archive,
into a folder or a bucket, refusals with a hint."""

from __future__ import annotations

import json
import shutil
import socket
import sys
import zipfile
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from tests.cli import run_cli
from tests.s3_server import Bucket
from tests.zips import BuiltArchive, build_labeled_images

LABELED_ZIP = "hyper-kvasir-labeled-images.zip"


@pytest.fixture(scope="module")
def labeled_zip(tmp_path_factory: pytest.TempPathFactory) -> BuiltArchive:
    return build_labeled_images(tmp_path_factory.mktemp("zips") / LABELED_ZIP, 2)


@pytest.fixture
def labeled(labeled_zip: BuiltArchive, data_dir: Path) -> BuiltArchive:
    archive = data_dir / "archives" / LABELED_ZIP
    archive.parent.mkdir(parents=True)
    shutil.copyfile(labeled_zip.path, archive)
    with zipfile.ZipFile(archive) as zipped:
        zipped.extractall(data_dir)
    return BuiltArchive(archive, labeled_zip.members, labeled_zip.classes)


def images(built: BuiltArchive) -> list[str]:
    return sorted(m for m in built.members if m.endswith(".jpg"))


def test_export_parquet_from_the_tree(labeled: BuiltArchive, tmp_path: Path) -> None:
    out = tmp_path / "shards"
    result = run_cli("export", "labeled-images", "--format", "parquet", "--to", str(out), "--json")
    assert result.exit_code == 0, result.stderr
    document = result.json()
    assert (document["source"], document["to"], document["rows"]) == (
        "tree",
        str(out),
        len(images(labeled)),
    )
    (shard,) = document["splits"]["all"]["shards"]
    table = pq.read_table(out / shard["file"])
    assert table.column("path").to_pylist() == images(labeled)
    listing = json.loads((out / "export.json").read_text())
    assert listing["splits"] == document["splits"]


def test_export_webdataset_per_split_from_the_archive(
    labeled: BuiltArchive, tmp_path: Path
) -> None:
    made = run_cli("split", "--ratios", "0.5,0.5", "--out", str(tmp_path / "s"))
    assert made.exit_code == 0, made.stderr
    out = tmp_path / "wds"
    result = run_cli(
        "export", "labeled-images", "-F", "webdataset", "--to", str(out),
        "--split", str(tmp_path / "s"), "--from-archive", "--shard-size", "1KB",
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    assert sorted(p.name for p in out.iterdir()) == ["export.json", "test", "train"]
    assert len(list((out / "train").glob("train-*-of-*.tar"))) > 1
    assert "train" in result.stdout and "rows" in result.stdout


def test_export_to_a_bucket(labeled: BuiltArchive, s3_bucket: Bucket) -> None:
    result = run_cli(
        "export", "labeled-images", "--format", "parquet", "--to", s3_bucket.url("shards/")
    )
    assert result.exit_code == 0, result.stderr
    assert s3_bucket.keys("shards/") == [
        "shards/all/all-00000-of-00001.parquet",
        "shards/export.json",
    ]


def test_a_missing_bucket_exits_4_before_any_shard_is_made(
    labeled: BuiltArchive, s3_bucket: Bucket
) -> None:
    result = run_cli(
        "export", "labeled-images", "-F", "webdataset", "--to", f"s3://no-{s3_bucket.name}/x/"
    )
    assert result.exit_code == 4, result.stderr
    assert "no such bucket" in result.stderr and "hint:" in result.stderr
    assert "internal error" not in result.stderr and "started" not in result.stderr


def test_an_endpoint_out_of_reach_exits_4(
    labeled: BuiltArchive, s3_bucket: Bucket, monkeypatch: pytest.MonkeyPatch
) -> None:
    with socket.socket() as probe:  # a port that nothing listens on
        probe.bind(("127.0.0.1", 0))
        monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{probe.getsockname()[1]}")
        monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")  # botocore's own retries would back off
        result = run_cli("export", "labeled-images", "-F", "parquet", "--to", s3_bucket.url("x/"))
    assert result.exit_code == 4, result.stderr
    assert "unreachable" in result.stderr and "internal error" not in result.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--shard-size", "lots"], "--shard-size"),
        (["--split", "/nonexistent/split"], "no such folder"),
    ],
)
def test_bad_options_exit_2_with_a_hint(
    labeled: BuiltArchive, tmp_path: Path, args: list[str], message: str
) -> None:
    result = run_cli(
        "export", "labeled-images", "-F", "parquet", "--to", str(tmp_path / "o"), *args
    )
    assert result.exit_code == 2, result.stderr
    assert message in result.stderr and "hint:" in result.stderr


def test_a_folder_holding_other_files_is_refused(labeled: BuiltArchive, tmp_path: Path) -> None:
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep me")
    result = run_cli("export", "labeled-images", "-F", "parquet", "--to", str(tmp_path / "mine"))
    assert result.exit_code == 2 and "holds other files" in result.stderr
    assert (tmp_path / "mine" / "notes.txt").read_text() == "keep me"


def test_a_part_without_an_exporter_is_a_usage_error(tmp_path: Path) -> None:
    result = run_cli("export", "labeled-videos", "-F", "parquet", "--to", str(tmp_path / "o"))
    assert result.exit_code == 2 and "hint: parts it exports:" in result.stderr


def test_without_pyarrow_parquet_names_the_extra(
    labeled: BuiltArchive, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "pyarrow", None)
    result = run_cli("export", "labeled-images", "-F", "parquet", "--to", str(tmp_path / "o"))
    assert result.exit_code == 3
    assert "pip install 'hyperkvasir[export]'" in result.stderr
    assert not (tmp_path / "o").exists()
