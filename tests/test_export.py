"""Training-ready shards (Parquet, WebDataset) of the labeled and segmented images, from
the extracted tree or straight from the archive, to a folder or a bucket; read back with
pyarrow and tarfile, checked against the zip's members byte for byte."""

from __future__ import annotations

import hashlib
import io
import json
import shutil
import tarfile
import zipfile
from collections import Counter
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from hyperkvasir_cli.core.errors import UsageError
from hyperkvasir_cli.core.progress import SilentProgress
from hyperkvasir_cli.dataset.sources import DataSource
from hyperkvasir_cli.export.destination import open_destination
from hyperkvasir_cli.export.plan import plan_shards
from hyperkvasir_cli.export.writer import ExportResult, ShardFormat, write_export
from tests.cli import run_cli
from tests.s3_server import Bucket
from tests.same import assert_same_bytes
from tests.zips import BuiltArchive, build_labeled_images, build_segmented_images

LABELED_ZIP = "hyper-kvasir-labeled-images.zip"
SEGMENTED_ZIP = "hyper-kvasir-segmented-images.zip"


@pytest.fixture(scope="module")
def labeled_zip(tmp_path_factory: pytest.TempPathFactory) -> BuiltArchive:
    return build_labeled_images(tmp_path_factory.mktemp("zips") / LABELED_ZIP, 3)


@pytest.fixture
def labeled(labeled_zip: BuiltArchive, data_dir: Path) -> BuiltArchive:
    archive = data_dir / "archives" / LABELED_ZIP
    archive.parent.mkdir(parents=True)
    shutil.copyfile(labeled_zip.path, archive)
    return BuiltArchive(archive, labeled_zip.members, labeled_zip.classes)


def images_of(built: BuiltArchive) -> dict[str, bytes]:
    return {m: b for m, b in built.members.items() if m.endswith(".jpg")}


def export(
    source: DataSource,
    to: str,
    fmt: ShardFormat = "parquet",
    part: str = "labeled-images",
    **options: object,
) -> ExportResult:
    destination = open_destination(to)
    try:
        return write_export(
            source,
            part,
            part,
            fmt,
            destination,
            shard_bytes=int(options.pop("shard_bytes", 500_000_000)),  # type: ignore[call-overload]
            progress=SilentProgress(),
            **options,  # type: ignore[arg-type]
        )
    finally:
        destination.close()


def archive_source(built: BuiltArchive, root: str = "labeled-images") -> DataSource:
    return DataSource("archive", built.path, root)


def read_parquet_rows(folder: Path) -> list[dict[str, object]]:
    rows: list[dict[str, object]] = []
    for shard in sorted(folder.rglob("*.parquet")):
        rows += pq.read_table(shard).to_pylist()
    return rows


def test_shards_and_row_groups_are_cut_by_bytes() -> None:
    plans = plan_shards([10] * 10, shard_bytes=35, group_bytes=20)
    assert [(p.start, p.end) for p in plans] == [(0, 4), (4, 8), (8, 10)]
    assert plans[0].groups() == [(0, 2), (2, 4)]
    assert [(p.start, p.end) for p in plan_shards([], 10)] == [(0, 0)]
    assert [(p.start, p.end) for p in plan_shards([5], 10)] == [(0, 1)]


def test_parquet_rows_hold_every_image_with_its_labels_and_sha256(
    labeled: BuiltArchive, tmp_path: Path
) -> None:
    result = export(archive_source(labeled), str(tmp_path / "out"))
    images = images_of(labeled)
    rows = read_parquet_rows(tmp_path / "out" / "all")
    assert [r["path"] for r in rows] == sorted(images)
    for row in rows:
        path = str(row["path"])
        assert row["image"] == {"bytes": images[path], "path": path}
        assert row["sha256"] == hashlib.sha256(images[path]).hexdigest()
        assert path.split("/")[1:4] == [row["organ"], row["category"], row["label"]]
        assert row["split"] == "all"
    assert Counter(r["label"] for r in rows) == Counter(
        {k: v for k, v in labeled.classes.items() if v}
    )
    listing = json.loads((tmp_path / "out" / "export.json").read_text())
    (shard,) = listing["splits"]["all"]["shards"]
    data = (tmp_path / "out" / shard["file"]).read_bytes()
    assert shard["sha256"] == hashlib.sha256(data).hexdigest() and shard["rows"] == len(rows)
    assert listing["rows"] == result.rows == len(images)


def test_parquet_schema_carries_the_hugging_face_image_feature(
    labeled: BuiltArchive, tmp_path: Path
) -> None:
    export(archive_source(labeled), str(tmp_path / "out"))
    schema = pq.read_schema(next((tmp_path / "out" / "all").glob("*.parquet")))
    features = json.loads(schema.metadata[b"huggingface"])["info"]["features"]
    assert features["image"] == {"_type": "Image"}
    assert schema.field("image").type.names == ["bytes", "path"]


def test_small_shard_size_gives_several_shards_and_row_groups(
    labeled: BuiltArchive, tmp_path: Path
) -> None:
    total = sum(len(b) for b in images_of(labeled).values())
    result = export(
        archive_source(labeled),
        str(tmp_path / "out"),
        shard_bytes=total // 3,
        group_bytes=total // 9,
    )
    shards = result.splits[0].shards
    assert len(shards) >= 3
    assert shards[0].file == f"all/all-00000-of-{len(shards):05d}.parquet"
    assert pq.ParquetFile(tmp_path / "out" / shards[0].file).num_row_groups >= 2
    assert sum(s.rows for s in shards) == len(images_of(labeled))
    assert len(read_parquet_rows(tmp_path / "out")) == len(images_of(labeled))


