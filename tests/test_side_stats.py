"""Statistics from the side files: video and image metadata beside the files, the ARFF's
clusters, the models' predicted labels; every number checked against a hand count."""

from __future__ import annotations

import io
import shutil
import struct
import zipfile
from pathlib import Path

import pytest
from PIL import Image

from hyperkvasir_cli.core.manifest import Part
from hyperkvasir_cli.dataset.sources import DataSource
from hyperkvasir_cli.dataset.stats.base import StatsOptions
from hyperkvasir_cli.dataset.stats.compute import LabeledStats, compute_stats
from hyperkvasir_cli.dataset.stats.features import features_stats
from hyperkvasir_cli.dataset.stats.predictions import prediction_stats
from hyperkvasir_cli.dataset.stats.video_metadata import VideoMetadata
from hyperkvasir_cli.dataset.stats.videos import VideoStats
from hyperkvasir_cli.dataset.tables.predictions import ModelFile
from hyperkvasir_cli.dataset.tables.video_metadata import read_video_metadata
from tests.side_files import (
    VideoRow,
    arff_text,
    class_index,
    clusters_text,
    image_metadata_text,
    inference_text,
    video_metadata_text,
    write,
)
from tests.zips import avi_bytes, build_labeled_images, build_labeled_videos

VIDEOS = Part(name="labeled-videos", file="v.zip", urls=["http://h/v.zip"], root="labeled-videos")
LABELED = Part(name="labeled-images", file="l.zip", urls=["http://h/l.zip"], root="labeled-images")


def avi_header(data: bytes) -> tuple[int, int, int, int]:
    """(frames, fps, width, height) of a test AVI, read the way the replica wrote them."""
    micro, _, _, _, frames, _, _, _, width, height = struct.unpack_from("<10I", data, 32)
    return frames, round(1_000_000 / micro), width, height


def metadata_for(members: dict[str, bytes], skip_mpg: bool = True) -> str:
    """The published metadata of the replica's AVIs, written as the real file is."""
    rows = []
    for path, data in sorted(members.items()):
        if not path.endswith(".avi"):
            continue
        frames, fps, width, height = avi_header(data)
        name = path.rsplit("/", 1)[-1]
        rows.append(VideoRow(name, "polyp resected", width, height, frames, fps, len(data)))
    return video_metadata_text(rows)


def tree_source(data_dir: Path, root: str) -> DataSource:
    return DataSource("tree", data_dir, root)


def video_stats_of(source: DataSource, metadata: Path | None, **options: bool) -> VideoStats:
    given = None
    if metadata is not None:
        given = VideoMetadata(str(metadata), read_video_metadata(metadata))
    result = compute_stats(VIDEOS, source, StatsOptions(video_metadata=given, **options))
    assert isinstance(result, VideoStats)
    return result


@pytest.fixture
def replica(tmp_path: Path) -> tuple[dict[str, bytes], Path]:
    built = build_labeled_videos(tmp_path / "videos.zip", per_finding=3)
    with zipfile.ZipFile(built.path) as zipped:
        zipped.extractall(tmp_path / "tree")
    return built.members, tmp_path / "tree"


def test_video_stats_from_metadata_equal_those_from_the_avis(
    replica: tuple[dict[str, bytes], Path], tmp_path: Path
) -> None:
    members, tree = replica
    from_headers = video_stats_of(tree_source(tree, "labeled-videos"), None)
    # A copy whose AVIs hold no header at all (same sizes): only the metadata can say.
    blind = tmp_path / "blind"
    shutil.copytree(tree, blind)
    for path, data in members.items():
        if path.endswith(".avi"):
            (blind / path).write_bytes(b"\0" * len(data))
    metadata = write(tmp_path / "hyper-kvasir-video-metadata.csv", metadata_for(members))
    from_metadata = video_stats_of(tree_source(blind, "labeled-videos"), metadata)
    assert from_metadata.findings == from_headers.findings
    assert from_metadata.seconds == from_headers.seconds == 2 * (10 + 20 + 30) + 10 + 20
    strip = [
        {k: v for k, v in video.as_json().items() if k != "info_source"}
        for video in from_metadata.videos
    ]
    assert strip == [
        {k: v for k, v in video.as_json().items() if k != "info_source"}
        for video in from_headers.videos
    ]
    sources = {v.where.path.rsplit(".", 1)[-1]: v.info_source for v in from_metadata.videos}
    assert sources == {"avi": "metadata", "mpg": "none"}
    check = from_metadata.metadata
    assert check is not None and check.matched == 8 and check.disagreements == []
    # The one MPEG has no row in this metadata: it is named, and it counts as a difference.
    assert [p.rsplit("/", 1)[-1].endswith(".mpg") for p in check.videos_without_row] == [True]
    assert "videos without a metadata row: 1" in from_metadata.differences()


