"""Manifest groups, the side-file parts of the bundled manifest, and fetching them."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
import yaml

from hyperkvasir_cli.core.errors import UsageError
from hyperkvasir_cli.core.manifest import load_manifest, parse_manifest
from tests.cli import run_cli
from tests.downloads import archive
from tests.http_server import LocalServer
from tests.same import assert_same_bytes
from tests.side_files import (
    VideoRow,
    arff_text,
    clusters_text,
    inference_text,
    served_as_bundled,
    video_metadata_text,
)

COMMIT = "5ae933bb612b25046b10e86b01660d2d7909ab65"
RAW = f"https://raw.githubusercontent.com/simula/hyper-kvasir/{COMMIT}/"
# part -> file in clustering_experiments/labels_predicted_from_pre_trainend_models/
_MODELS = {
    "densenet161": "02_medico_2018_method_3_densenet161_split_{}",
    "averaged": "030_fine_tuned_medico_2018_method_4_split_{}",
    "mlp": "040_fine_tuned_medico_2018_method_5_split_{}",
}
PREDICTION_FILES = {
    f"predictions-{model}-split{split}": pattern.format(
        "01" if split == 1 and model.endswith("mlp") else split
    )
    + ".py_inference.csv"
    for model, pattern in _MODELS.items()
    for split in (0, 1)
}


def test_bundled_side_files_are_pinned_to_one_commit() -> None:
    manifest = load_manifest()
    video = manifest.part("video-metadata")
    assert video.size == 30_644
    assert video.sha256 == "fa4fbc25b9b0191a3aeafda210be3098619538d9a1aa6311f994f07cc508640e"
    assert video.urls == [RAW + "hyper-kvasir-video-metadata.csv"]
    arff = manifest.part("unlabeled-features-arff")
    assert arff.archive_kind == "arff" and arff.sha256 is None and arff.size is None
    assert arff.urls == [
        RAW + "clustering_experiments/all-Images-global-features-and-clusters.arff"
    ]
    assert manifest.part("image-metadata").urls == [RAW + "hyper-kvasir-image-metadata.csv"]
    group = manifest.find_group("unlabeled-predictions")
    assert group is not None and group.parts == list(PREDICTION_FILES)
    for name, file in PREDICTION_FILES.items():
        part = manifest.part(name)
        assert part.file == file and part.sha256 is None
        assert part.urls == [
            f"{RAW}clustering_experiments/labels_predicted_from_pre_trainend_models/{file}"
        ]
    assert manifest.select(["unlabeled-features"]) == [
        manifest.part("unlabeled-features-arff"),
        manifest.part("unlabeled-clusters"),
    ]


def _manifest(**extra: object) -> dict[str, object]:
    parts = [
        {"name": "a", "file": "a.csv", "urls": ["http://h/a.csv"]},
        {"name": "b", "file": "b.csv", "urls": ["http://h/b.csv"]},
        {"name": "c", "file": "c.csv", "urls": ["http://h/c.csv"]},
    ]
    return {"dataset": "hyper-kvasir", "parts": parts, **extra}


def test_a_group_stands_for_its_parts_in_manifest_order() -> None:
    manifest = parse_manifest(_manifest(groups=[{"name": "g", "parts": ["c", "a"]}]), "m.yaml")
    assert [p.name for p in manifest.select(["g"])] == ["a", "c"]
    assert [p.name for p in manifest.select(["b", "g", "a"])] == ["a", "b", "c"]
    assert manifest.groups_of("a") == ["g"] and manifest.groups_of("b") == []


def test_a_manifest_without_groups_is_still_valid() -> None:
    assert parse_manifest(_manifest(), "m.yaml").groups == []


@pytest.mark.parametrize(
    ("groups", "says"),
    [
        ([{"name": "g", "parts": ["a", "x"]}], "names unknown parts: x"),
        ([{"name": "a", "parts": ["b"]}], "group 'a': the name is already taken"),
        ([{"name": "g", "parts": ["a"]}, {"name": "g", "parts": ["b"]}], "already taken"),
        ([{"name": "g", "parts": ["a", "a"]}], "repeated: a"),
        ([{"name": "g", "parts": []}], "groups"),
        ([{"name": "g", "parts": ["a"], "colour": "red"}], "colour"),
    ],
)
def test_bad_groups_exit_3_naming_the_problem(
    tmp_path: Path, groups: list[dict[str, object]], says: str
) -> None:
    path = tmp_path / "m.yaml"
    path.write_text(yaml.safe_dump(_manifest(groups=groups)))
    result = run_cli("parts", "--manifest", str(path))
    assert result.exit_code == 3
    assert says in result.stderr and "m.yaml" in result.stderr


def test_a_group_where_one_part_is_needed_names_its_parts() -> None:
    manifest = parse_manifest(_manifest(groups=[{"name": "g", "parts": ["a", "b"]}]), "m.yaml")
    with pytest.raises(UsageError, match=r"'g' is a group of parts \(a, b\)"):
        manifest.part("g")
    with pytest.raises(UsageError, match="valid parts: a, b, c; groups: g"):
        manifest.select(["nope"])


# ---- fetching the side files from a local server ----------------------------------------


@pytest.fixture
def side_server(
    http_server: LocalServer, tmp_path: Path
) -> tuple[LocalServer, Path, dict[str, bytes]]:
    """Every side file served from 127.0.0.1 and a manifest naming them as the bundled one
    does (the video metadata pinned, the others recorded at first download)."""
    video = video_metadata_text([VideoRow("v.avi", "polyp", 720, 576, 250, 25, 9000)]).encode()
    contents = {
        "video-metadata": video,
        "image-metadata": b"file-name;class-name;width;height;kilobytes\na.jpg;polyp;720;576;48\n",
        "unlabeled-features-arff": arff_text([("u1.jpg", [0.5, 1.0, 2.0], "cluster1")]).encode(),
        "unlabeled-clusters": clusters_text([("u1.jpg", "cluster1")]).encode(),
    }
    for index, name in enumerate(PREDICTION_FILES):
        contents[name] = inference_text([("u1.jpg", index, 0.9)], seed=index).encode()
    bundled = load_manifest()
    entries = served_as_bundled(http_server, bundled, contents)
    groups = [g.model_dump() for g in bundled.groups]
    path = tmp_path / "manifest.yaml"
    path.write_text(yaml.safe_dump({"dataset": "hyper-kvasir", "parts": entries, "groups": groups}))
    return http_server, path, contents


def test_download_a_group_fetches_each_file_and_records_it(
    side_server: tuple[LocalServer, Path, dict[str, bytes]], data_dir: Path
) -> None:
    _, manifest, contents = side_server
    result = run_cli("download", "unlabeled-predictions", "--manifest", str(manifest), "--json")
    assert result.exit_code == 0, result.stderr
    fetched = {d["part"]: d for d in result.json()["parts"]}
    assert sorted(fetched) == sorted(PREDICTION_FILES)
    for name, file in PREDICTION_FILES.items():
        assert_same_bytes(archive(data_dir, file), contents[name])
        assert fetched[name]["sha256"] == hashlib.sha256(contents[name]).hexdigest()
        assert fetched[name]["sha256_source"] == "recorded"
    again = run_cli("download", "unlabeled-predictions", "--manifest", str(manifest), "--json")
    assert {d["action"] for d in again.json()["parts"]} == {"skipped"}
    checked = run_cli("checksum", "unlabeled-predictions", "--manifest", str(manifest), "--json")
    assert checked.exit_code == 0, checked.stderr
    assert checked.json()["ok"] is True


def test_download_all_includes_the_side_files_and_checksum_pins_the_video_metadata(
    side_server: tuple[LocalServer, Path, dict[str, bytes]], data_dir: Path
) -> None:
    _, manifest, contents = side_server
    result = run_cli("download", "--all", "--manifest", str(manifest), "--json")
    assert result.exit_code == 0, result.stderr
    assert {d["part"] for d in result.json()["parts"]} == set(contents)
    sources = {d["part"]: d["sha256_source"] for d in result.json()["parts"]}
    assert sources["video-metadata"] == "manifest"
    assert sources["unlabeled-features-arff"] == "recorded"
    # A changed byte in the pinned file is caught by checksum (exit 5).
    path = archive(data_dir, "hyper-kvasir-video-metadata.csv")
    path.write_bytes(path.read_bytes().replace(b"polyp", b"polyq"))
    checked = run_cli(
        "checksum", "video-metadata", "unlabeled-features", "--manifest", str(manifest)
    )
    assert checked.exit_code == 5
    assert "video-metadata" in checked.stdout + checked.stderr