def test_same_input_gives_byte_identical_shards_from_tree_or_archive(
    labeled: BuiltArchive, tmp_path: Path
) -> None:
    with zipfile.ZipFile(labeled.path) as zipped:
        zipped.extractall(tmp_path / "tree")
    for fmt in ("parquet", "webdataset"):
        first = export(archive_source(labeled), str(tmp_path / f"a-{fmt}"), fmt)  # type: ignore[arg-type]
        second = export(DataSource("tree", tmp_path / "tree", "labeled-images"),
                        str(tmp_path / f"b-{fmt}"), fmt)  # type: ignore[arg-type]  # fmt: skip
        assert first.listing_json() == second.listing_json()
        assert_same_bytes(
            tmp_path / f"a-{fmt}" / "export.json", tmp_path / f"b-{fmt}" / "export.json"
        )


def test_webdataset_shards_hold_image_and_json_per_sample(
    labeled: BuiltArchive, tmp_path: Path
) -> None:
    export(archive_source(labeled), str(tmp_path / "out"), "webdataset")
    (shard,) = (tmp_path / "out" / "all").glob("*.tar")
    images = images_of(labeled)
    with tarfile.open(shard) as tar:
        members = tar.getmembers()
        assert {(m.uid, m.gid, m.uname, m.gname, m.mode, m.mtime) for m in members} == {
            (0, 0, "", "", 0o644, 1577836800)
        }
        names = [m.name for m in members]
        assert names == [n for path in sorted(images) for n in (path, path[:-4] + ".json")]
        for path, data in images.items():
            assert_same_bytes(tar.extractfile(path).read(), data)  # type: ignore[union-attr]
            sample = json.loads(tar.extractfile(path[:-4] + ".json").read())  # type: ignore[union-attr]
            assert sample["sha256"] == hashlib.sha256(data).hexdigest()
            assert (sample["path"], sample["label"]) == (path, path.split("/")[3])


def test_one_folder_per_split_of_a_split_folder(
    labeled: BuiltArchive, data_dir: Path, tmp_path: Path
) -> None:
    made = run_cli("split", "--ratios", "0.6,0.4", "--seed", "3", "--out", str(tmp_path / "s"))
    assert made.exit_code == 0, made.stderr
    result = export(archive_source(labeled), str(tmp_path / "out"), split_dir=tmp_path / "s")
    split_json = json.loads((tmp_path / "s" / "split.json").read_text())
    assert [s.name for s in result.splits] == list(split_json["splits"]) == ["train", "test"]
    for name, described in split_json["splits"].items():
        rows = read_parquet_rows(tmp_path / "out" / name)
        assert len(rows) == described["total"]
        assert dict(Counter(r["label"] for r in rows)) == described["classes"]
        assert {r["split"] for r in rows} == {name}


def test_a_split_of_another_part_is_refused(labeled: BuiltArchive, tmp_path: Path) -> None:
    (tmp_path / "s").mkdir()
    (tmp_path / "s" / "split.json").write_text(
        json.dumps({"part": "segmented-images", "splits": {}})
    )
    with pytest.raises(UsageError, match="split of segmented-images"):
        export(archive_source(labeled), str(tmp_path / "out"), split_dir=tmp_path / "s")


def test_segmented_rows_carry_the_mask_and_boxes(tmp_path: Path) -> None:
    built = build_segmented_images(tmp_path / SEGMENTED_ZIP, 5)
    source = archive_source(built, "segmented-images")
    export(source, str(tmp_path / "out"), part="segmented-images")
    rows = read_parquet_rows(tmp_path / "out")
    boxes = json.loads(built.members["segmented-images/bounding-boxes.json"])
    assert len(rows) == 5
    for row in rows:
        path = str(row["path"])
        mask = path.replace("/images/", "/masks/")
        assert row["mask"] == {"bytes": built.members[mask], "path": mask}
        key = path.rsplit("/", 1)[1][:-4]
        assert row["boxes"] == boxes[key]["bbox"]
        assert row["label"] == "polyps"


def test_a_second_export_removes_shards_it_no_longer_lists(
    labeled: BuiltArchive, tmp_path: Path
) -> None:
    total = sum(len(b) for b in images_of(labeled).values())
    export(archive_source(labeled), str(tmp_path / "out"), shard_bytes=total // 3)
    export(archive_source(labeled), str(tmp_path / "out"))
    assert sorted(p.name for p in (tmp_path / "out" / "all").iterdir()) == [
        "all-00000-of-00001.parquet"
    ]


def test_export_to_a_bucket_is_read_back_by_pyarrow(
    labeled: BuiltArchive, s3_bucket: Bucket, tmp_path: Path
) -> None:
    local = export(archive_source(labeled), str(tmp_path / "out"))
    remote = export(archive_source(labeled), s3_bucket.url("shards/"))
    assert remote.listing_json() == local.listing_json()
    assert s3_bucket.keys("shards/") == [
        "shards/all/all-00000-of-00001.parquet",
        "shards/export.json",
    ]
    data = s3_bucket.get("shards/all/all-00000-of-00001.parquet")
    assert_same_bytes(tmp_path / "out" / "all" / "all-00000-of-00001.parquet", data)
    table = pq.read_table(io.BytesIO(data))
    assert table.num_rows == len(images_of(labeled))