def test_metadata_and_files_that_disagree_are_named(
    replica: tuple[dict[str, bytes], Path], tmp_path: Path
) -> None:
    members, tree = replica
    text = metadata_for(members)
    lines = text.splitlines()
    # Row 1: the size is off by 2 KiB; row 2: 1 frame more than the AVI says; plus a row
    # naming a video that is not here.
    first = lines[1].split(";")
    first[7] = str(int(first[7]) + 2)
    second = lines[2].split(";")
    second[4] = str(int(second[4]) + 1)
    lines[1], lines[2] = ";".join(first), ";".join(second)
    lines.append("Polypp 5.avi;polyp;720;576;5537;25;221;126567")
    metadata = write(tmp_path / "m.csv", "\n".join(lines) + "\n")
    source = tree_source(tree, "labeled-videos")
    without_headers = video_stats_of(source, metadata).metadata
    assert without_headers is not None and not without_headers.headers_compared
    assert [(d.field, d.metadata - d.file) for d in without_headers.disagreements] == [
        ("kilobytes", 2)
    ]
    assert without_headers.rows_without_video == ["Polypp 5.avi"]
    compared = video_stats_of(source, metadata, compare_video_headers=True)
    check = compared.metadata
    assert check is not None and check.headers_compared
    assert sorted((d.path.rsplit("/", 1)[-1], d.field) for d in check.disagreements) == sorted(
        [(first[0], "kilobytes"), (second[0], "frames")]
    )
    assert compared.as_json()["metadata"]["rows"] == 9
    assert any("differ from the metadata: 2" in d for d in compared.differences())


def test_video_stats_at_30_fps_from_metadata_equal_those_from_the_avis(tmp_path: Path) -> None:
    # An AVI header holds whole microseconds per frame (33,333 at 30 fps): the duration is
    # frames / fps, as the metadata gives it, not frames x 33,333 us (a few ms short).
    folder = "labeled-videos/lower-gi-tract/pathological-findings/polyps"
    members = {
        f"{folder}/a.avi": avi_bytes(1280, 1024, frames=3659, fps=30),
        f"{folder}/b.avi": avi_bytes(720, 576, frames=20845, fps=30),
        f"{folder}/c.avi": avi_bytes(720, 576, frames=1000, fps=25),
    }
    for path, data in members.items():
        (tmp_path / "tree" / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "tree" / path).write_bytes(data)
    from_headers = video_stats_of(tree_source(tmp_path / "tree", "labeled-videos"), None)
    metadata = write(tmp_path / "hyper-kvasir-video-metadata.csv", metadata_for(members))
    blind = tmp_path / "blind"
    for path, data in members.items():
        (blind / path).parent.mkdir(parents=True, exist_ok=True)
        (blind / path).write_bytes(b"\0" * len(data))
    from_metadata = video_stats_of(tree_source(blind, "labeled-videos"), metadata)
    assert from_metadata.findings == from_headers.findings
    assert from_metadata.seconds == from_headers.seconds == round(3659 / 30 + 20845 / 30 + 40, 3)


def test_video_metadata_read_from_the_archive_too(
    replica: tuple[dict[str, bytes], Path], tmp_path: Path
) -> None:
    members, tree = replica
    metadata = write(tmp_path / "m.csv", metadata_for(members))
    from_tree = video_stats_of(tree_source(tree, "labeled-videos"), metadata)
    from_zip = video_stats_of(
        DataSource("archive", tmp_path / "videos.zip", "labeled-videos"), metadata
    )
    assert from_zip.findings == from_tree.findings
    assert from_zip.metadata == from_tree.metadata


# ---- image metadata -------------------------------------------------------------------


