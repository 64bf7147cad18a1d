"""The side files through the command line, as a user runs it: downloaded from a local
server, then `stats`, `split --from-predictions` and `parts` over them."""

from __future__ import annotations

import csv
import json
import zipfile
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from hyperkvasir_cli.cli.app import app
from hyperkvasir_cli.core.manifest import load_manifest
from tests.cli import Result, run_cli
from tests.downloads import archive, part_entry
from tests.http_server import LocalServer
from tests.side_files import (
    arff_text,
    avi_video_row,
    class_index,
    clusters_text,
    inference_text,
    served_as_bundled,
    video_metadata_text,
)
from tests.zips import build_labeled_videos

MODELS = ["predictions-densenet161-split0", "predictions-averaged-split0", "predictions-mlp-split0"]
IMAGES = [f"{i:08d}-0000-4000-8000-000000000000.jpg" for i in range(12)]
# Model 1 says polyps for all; model 2 polyps for the first 8, cecum after; model 3
# polyps for the first 6, ileum after. Scores: 0.95, 0.8, 0.7.
LABELS = {
    MODELS[0]: ([class_index("polyps")] * 12, 0.95),
    MODELS[1]: ([class_index("polyps")] * 8 + [class_index("cecum")] * 4, 0.8),
    MODELS[2]: ([class_index("polyps")] * 6 + [class_index("ileum")] * 6, 0.7),
}
ARFF_ROWS = [(n, [i, i / 2, 1.0], f"cluster{i % 4}") for i, n in enumerate(IMAGES)]


@dataclass
class Scene:
    server: LocalServer
    manifest: Path
    data_dir: Path
    contents: dict[str, bytes]
    videos: dict[str, bytes]

    def run(self, *args: str) -> Result:
        result = run_cli(*args, "--manifest", str(self.manifest))
        assert "Traceback" not in result.stderr
        return result

    def download(self, *names: str) -> None:
        result = self.run("download", *names)
        assert result.exit_code == 0, result.stderr


def _video_metadata(members: dict[str, bytes]) -> bytes:
    rows = [avi_video_row(p, data) for p, data in sorted(members.items()) if p.endswith(".avi")]
    return video_metadata_text(rows).encode()


@pytest.fixture
def scene(http_server: LocalServer, tmp_path: Path, data_dir: Path) -> Scene:
    built = build_labeled_videos(tmp_path / "src" / "hyper-kvasir-videos.zip", per_finding=2)
    contents = {
        "labeled-videos": built.path.read_bytes(),
        "video-metadata": _video_metadata(built.members),
        "unlabeled-features-arff": arff_text(ARFF_ROWS).encode(),
        "unlabeled-clusters": clusters_text([(n, c) for n, _, c in ARFF_ROWS]).encode(),
        "image-metadata": b"file-name;class-name;width;height;kilobytes\n",
    }
    for seed, (model, (labels, score)) in enumerate(LABELS.items()):
        rows = [(n, label, score) for n, label in zip(IMAGES, labels, strict=True)]
        contents[model] = inference_text(rows, seed).encode()
    bundled = load_manifest()
    entries = served_as_bundled(http_server, bundled, contents)
    unlabeled = bundled.part("unlabeled-images")  # its published count: 99,417
    entries.append(
        part_entry(
            unlabeled.name,
            unlabeled.file,
            [http_server.url(unlabeled.file)],
            root=unlabeled.root,
            expected={"files": unlabeled.expected.files},
        )
    )
    groups = [
        {"name": "unlabeled-features", "parts": ["unlabeled-features-arff", "unlabeled-clusters"]},
        {"name": "unlabeled-predictions", "parts": MODELS},
    ]
    manifest = tmp_path / "manifest.yaml"
    manifest.write_text(
        yaml.safe_dump({"dataset": "hyper-kvasir", "parts": entries, "groups": groups})
    )
    return Scene(http_server, manifest, data_dir, contents, built.members)


# ---- stats ----------------------------------------------------------------------------


