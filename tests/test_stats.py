"""`hyperkvasir stats`: counts beside the published ones, from a tree or straight from the zip."""

from __future__ import annotations

import csv
import io
import json
import zipfile
from pathlib import Path
from typing import Any

import pytest
import yaml
from PIL import Image

from hyperkvasir_cli.core.classes import LABELED_CLASSES
from hyperkvasir_cli.core.manifest import load_manifest
from tests.cli import Result, run_cli
from tests.downloads import record_store
from tests.zips import (
    BuiltArchive,
    build_labeled_images,
    build_labeled_videos,
    build_segmented_images,
    build_unlabeled_images,
    jpeg_bytes,
    write_zip,
)

# Uneven on purpose, like the real data: a tiny class, a large one, an empty one.
PER_CLASS = {c.name: 2 for c in LABELED_CLASSES} | {"hemorrhoids": 1, "bbps-2-3": 6, "ileum": 0}
FILES = {
    "labeled-images": "hyper-kvasir-labeled-images.zip",
    "segmented-images": "hyper-kvasir-segmented-images.zip",
    "unlabeled-images": "hyper-kvasir-unlabeled-images.zip",
    "labeled-videos": "hyper-kvasir-videos.zip",
}


def archive_path(data_dir: Path, part: str) -> Path:
    return data_dir / "archives" / FILES[part]


def extract(archive: Path, target: Path) -> None:
    with zipfile.ZipFile(archive) as zipped:
        zipped.extractall(target)


def write_manifest(path: Path, expected: dict[str, dict[str, Any]]) -> Path:
    """The four data parts with the given published counts (for fixtures that match)."""
    parts = [
        {"name": name, "file": file, "urls": [f"http://127.0.0.1:9/{file}"], "root": name}
        | ({"expected": expected[name]} if name in expected else {})
        for name, file in FILES.items()
    ]
    path.write_text(yaml.safe_dump({"dataset": "hyper-kvasir", "parts": parts}))
    return path


@pytest.fixture
def labeled(data_dir: Path) -> BuiltArchive:
    """The labeled zip in the archives folder, and its tree extracted into the data folder."""
    built = build_labeled_images(archive_path(data_dir, "labeled-images"), PER_CLASS)
    extract(built.path, data_dir)
    return built


@pytest.fixture
def matching_manifest(tmp_path: Path) -> Path:
    published = {k: v for k, v in PER_CLASS.items()}
    return write_manifest(
        tmp_path / "manifest.yaml",
        {"labeled-images": {"files": sum(published.values()), "classes": published}},
    )


def stats(*args: str) -> Result:
    result = run_cli("stats", *args)
    assert "Traceback" not in result.stderr
    return result


def without_source(document: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in document.items() if k not in ("source", "path")}


def test_labeled_counts_match_the_published_ones_class_by_class(
    labeled: BuiltArchive, matching_manifest: Path
) -> None:
    result = stats("labeled-images", "--json", "--manifest", str(matching_manifest))
    assert result.exit_code == 0
    doc = result.json()
    assert doc["part"] == "labeled-images" and doc["source"] == "tree"
    assert doc["matches_published"] is True and doc["differences"] == []
    assert len(doc["classes"]) == 23
    assert {c["class"]: c["count"] for c in doc["classes"]} == PER_CLASS
    assert all(c["difference"] == 0 for c in doc["classes"])
    polyps = next(c for c in doc["classes"] if c["class"] == "polyps")
    assert (polyps["organ"], polyps["category"]) == ("lower-gi-tract", "pathological-findings")
    lower = sum(n for c in LABELED_CLASSES for n in [PER_CLASS[c.name]] if c.organ[0] == "l")
    assert doc["organs"]["lower-gi-tract"] == {"count": lower, "published": lower, "difference": 0}
    assert doc["files"] == sum(PER_CLASS.values())
    assert doc["metadata_files"] == [
        "labeled-images/image-labels.csv",
        "labeled-images/license.txt",
    ]
    assert doc["bytes"] == sum(len(data) for data in labeled.members.values())


