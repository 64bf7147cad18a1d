"""The shards are read by the loaders labs use, with no custom code: Hugging Face
`datasets` straight from the bucket (moto's S3 server on 127.0.0.1), and `webdataset`."""

from __future__ import annotations

import hashlib
import json
import shutil
from collections import Counter
from pathlib import Path

import pytest

from hyperkvasir_cli.core.progress import SilentProgress
from hyperkvasir_cli.dataset.sources import DataSource
from hyperkvasir_cli.export.destination import open_destination
from hyperkvasir_cli.export.writer import ShardFormat, write_export
from tests.cli import run_cli
from tests.s3_server import Bucket
from tests.same import assert_same_bytes
from tests.zips import BuiltArchive, build_labeled_images

LABELED_ZIP = "hyper-kvasir-labeled-images.zip"


@pytest.fixture(scope="module")
def labeled_zip(tmp_path_factory: pytest.TempPathFactory) -> BuiltArchive:
    return build_labeled_images(tmp_path_factory.mktemp("zips") / LABELED_ZIP, 3)


@pytest.fixture
def split_folder(labeled_zip: BuiltArchive, data_dir: Path, tmp_path: Path) -> Path:
    archive = data_dir / "archives" / LABELED_ZIP
    archive.parent.mkdir(parents=True)
    shutil.copyfile(labeled_zip.path, archive)
    made = run_cli("split", "--ratios", "0.6,0.2,0.2", "--seed", "7", "--out", str(tmp_path / "s"))
    assert made.exit_code == 0, made.stderr
    return tmp_path / "s"


def _export(built: BuiltArchive, to: str, fmt: ShardFormat, split_dir: Path) -> None:
    destination = open_destination(to)
    try:
        write_export(
            DataSource("archive", built.path, "labeled-images"),
            "labeled-images",
            "labeled-images",
            fmt,
            destination,
            split_dir=split_dir,
            shard_bytes=3_000,  # several shards per split
            progress=SilentProgress(),
        )
    finally:
        destination.close()


def _expected(split_dir: Path) -> dict[str, dict[str, int]]:
    document = json.loads((split_dir / "split.json").read_text())
    return {name: entry["classes"] for name, entry in document["splits"].items()}


def test_datasets_reads_the_parquet_shards_from_the_bucket(
    labeled_zip: BuiltArchive,
    split_folder: Path,
    s3_bucket: Bucket,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    _export(labeled_zip, s3_bucket.url("shards/"), "parquet", split_folder)
    import datasets

    expected = _expected(split_folder)
    files = {name: s3_bucket.url(f"shards/{name}/*.parquet") for name in expected}
    loaded = datasets.load_dataset("parquet", data_files=files)
    members = {m: b for m, b in labeled_zip.members.items() if m.endswith(".jpg")}
    assert sum(len(loaded[name]) for name in expected) == len(members)
    for name, classes in expected.items():
        split = loaded[name]
        assert isinstance(split.features["image"], datasets.Image)
        assert dict(Counter(split["label"])) == classes
        raw = split.cast_column("image", datasets.Image(decode=False))
        for row in raw:
            data = row["image"]["bytes"]
            assert_same_bytes(data, members[row["path"]])
            assert row["sha256"] == hashlib.sha256(data).hexdigest()
        assert split[0]["image"].size[0] > 0  # decoded as a PIL image


def test_webdataset_reads_the_tar_shards(
    labeled_zip: BuiltArchive, split_folder: Path, tmp_path: Path
) -> None:
    import webdataset

    _export(labeled_zip, str(tmp_path / "out"), "webdataset", split_folder)
    for name, classes in _expected(split_folder).items():
        shards = sorted(str(p) for p in (tmp_path / "out" / name).glob("*.tar"))
        assert len(shards) > 1
        samples = list(webdataset.WebDataset(shards, shardshuffle=False, empty_check=False))
        labels = Counter()
        for sample in samples:
            fields = json.loads(sample["json"])
            assert hashlib.sha256(sample["jpg"]).hexdigest() == fields["sha256"]
            assert sample["__key__"] + ".jpg" == fields["path"]
            labels[fields["label"]] += 1
        assert dict(labels) == classes