def test_video_stats_use_the_downloaded_metadata_and_say_where_it_disagrees(
    scene: Scene,
) -> None:
    scene.download("labeled-videos", "video-metadata")
    headers = scene.run("stats", "labeled-videos", "--json").json()
    assert {v["info_source"] for v in headers["videos"]} == {"metadata", "none"}
    assert headers["metadata"]["matched"] == 5
    assert headers["metadata"]["videos_without_row"][0].endswith(".mpg")
    compared = scene.run("stats", "labeled-videos", "--video-headers", "--json").json()
    assert compared["metadata"]["headers_compared"] is True
    assert compared["metadata"]["disagreements"] == []
    assert compared["findings"] == headers["findings"]
    text = scene.run("stats", "labeled-videos")
    assert "known (video metadata)" in text.stdout
    assert "no metadata row" in text.stdout and "videos without a metadata row: 1" in text.stdout


def test_a_tampered_pinned_metadata_file_is_not_used(scene: Scene) -> None:
    scene.download("labeled-videos", "video-metadata")
    path = archive(scene.data_dir, "hyper-kvasir-video-metadata.csv")
    path.write_bytes(path.read_bytes().replace(b";250;", b";251;"))
    result = scene.run("stats", "labeled-videos", "--json")
    assert result.exit_code == 0
    assert "is not the published file" in result.stderr and "not used" in result.stderr
    doc = result.json()
    assert doc["metadata"] is None and {v["info_source"] for v in doc["videos"]} == {
        "header",
        "none",
    }


def test_feature_and_prediction_stats_by_group_name(scene: Scene) -> None:
    scene.download("unlabeled-features", "unlabeled-predictions")
    features = scene.run("stats", "unlabeled-features", "--json").json()
    assert features["rows"] == 12 and features["clusters"] == {f"cluster{i}": 3 for i in range(4)}
    assert features["clusters_file"]["disagree"] == 0 and features["matches_published"] is True
    predictions = scene.run("stats", "unlabeled-predictions", "--json").json()
    counts = {
        m["model"]: {k: v for k, v in m["classes"].items() if v} for m in predictions["models"]
    }
    assert counts == {
        MODELS[0]: {"polyps": 12},
        MODELS[1]: {"polyps": 8, "cecum": 4},
        MODELS[2]: {"polyps": 6, "ileum": 6},
    }
    assert predictions["agreement"]["unanimous"] == 6
    one = scene.run("stats", MODELS[1], "--json").json()
    assert [m["model"] for m in one["models"]] == [MODELS[1]]
    both = scene.run("stats", "unlabeled-features", "unlabeled-predictions", "--json").json()
    assert [p["part"] for p in both["parts"]] == ["unlabeled-features", "unlabeled-predictions"]


@pytest.mark.parametrize("form", [(), ("--format", "csv"), ("--format", "markdown")])
def test_prediction_stats_print_for_people_and_as_csv(scene: Scene, form: tuple[str, ...]) -> None:
    scene.download("unlabeled-predictions", "unlabeled-features")
    result = scene.run("stats", "unlabeled-predictions", "unlabeled-features", *form)
    assert result.exit_code == 0, result.stderr
    if form[1:] == ("csv",):
        rows = list(csv.DictReader(result.stdout.splitlines()))
        cecum = [
            r for r in rows if r["section"] == f"predicted:{MODELS[1]}" and r["name"] == "cecum"
        ]
        assert cecum[0]["count"] == "4"
        assert [r["count"] for r in rows if r["name"] == "cluster2"] == ["3"]
    else:
        assert "every model agrees" in result.stdout and "cluster3" in result.stdout


def test_stats_strict_exits_5_when_a_model_misses_published_images(scene: Scene) -> None:
    scene.download("unlabeled-predictions")
    result = scene.run("stats", "unlabeled-predictions", "--strict")
    assert result.exit_code == 5
    assert "12 images, 99,417 published" in result.stderr


def test_stats_of_side_files_not_downloaded_exits_2_with_the_command_to_run(scene: Scene) -> None:
    result = scene.run("stats", "unlabeled-features")
    assert result.exit_code == 2
    assert "hyperkvasir download unlabeled-features" in result.stderr


# ---- split --from-predictions ---------------------------------------------------------