def test_image_metadata_compared_with_the_images_read(tmp_path: Path) -> None:
    built = build_labeled_images(tmp_path / "l.zip", {"polyps": 3, "z-line": 2})
    with zipfile.ZipFile(built.path) as zipped:
        zipped.extractall(tmp_path / "tree")
    truth = {}  # file name -> [name, folder, width, height, bytes], as the script writes
    for path, data in sorted(built.members.items()):
        if path.endswith(".jpg"):
            width, height = Image.open(io.BytesIO(data)).size
            name = path.rsplit("/", 1)[-1]
            truth[name] = [name, path.split("/")[3], width, height, len(data)]
    polyp, polyp2, polyp3 = (n for n, row in truth.items() if row[1] == "polyps")
    zline = next(n for n, row in truth.items() if row[1] == "z-line")
    rows = {name: list(row) for name, row in truth.items()}
    rows[polyp][2] += 1  # the width is off by one
    rows[polyp2][4] = 999 << 10  # 999 KiB
    rows[zline][1] = "polyp"  # filed under another class (the split files' spelling)
    del rows[polyp3]
    extra = [["gone.jpg", "polyp", 1, 1, 0], ["u.jpg", "unlabeled", 1, 1, 0]]
    metadata = write(
        tmp_path / "hyper-kvasir-image-metadata.csv",
        image_metadata_text(
            [
                (str(r[0]), str(r[1]), int(r[2]), int(r[3]), int(r[4]))
                for r in [*rows.values(), *extra]
            ]
        ),
    )
    source = tree_source(tmp_path / "tree", "labeled-images")
    result = compute_stats(LABELED, source, StatsOptions(images=True, image_metadata=metadata))
    assert isinstance(result, LabeledStats) and result.image_metadata is not None
    check = result.image_metadata
    assert check.rows == 6 and check.compared == 4
    assert [p.rsplit("/", 1)[-1] for p in check.images_without_row] == [polyp3]
    assert check.rows_without_image == ["gone.jpg"]  # the unlabeled row is not this part's
    found = sorted(
        (d.path.rsplit("/", 1)[-1], d.field, d.metadata, d.file) for d in check.disagreements
    )
    assert found == sorted(
        [
            (polyp, "width", truth[polyp][2] + 1, truth[polyp][2]),
            (polyp2, "kilobytes", 999, truth[polyp2][4] >> 10),
            (zline, "class", "polyp", "z-line"),
        ]
    )
    doc = result.as_json()
    assert doc["image_metadata"]["compared"] == 4
    assert "images whose class, kilobytes, width differ from the metadata: 3" in doc["differences"]
    # Without --images nothing is read, so nothing is compared.
    plain = compute_stats(LABELED, source, StatsOptions(image_metadata=metadata))
    assert isinstance(plain, LabeledStats) and plain.image_metadata is None


# ---- features and clusters ------------------------------------------------------------

# A hand count: cluster0 x3, cluster1 x2, cluster2 x2.
ARFF_ROWS = [
    ("u1.jpg", [0.1, 0.2, 0.3], "cluster0"),
    ("u2.jpg", [1.1, 1.2, 1.3], "cluster1"),
    ("u3.jpg", [2.1, 2.2, 2.3], "cluster0"),
    ("u4.jpg", [3.1, 3.2, 3.3], "cluster2"),
    ("u5.jpg", [4.1, 4.2, 4.3], "cluster1"),
    ("u6.jpg", [5.1, 5.2, 5.3], "cluster0"),
    ("u7.jpg", [6.1, 6.2, 6.3], "cluster2"),
]


def test_feature_stats_count_attributes_rows_and_clusters(tmp_path: Path) -> None:
    arff = write(tmp_path / "f.arff", arff_text(ARFF_ROWS))
    result = features_stats(arff, None)
    assert result.rows == 7
    assert result.clusters == {"cluster0": 3, "cluster1": 2, "cluster2": 2}
    assert result.clusters_from == "arff"
    assert (result.image_attribute, result.cluster_attribute) == ("filename", "cluster")
    doc = result.as_json()
    assert doc["attribute_count"] == 5
    assert doc["attribute_types"] == {"nominal": 1, "numeric": 3, "string": 1}
    assert doc["differences"] == []


