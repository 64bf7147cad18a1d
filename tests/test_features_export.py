"""The features joined with clusters and predicted labels, written as CSV and Parquet; and
pseudo-labelled splits of the unlabeled images."""

from __future__ import annotations

import csv
import json
import os
from fractions import Fraction
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from hyperkvasir_cli.core.errors import ArchiveError, UsageError
from hyperkvasir_cli.dataset.split.assign import make_split
from hyperkvasir_cli.dataset.split.pseudo import pseudo_label_items
from hyperkvasir_cli.dataset.split.writers import Provenance, write_split_files
from hyperkvasir_cli.dataset.tables.joined import joined_features
from hyperkvasir_cli.dataset.tables.predictions import ModelFile
from hyperkvasir_cli.export import features as export_features
from hyperkvasir_cli.export.destination import FolderDestination
from hyperkvasir_cli.export.features import export_table
from tests.side_files import arff_text, class_index, clusters_text, inference_text, write

ROWS = [(f"u{i}.jpg", [i / 7, i * 1.5, -i], f"cluster{i % 3}") for i in range(50)]


@pytest.fixture
def inputs(tmp_path: Path) -> tuple[Path, Path, list[ModelFile]]:
    arff = write(tmp_path / "in" / "f.arff", arff_text(ROWS))
    # The clusters file lacks u49; model "a" labels the even images, "b" all of them.
    clusters = write(
        tmp_path / "in" / "clusters.csv", clusters_text([(n, c) for n, _, c in ROWS[:-1]])
    )
    a = [(n, class_index("polyps"), 0.95) for n, _, _ in ROWS[::2]]
    b = [(n, class_index("cecum" if i % 5 else "polyps"), 0.6) for i, (n, _, _) in enumerate(ROWS)]
    models = [
        ModelFile("a", write(tmp_path / "in" / "a.csv", inference_text(a, 1))),
        ModelFile("b", write(tmp_path / "in" / "b.csv", inference_text(b, 2))),
    ]
    return arff, clusters, models


def export(inputs: tuple[Path, Path, list[ModelFile]], out: Path, output: str) -> dict[str, object]:
    arff, clusters, models = inputs
    with joined_features(arff, clusters, models) as table:
        destination = FolderDestination(out)
        result = export_table(table, destination, output, subject="unlabeled-features")  # type: ignore[arg-type]
    return result.as_json()


def test_csv_export_has_every_row_with_its_cluster_and_labels(
    inputs: tuple[Path, Path, list[ModelFile]], tmp_path: Path
) -> None:
    doc = export(inputs, tmp_path / "out", "csv")
    with (tmp_path / "out" / "unlabeled-features.csv").open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == len(ROWS) == doc["rows"]
    assert list(rows[0]) == [
        "image",
        "filename",
        "JCD_0",
        "JCD_1",
        "Tamura_0",
        "cluster",
        "cluster-joined",
        "a",
        "b",
    ]
    for row, (name, values, cluster) in zip(rows, ROWS, strict=True):
        assert row["image"] == row["filename"] == name
        assert [row["JCD_0"], row["JCD_1"], row["Tamura_0"]] == [repr(float(v)) for v in values]
        assert row["cluster"] == cluster
    assert rows[0]["cluster-joined"] == "cluster0" and rows[-1]["cluster-joined"] == ""
    assert [r["a"] for r in rows[:2]] == ["polyps", ""]
    assert [r["b"] for r in rows[:2]] == ["polyps", "cecum"]
    assert doc["joined"] == {"rows": 50, "with_cluster": 49, "with_prediction": {"a": 25, "b": 50}}
    listing = json.loads((tmp_path / "out" / "export.json").read_text())
    assert listing["files"][0]["rows"] == 50 and listing["files"][0]["format"] == "csv"