def test_pseudo_labelled_split_fetches_the_predictions_and_writes_like_any_split(
    scene: Scene, tmp_path: Path
) -> None:
    out = tmp_path / "pseudo"
    args = ("split", "--from-predictions", "densenet161-split0,averaged-split0", "-M", "0.75")
    result = scene.run(*args, "--ratios", "0.5,0.5", "--out", str(out), "--json")
    assert result.exit_code == 0, result.stderr
    doc = result.json()
    # Both models say polyps for the first 8 images, and both are at least 0.75 sure.
    assert doc["total"] == 8 and doc["splits"]["train"]["classes"] == {"polyps": 4}
    assert doc["pseudo_labels"]["kept"] == 8 and doc["pseudo_labels"]["disagreeing"] == 4
    # No unlabeled archive here: the images come from the predicted labels, not from it.
    assert "read from the archive" not in result.stderr
    assert "hyperkvasir download unlabeled-images --extract" in result.stderr
    with (out / "test.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert all(r["path"].startswith("unlabeled-images/images/") for r in rows)
    meta = json.loads((out / "split.json").read_text())
    assert [f["model"] for f in meta["pseudo_labels"]["files"]] == MODELS[:2]
    assert meta["part"] == "unlabeled-images" and meta["pseudo_labels"]["min_confidence"] == 0.75
    again = scene.run(*args, "--ratios", "0.5,0.5", "--out", str(out), "--json")
    assert again.json()["unchanged"] is True
    stricter = scene.run(
        "split", "--from-predictions", "all", "-M", "0.75", "--out", str(tmp_path / "x")
    )
    assert stricter.exit_code == 2 and "lower --min-confidence" in stricter.stderr


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (("--from-predictions", "resnet50"), "unknown model 'resnet50'"),
        (("--from-predictions", "all", "--strategy", "official"), "--strategy official"),
        (("--from-predictions", "all", "--part", "segmented-images"), "splits the unlabeled"),
        (("--from-predictions", "all", "--min-confidence", "1.5"), "less than or equal to 1"),
    ],
)
def test_pseudo_split_usage_errors_exit_2(scene: Scene, args: tuple[str, ...], says: str) -> None:
    result = scene.run("split", *args)
    assert result.exit_code == 2
    assert says in result.stderr


# ---- parts and completion --------------------------------------------------------------


def test_parts_lists_the_groups(scene: Scene) -> None:
    doc = scene.run("parts", "--json").json()
    assert doc["groups"][1] == {
        "name": "unlabeled-predictions",
        "parts": MODELS,
        "description": None,
    }
    text = scene.run("parts").stdout
    assert "group unlabeled-features: unlabeled-features-arff, unlabeled-clusters" in text


def test_group_names_complete_like_part_names() -> None:
    result = CliRunner().invoke(
        app,
        [],
        env={
            "_HYPERKVASIR_COMPLETE": "complete_bash",
            "COMP_WORDS": "hyperkvasir download unlabeled-p",
            "COMP_CWORD": "2",
        },
        prog_name="hyperkvasir",
    )
    assert result.stdout.split() == ["unlabeled-predictions"]


def test_downloaded_side_files_sync_and_checksum(scene: Scene) -> None:
    scene.download("video-metadata", "unlabeled-features")
    result = scene.run("sync", "video-metadata", "unlabeled-features", "--json")
    assert result.exit_code == 0, result.stderr
    checked = scene.run("checksum", "--json")
    assert checked.exit_code == 0 and checked.json()["ok"] is True
    names = {i["part"] for i in checked.json()["items"]} if "items" in checked.json() else set()
    assert not names or {"video-metadata", "unlabeled-clusters"} <= names
    assert zipfile.is_zipfile(scene.data_dir / "archives" / "hyper-kvasir-videos.zip") is False


# ---- export unlabeled-features ---------------------------------------------------------


def test_export_features_fetches_the_arff_and_writes_every_row(
    scene: Scene, tmp_path: Path
) -> None:
    out = tmp_path / "features"
    result = scene.run("export", "unlabeled-features", "--format", "csv", "--to", str(out))
    assert result.exit_code == 0, result.stderr
    assert "nothing to join" in result.stderr  # clusters and predictions not downloaded
    with (out / "unlabeled-features.csv").open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [r["image"] for r in rows] == IMAGES
    assert list(rows[0]) == ["image", "filename", "JCD_0", "JCD_1", "Tamura_0", "cluster"]
    assert archive(scene.data_dir, "all-Images-global-features-and-clusters.arff").is_file()