def test_the_archive_gives_the_same_numbers_as_the_tree(
    labeled: BuiltArchive, matching_manifest: Path
) -> None:
    tree = stats("labeled-images", "--json", "--images", "-m", str(matching_manifest)).json()
    zipped = stats(
        "labeled-images", "--json", "--images", "--from-archive", "-m", str(matching_manifest)
    ).json()
    assert zipped["source"] == "archive" and zipped["path"] == str(labeled.path)
    assert without_source(zipped) == without_source(tree)


def test_the_archive_is_read_when_nothing_is_extracted(data_dir: Path) -> None:
    build_labeled_images(archive_path(data_dir, "labeled-images"), PER_CLASS)
    result = stats("labeled-images", "--json")
    assert result.exit_code == 0
    assert result.json()["source"] == "archive"
    assert "not extracted" in result.stderr


def test_the_tree_recorded_by_extract_is_found(tmp_path: Path, data_dir: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    built = build_labeled_images(tmp_path / "l.zip", PER_CLASS)
    extract(built.path, elsewhere)
    record_store(data_dir).update_part("labeled-images", extracted_to=str(elsewhere))
    doc = stats("labeled-images", "--json").json()
    assert doc["path"] == str(elsewhere / "labeled-images")
    assert doc["files"] == sum(PER_CLASS.values())


def test_differences_from_the_bundled_counts_are_flagged_and_exit_0(labeled: BuiltArchive) -> None:
    result = stats("labeled-images", "--json")
    assert result.exit_code == 0
    doc = result.json()
    assert doc["matches_published"] is False
    hemorrhoids = next(c for c in doc["classes"] if c["class"] == "hemorrhoids")
    assert (hemorrhoids["count"], hemorrhoids["published"], hemorrhoids["difference"]) == (1, 6, -5)
    assert "hemorrhoids: 1 found, 6 published" in doc["differences"]
    assert "warning:" in result.stderr and "--strict" in result.stderr


def test_strict_exits_5_naming_what_differs(labeled: BuiltArchive) -> None:
    result = stats("labeled-images", "--strict")
    assert result.exit_code == 5
    error = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(error) == 1 and "differ from the published ones" in error[0]
    assert "hemorrhoids" in result.stdout  # the table is still printed


def test_strict_passes_when_everything_matches(
    labeled: BuiltArchive, matching_manifest: Path
) -> None:
    result = stats("labeled-images", "--strict", "-m", str(matching_manifest))
    assert result.exit_code == 0, result.stderr
    assert "warning:" not in result.stderr and "error:" not in result.stderr
    assert "labeled-images: matches the published counts" in result.stdout
    # Every class of the table: the count found, the published one, no difference.
    rows = {words[0]: words[1:4] for words in map(str.split, result.stdout.splitlines()) if words}
    for name, count in PER_CLASS.items():
        assert rows[name] == [str(count), str(count), "0"], (name, rows.get(name))


def test_files_outside_the_classes_are_reported_not_fatal(
    labeled: BuiltArchive, data_dir: Path, matching_manifest: Path
) -> None:
    stray = data_dir / "labeled-images/lower-gi-tract/pathological-findings/tumour/x.jpg"
    stray.parent.mkdir(parents=True)
    stray.write_bytes(jpeg_bytes(8, 8, seed=3))
    (data_dir / "labeled-images/.DS_Store").write_bytes(b"junk")
    result = stats("labeled-images", "--json", "-m", str(matching_manifest))
    doc = result.json()
    assert doc["unknown"] == [
        {"path": stray.relative_to(data_dir).as_posix(), "size": stray.stat().st_size}
    ]
    assert doc["matches_published"] is False
    assert "images outside the 23 classes: 1" in doc["differences"]
    assert all(c["difference"] == 0 for c in doc["classes"])


def test_extract_bookkeeping_and_platform_junk_are_not_counted(
    labeled: BuiltArchive, data_dir: Path, matching_manifest: Path
) -> None:
    polyps = data_dir / "labeled-images/lower-gi-tract/pathological-findings/polyps"
    (data_dir / "labeled-images/.hyperkvasir-extract.json").write_text("{}")
    (polyps / ".0a1b.jpg.x7.hkx-tmp").write_bytes(b"half an image")
    (polyps / "._0a1b.jpg").write_bytes(b"resource fork")
    (data_dir / "labeled-images/Thumbs.db").write_bytes(b"thumbnails")
    doc = stats("labeled-images", "--json", "-m", str(matching_manifest)).json()
    assert doc["matches_published"] is True
    assert doc["metadata_files"] == [
        "labeled-images/image-labels.csv",
        "labeled-images/license.txt",
    ]
    assert doc["bytes"] == sum(len(data) for data in labeled.members.values())


def test_image_sizes_from_headers_alike_with_one_or_two_workers(labeled: BuiltArchive) -> None:
    one = stats("labeled-images", "--json", "--images", "--jobs", "1").json()["images"]
    two = stats("labeled-images", "--json", "--images", "-J", "2", "-A").json()["images"]
    # build_labeled_images alternates 32x24 and 40x30 by class index and image number.
    expected: dict[str, int] = {}
    for index, label in enumerate(LABELED_CLASSES):
        for n in range(PER_CLASS[label.name]):
            size = "32x24" if (index + n) % 2 == 0 else "40x30"
            expected[size] = expected.get(size, 0) + 1
    assert one["sizes"] == two["sizes"] == expected
    assert one["unreadable"] == []


def test_an_unreadable_image_is_listed(data_dir: Path) -> None:
    members = {"unlabeled-images/images/good.jpg": jpeg_bytes(24, 16, seed=1)}
    members["unlabeled-images/images/bad.jpg"] = b"not a jpeg at all"
    write_zip(archive_path(data_dir, "unlabeled-images"), members)
    doc = stats("unlabeled-images", "--json", "--images", "-A").json()
    assert doc["images"] == {
        "sizes": {"24x16": 1},
        "unreadable": ["unlabeled-images/images/bad.jpg"],
    }


def test_segmented_pairs_boxes_and_mask_areas(data_dir: Path) -> None:
    archive = archive_path(data_dir, "segmented-images")
    built = build_segmented_images(archive, pairs=3)
    members = dict(built.members)
    members["segmented-images/images/lonely.jpg"] = jpeg_bytes(40, 32, seed=9)
    write_zip(archive, members)
    manifest = write_manifest(data_dir.parent / "m.yaml", {"segmented-images": {"files": 7}})
    zipped = stats("segmented-images", "--json", "--images", "-m", str(manifest)).json()
    assert zipped["source"] == "archive"
    assert zipped["files"] == 7 and zipped["pairs"] == 3
    assert zipped["images_without_mask"] == ["segmented-images/images/lonely.jpg"]
    assert zipped["masks_without_image"] == []
    assert zipped["differences"] == ["images without a mask: 1"]
    boxes = zipped["bounding_boxes"]
    assert boxes["total"] == 3 and boxes["per_image"] == {"0": 1, "1": 3}
    assert boxes["images_without_entry"] == ["segmented-images/images/lonely.jpg"]
    # Each mask is white inside its bounding box: the polyp's share is the box's share.
    shares = sorted(
        (b["xmax"] - b["xmin"]) * (b["ymax"] - b["ymin"]) / (40 * 32)
        for entry in json.loads(members["segmented-images/bounding-boxes.json"]).values()
        for b in entry["bbox"]
    )
    area = zipped["mask_area"]
    assert area["threshold"] == 128 and area["masks"] == 3
    assert area["min"] == pytest.approx(shares[0], abs=0.02)
    assert area["median"] == pytest.approx(shares[1], abs=0.02)
    assert area["max"] == pytest.approx(shares[2], abs=0.02)
    assert zipped["images"]["sizes"] == {"40x32": 4}
    extract(archive, data_dir)
    tree = stats("segmented-images", "--json", "--images", "-m", str(manifest)).json()
    assert tree["source"] == "tree"
    assert without_source(tree) == without_source(zipped)


def test_mask_area_is_the_share_of_pixels_at_or_above_128(data_dir: Path) -> None:
    mask = Image.new("L", (100, 50), 0)
    mask.paste(255, (0, 0, 25, 50))  # a quarter of the pixels
    mask.paste(127, (25, 0, 50, 50))  # a quarter just below the threshold
    buffer = io.BytesIO()
    mask.save(buffer, format="PNG")  # lossless, so the share is exact
    members = {
        "segmented-images/images/a.jpg": jpeg_bytes(100, 50, seed=1),
        "segmented-images/masks/a.jpg": buffer.getvalue(),
    }
    write_zip(archive_path(data_dir, "segmented-images"), members)
    area = stats("segmented-images", "--json").json()["mask_area"]
    assert area["min"] == area["max"] == area["mean"] == 0.25


def test_videos_per_finding_with_durations_from_avi_headers(data_dir: Path) -> None:
    archive = archive_path(data_dir, "labeled-videos")
    build_labeled_videos(archive, per_finding=2)
    extract(archive, data_dir)
    doc = stats("labeled-videos", "--json").json()
    findings = {f["finding"]: f for f in doc["findings"]}
    # Each finding: one AVI of 250 frames and one of 500 at 25 fps (10 s and 20 s) ...
    assert findings["polyps"]["count"] == 2 and findings["polyps"]["seconds"] == 30.0
    assert findings["polyps"]["frames"] == 750 and findings["polyps"]["unknown_duration"] == 0
    # ... except esophagitis, whose second video is an MPEG: its duration is unknown.
    assert findings["esophagitis"]["seconds"] == 10.0
    assert findings["esophagitis"]["unknown_duration"] == 1
    assert doc["organs"]["lower-gi-tract"]["count"] == 4
    assert doc["organs"]["upper-gi-tract"]["count"] == 2
    assert doc["duration"] == {"seconds": 70.0, "known": 5, "unknown": 1}
    mpg = [v for v in doc["videos"] if v["path"].endswith(".mpg")]
    assert len(mpg) == 1 and mpg[0]["container"] == "unknown" and mpg[0]["seconds"] is None
    assert doc["published_files"] == 373 and doc["files_difference"] == -367
    zipped = stats("labeled-videos", "--json", "--from-archive").json()
    assert without_source(zipped) == without_source(doc)


def test_unlabeled_count_and_bytes(data_dir: Path) -> None:
    built = build_unlabeled_images(archive_path(data_dir, "unlabeled-images"), count=5)
    doc = stats("unlabeled-images", "--json", "-A").json()
    assert doc["files"] == 5
    assert doc["bytes"] == sum(len(b) for b in built.members.values())
    assert doc["published_files"] == 99_417 and doc["matches_published"] is False


def test_no_part_named_reports_every_part_present(labeled: BuiltArchive, data_dir: Path) -> None:
    build_unlabeled_images(archive_path(data_dir, "unlabeled-images"), count=3)
    doc = stats("--json").json()
    assert [p["part"] for p in doc["parts"]] == ["labeled-images", "unlabeled-images"]
    assert doc["matches_published"] is False


def test_nothing_here_exits_2_with_a_hint(data_dir: Path) -> None:
    result = stats()
    assert result.exit_code == 2
    assert result.stderr.startswith("error: no data part is extracted or downloaded in")
    assert "hint: run `hyperkvasir download" in result.stderr
    named = stats("segmented-images")
    assert named.exit_code == 2
    assert "segmented-images is neither extracted" in named.stderr
    assert stats("segmented-images", "--from-archive").exit_code == 2


def test_parts_that_hold_no_images_are_refused() -> None:
    result = stats("official-splits")
    assert result.exit_code == 2 and "not 'official-splits'" in result.stderr
    assert stats("labelled-images").exit_code == 2


def test_a_corrupt_zip_exits_6(data_dir: Path) -> None:
    archive = archive_path(data_dir, "labeled-images")
    archive.parent.mkdir(parents=True)
    archive.write_bytes(b"PK\x03\x04 but then nothing a zip needs")
    result = stats("labeled-images", "-A")
    assert result.exit_code == 6
    assert "is not a readable zip" in result.stderr


def test_table_shows_every_class_with_a_bar(labeled: BuiltArchive) -> None:
    result = stats("labeled-images")
    assert result.exit_code == 0
    lines = {line.split()[0]: line for line in result.stdout.splitlines() if line.strip()}
    for label in LABELED_CLASSES:
        assert label.name in lines
    assert lines["bbps-2-3"].count("█") == 16  # the largest class fills the bar
    assert "█" not in lines["ileum"]  # an empty class has none
    assert lines["hemorrhoids"].rstrip().endswith(("▏", "▎", "▍", "▌", "▋", "▊", "▉", "█"))
    assert "labeled-images: differs from the published counts:" in result.stdout


def test_csv_has_a_row_per_count(labeled: BuiltArchive, matching_manifest: Path) -> None:
    result = stats("labeled-images", "--format", "csv", "-m", str(matching_manifest))
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    classes = {r["name"]: r for r in rows if r["section"] == "class"}
    assert len(classes) == 23
    assert classes["bbps-2-3"]["count"] == "6" and classes["bbps-2-3"]["difference"] == "0"
    total = next(r for r in rows if r["section"] == "total")
    assert total["count"] == str(sum(PER_CLASS.values()))


def test_markdown_for_reports(labeled: BuiltArchive) -> None:
    result = stats("labeled-images", "-F", "markdown")
    assert result.exit_code == 0
    assert "| class | organ | category | images | published | diff | share |" in result.stdout
    assert "| hemorrhoids | lower-gi-tract | pathological-findings | 1 | 6 | -5 |" in result.stdout
    assert "- differs: hemorrhoids: 1 found, 6 published" in result.stdout


def test_json_and_format_together_are_a_usage_error(labeled: BuiltArchive) -> None:
    assert stats("labeled-images", "--json", "--format", "csv").exit_code == 2


@pytest.mark.parametrize("suffix", [".png", ".svg"])
def test_plot_draws_the_class_distribution(
    labeled: BuiltArchive, tmp_path: Path, suffix: str
) -> None:
    plot = tmp_path / f"classes{suffix}"
    result = stats("labeled-images", "--plot", str(plot))
    assert result.exit_code == 0
    if suffix == ".png":
        with Image.open(plot) as image:
            assert image.format == "PNG" and image.height > 23 * 15
    else:
        text = plot.read_text()
        assert text.startswith("<svg") and text.count("<rect") == 1 + 23
        assert ">hemorrhoids<" in text and "published 6" in text


def test_a_plot_needs_png_or_svg_and_labeled_images(labeled: BuiltArchive, tmp_path: Path) -> None:
    bad = stats("labeled-images", "--plot", str(tmp_path / "classes.pdf"))
    assert bad.exit_code == 2 and "expected a file name ending in .png or .svg" in bad.stderr
    build_unlabeled_images(archive_path(labeled.path.parent.parent, "unlabeled-images"), count=2)
    wrong_part = stats("unlabeled-images", "--plot", str(tmp_path / "c.png"))
    assert wrong_part.exit_code == 2 and not (tmp_path / "c.png").exists()


def test_bundled_manifest_counts_are_what_a_full_download_is_compared_with() -> None:
    published = load_manifest().part("labeled-images").expected.classes
    assert sum(published.values()) == 10_662 and min(published.values()) == 6