def test_clusters_file_compared_with_the_arff(tmp_path: Path) -> None:
    arff = write(tmp_path / "f.arff", arff_text(ARFF_ROWS))
    # u2 in another cluster, u7 missing, and a row for an image the ARFF does not have.
    rows = [(n, c) for n, _, c in ARFF_ROWS if n != "u7.jpg"]
    rows[1] = ("u2.jpg", "cluster2")
    rows.append(("u9.jpg", "cluster0"))
    clusters = write(tmp_path / "clusters.csv", clusters_text(rows))
    check = features_stats(arff, clusters).clusters_file
    assert check is not None and check.keyed_by == "image"
    assert (check.rows, check.compared, check.disagree) == (7, 6, 1)
    assert (check.rows_without_instance, check.instances_without_row) == (1, 1)
    assert check.sizes == {"cluster0": 4, "cluster1": 1, "cluster2": 2}


def test_clusters_come_from_the_clusters_file_when_the_arff_has_none(tmp_path: Path) -> None:
    arff = write(tmp_path / "f.arff", arff_text(ARFF_ROWS, with_cluster=False))
    clusters = write(tmp_path / "clusters.csv", clusters_text([(n, c) for n, _, c in ARFF_ROWS]))
    result = features_stats(arff, clusters)
    assert result.clusters_from == "clusters file"
    assert result.clusters == {"cluster0": 3, "cluster1": 2, "cluster2": 2}
    assert result.differences() == []
    assert "the ARFF has no cluster attribute" in result.notes
    alone = features_stats(None, clusters)
    assert alone.rows is None and alone.clusters == result.clusters


# ---- predicted labels -----------------------------------------------------------------

# Three models over five images (hand-written): u1 all polyps; u2 all z-line; u3 polyps,
# polyps, cecum; u4 only in models a and b (both cecum); u5 only in model c.
LABELS = {
    "a": {"u1.jpg": "polyps", "u2.jpg": "z-line", "u3.jpg": "polyps", "u4.jpg": "cecum"},
    "b": {"u1.jpg": "polyps", "u2.jpg": "z-line", "u3.jpg": "polyps", "u4.jpg": "cecum"},
    "c": {"u1.jpg": "polyps", "u2.jpg": "z-line", "u3.jpg": "cecum", "u5.jpg": "ileum"},
}


def model_files(tmp_path: Path, labels: dict[str, dict[str, str]] = LABELS) -> list[ModelFile]:
    files = []
    for seed, (model, rows) in enumerate(labels.items()):
        text = inference_text([(n, class_index(c), 0.9) for n, c in rows.items()], seed)
        files.append(ModelFile(model, write(tmp_path / f"{model}.csv", text)))
    return files


def test_prediction_counts_and_agreement_equal_a_hand_count(tmp_path: Path) -> None:
    result = prediction_stats(model_files(tmp_path), published_images=4)
    counts = {m.model: {k: v for k, v in m.classes.items() if v} for m in result.models}
    assert counts == {
        "a": {"polyps": 2, "z-line": 1, "cecum": 1},
        "b": {"polyps": 2, "z-line": 1, "cecum": 1},
        "c": {"polyps": 1, "z-line": 1, "cecum": 1, "ileum": 1},
    }
    assert len(result.models[0].classes) == 23
    assert (result.images, result.in_every_model, result.unanimous) == (5, 3, 2)
    assert {k: v for k, v in result.unanimous_classes.items() if v} == {"polyps": 1, "z-line": 1}
    pairs = {(p.first, p.second): (p.compared, p.agree) for p in result.pairs}
    assert pairs == {("a", "b"): (4, 4), ("a", "c"): (3, 2), ("b", "c"): (3, 2)}
    assert result.models[0].mean_confidence == 0.9
    # Four images were published; every model has four: no difference.
    assert result.differences() == []
    doc = result.as_json()
    assert doc["agreement"]["pairs"][0] == {
        "models": ["a", "b"],
        "compared": 4,
        "agree": 4,
        "share": 1.0,
    }


def test_a_model_with_other_images_or_repeats_is_flagged(tmp_path: Path) -> None:
    labels = {"a": {"u1.jpg": "polyps"}, "b": {"u1.jpg": "polyps", "u2.jpg": "ileum"}}
    files = model_files(tmp_path, labels)
    text = files[1].path.read_text()
    files[1].path.write_text(text + text.splitlines()[1] + "\n")  # u1 again
    result = prediction_stats(files, published_images=2)
    assert result.models[1].repeated == 1 and result.models[1].rows == 3
    assert result.differences() == [
        "a: 1 images, 2 published",
        "b: rows naming an image twice: 1",
    ]