def test_export_features_as_parquet_joins_clusters_and_every_model(
    scene: Scene, tmp_path: Path
) -> None:
    import pyarrow.parquet as pq

    scene.download("unlabeled-features", "unlabeled-predictions")
    out = tmp_path / "features"
    result = scene.run(
        "export", "unlabeled-features", "--format", "parquet", "--to", str(out), "--json"
    )
    assert result.exit_code == 0, result.stderr
    doc = result.json()
    assert doc["rows"] == 12 and doc["joined"]["with_prediction"] == dict.fromkeys(MODELS, 12)
    table = pq.read_table(out / "unlabeled-features.parquet")
    assert table.num_rows == 12
    assert table.column("cluster-joined").to_pylist() == [c for _, _, c in ARFF_ROWS]
    assert table.column(MODELS[1]).to_pylist() == ["polyps"] * 8 + ["cecum"] * 4
    listing = json.loads((out / "export.json").read_text())
    assert listing["files"][0]["sha256"] == doc["files"][0]["sha256"]


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (("unlabeled-features", "--format", "webdataset"), "exports as csv or parquet"),
        (("unlabeled-predictions", "--format", "csv"), "exported with the features"),
        (("unlabeled-features", "--format", "csv", "--split", "."), "--split applies"),
    ],
)
def test_export_features_usage_errors_exit_2(
    scene: Scene, tmp_path: Path, args: tuple[str, ...], says: str
) -> None:
    result = scene.run("export", *args, "--to", str(tmp_path / "out"))
    assert result.exit_code == 2
    assert says in result.stderr


# ---- the Python API --------------------------------------------------------------------


def test_the_api_counts_splits_and_exports_the_side_files(scene: Scene, tmp_path: Path) -> None:
    from hyperkvasir_cli import HyperKvasir, UsageError

    hk = HyperKvasir(manifest=scene.manifest)
    with pytest.raises(UsageError, match="is a group of parts"):
        hk.download("unlabeled-predictions")  # one path per call: name a part
    for model in MODELS:
        hk.download(model)
    counted = hk.stats("unlabeled-predictions")
    assert counted.as_json()["agreement"]["unanimous"] == 6
    split = hk.split(
        ratios=(0.5, 0.5),
        out=tmp_path / "pseudo",
        from_predictions=["densenet161-split0", "averaged-split0"],
        min_confidence=0.75,
    )
    assert len(split.split.items) == 8
    exported = hk.export_features(tmp_path / "features", format="csv")
    assert exported.rows == 12 and (tmp_path / "features" / "unlabeled-features.csv").is_file()


def test_the_api_export_takes_the_features_too(scene: Scene, tmp_path: Path) -> None:
    from hyperkvasir_cli import HyperKvasir

    hk = HyperKvasir(manifest=scene.manifest)
    outcome = hk.export("unlabeled-features", "parquet", tmp_path / "features")
    assert outcome.as_json()["rows"] == 12
    assert (tmp_path / "features" / "unlabeled-features.parquet").is_file()


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (("ls", "unlabeled-features"), "is a group of parts"),
        (("ls", "unlabeled-clusters"), "not a zip but a csv file: it has no members"),
        (("extract", "unlabeled-features-arff"), "not a zip but a arff file"),
        (("stats", "video-metadata"), "read by `hyperkvasir stats labeled-videos`"),
        (("stats", "image-metadata"), "stats labeled-images --images"),
    ],
)
def test_side_files_where_a_zip_or_a_data_part_is_needed_exit_2(
    scene: Scene, args: tuple[str, ...], says: str
) -> None:
    scene.download("unlabeled-features")
    result = scene.run(*args)
    assert result.exit_code == 2, result.stderr
    assert says in result.stderr


def test_remote_video_stats_read_no_header_when_the_metadata_is_here(
    scene: Scene, fake_clock: object
) -> None:
    """`stats labeled-videos --remote` reads the server's directory; with the metadata
    downloaded it needs no ranged read of a video header at all."""
    file = "hyper-kvasir-videos.zip"
    without = scene.run("stats", "labeled-videos", "--remote", "--json")
    assert without.exit_code == 0, without.stderr
    requests_without = len(scene.server.gets(file))
    scene.download("video-metadata")
    with_metadata = scene.run("stats", "labeled-videos", "--remote", "--json")
    assert with_metadata.exit_code == 0, with_metadata.stderr
    requests_with = len(scene.server.gets(file)) - requests_without
    doc = with_metadata.json()
    assert {v["info_source"] for v in doc["videos"]} == {"metadata", "none"}
    assert doc["findings"] == without.json()["findings"]  # the same durations
    # The second run finds the directory kept (at most a conditional check) and reads
    # no header: fewer requests than the headers the first run read.
    headers_read = sum(1 for v in without.json()["videos"] if v["info_source"] == "header")
    assert headers_read == 5 and requests_with < headers_read