def test_parquet_export_has_every_row_typed(
    inputs: tuple[Path, Path, list[ModelFile]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(export_features, "VALUES_PER_BATCH", 90)  # 10 rows per row group
    export(inputs, tmp_path / "out", "parquet")
    table = pq.read_table(tmp_path / "out" / "unlabeled-features.parquet")
    assert table.num_rows == 50
    assert pq.ParquetFile(tmp_path / "out" / "unlabeled-features.parquet").num_row_groups == 5
    assert str(table.schema.field("JCD_1").type) == "double"
    assert table.column("JCD_1").to_pylist() == [v[1] for _, v, _ in ROWS]
    assert table.column("image").to_pylist() == [n for n, _, _ in ROWS]
    assert table.column("a").to_pylist()[:2] == ["polyps", None]


def test_both_formats_share_a_folder_and_the_listing_names_both(
    inputs: tuple[Path, Path, list[ModelFile]], tmp_path: Path
) -> None:
    export(inputs, tmp_path / "out", "csv")
    export(inputs, tmp_path / "out", "parquet")
    listing = json.loads((tmp_path / "out" / "export.json").read_text())
    assert [f["file"] for f in listing["files"]] == [
        "unlabeled-features.csv",
        "unlabeled-features.parquet",
    ]


def test_the_same_inputs_give_the_same_bytes(
    inputs: tuple[Path, Path, list[ModelFile]], tmp_path: Path
) -> None:
    for output in ("csv", "parquet"):
        first = export(inputs, tmp_path / "one", output)
        second = export(inputs, tmp_path / "two", output)
        assert first["files"] == second["files"]  # type: ignore[index]


def test_an_earlier_export_is_replaced_in_place(
    inputs: tuple[Path, Path, list[ModelFile]], tmp_path: Path
) -> None:
    first = export(inputs, tmp_path / "out", "csv")
    again = export(inputs, tmp_path / "out", "csv")
    assert again["files"] == first["files"]
    assert sorted(os.listdir(tmp_path / "out")) == ["export.json", "unlabeled-features.csv"]


def test_a_value_that_is_not_a_number_stops_the_export_and_leaves_nothing(
    tmp_path: Path,
) -> None:
    text = arff_text(ROWS[:3]).replace("'u1.jpg',0.14285714285714285", "'u1.jpg',abc")
    arff = write(tmp_path / "f.arff", text)
    with (
        pytest.raises(ArchiveError, match="line 12: JCD_0: expected a number, found 'abc'"),
        joined_features(arff) as table,
    ):
        export_table(
            table, FolderDestination(tmp_path / "out"), "parquet", subject="unlabeled-features"
        )
    assert os.listdir(tmp_path / "out") == []


def test_exported_files_honour_the_umask(
    inputs: tuple[Path, Path, list[ModelFile]], tmp_path: Path
) -> None:
    old = os.umask(0o027)
    try:
        export(inputs, tmp_path / "out", "csv")
    finally:
        os.umask(old)
    assert (tmp_path / "out" / "unlabeled-features.csv").stat().st_mode & 0o777 == 0o640


# ---- pseudo-labelled splits -----------------------------------------------------------


def test_pseudo_labels_keep_what_the_models_agree_on_confidently(
    inputs: tuple[Path, Path, list[ModelFile]],
) -> None:
    _, _, (a, b) = inputs
    alone = pseudo_label_items([a], 0.9)
    assert len(alone.items) == 25 and {i.label for i in alone.items} == {"polyps"}
    assert alone.items[0].path == "unlabeled-images/images/u0.jpg"
    assert alone.items[0].organ == "lower-gi-tract"
    # Both: b is 0.6 sure, so 0.9 keeps nothing; 0.5 keeps where both say polyps
    # (the images that are even and a multiple of 5: u0, u10, u20, u30, u40).
    both = pseudo_label_items([a, b], 0.9)
    assert len(both.items) == 0 and both.below_confidence == 5
    kept = pseudo_label_items([a, b], 0.5)
    assert [i.path.rsplit("/", 1)[-1] for i in kept.items] == [
        f"u{n}.jpg" for n in (0, 10, 20, 30, 40)
    ]
    assert (kept.images, kept.not_in_every_model, kept.disagreeing) == (50, 25, 20)


def test_pseudo_labelled_split_is_written_like_every_other(
    inputs: tuple[Path, Path, list[ModelFile]], tmp_path: Path
) -> None:
    _, _, (a, _) = inputs
    labels = pseudo_label_items([a], 0.9)
    split = make_split(
        labels.items, "stratified", (Fraction(4, 5), Fraction(1, 5)), ("train", "test"), 0
    )
    provenance = Provenance(
        part="unlabeled-images",
        manifest="bundled manifest",
        dataset="hyper-kvasir",
        dataset_version="2020",
        tool_version="0",
        pseudo_labels=labels.as_json(),
    )
    write_split_files(tmp_path / "split", split, provenance, "csv", force=False)
    with (tmp_path / "split" / "train.csv").open() as handle:
        train = list(csv.DictReader(handle))
    assert len(train) == 20 and train[0]["class"] == "polyps"
    assert train[0]["path"].startswith("unlabeled-images/images/")
    meta = json.loads((tmp_path / "split" / "split.json").read_text())
    assert meta["pseudo_labels"]["models"] == ["a"] and meta["pseudo_labels"]["kept"] == 25
    assert meta["total"] == 25


def test_min_confidence_outside_0_to_1_exits_2(inputs: tuple[Path, Path, list[ModelFile]]) -> None:
    with pytest.raises(UsageError, match="from 0 to 1"):
        pseudo_label_items(inputs[2], 1.5)
