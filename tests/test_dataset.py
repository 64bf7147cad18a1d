"""Dataset knowledge: what a path means, class spellings, published counts, and the header
readers (image sizes, video durations) that stats relies on."""

from __future__ import annotations

import io
import struct

import pytest
from PIL import Image

from hyperkvasir_cli.core.classes import CLASS_ALIASES, LABELED_CLASSES
from hyperkvasir_cli.core.errors import ExitCode, UsageError
from hyperkvasir_cli.core.manifest import load_manifest
from hyperkvasir_cli.dataset.imagesize import read_image_size
from hyperkvasir_cli.dataset.paths import (
    classify_labeled,
    classify_video,
    is_data_file,
    labeled_path,
    pair_segmented,
    part_kind,
    published_class_counts,
    published_file_count,
    resolve_class,
)
from hyperkvasir_cli.dataset.videoinfo import parse_video_header, read_video_info
from tests.zips import avi_bytes, jpeg_bytes


@pytest.mark.parametrize("label", LABELED_CLASSES, ids=lambda c: c.name)
def test_every_class_folder_gives_its_class_organ_and_category(label) -> None:
    path = f"labeled-images/{label.organ}/{label.category}/{label.name}/0a1b.jpg"
    found = classify_labeled(path)
    assert found is not None
    assert (found.class_name, found.organ, found.category) == (
        label.name,
        label.organ,
        label.category,
    )
    assert labeled_path(label, "0a1b.jpg") == path


@pytest.mark.parametrize(
    "path",
    [
        "labeled-images/image-labels.csv",
        "labeled-images/lower-gi-tract/pathological-findings/tumours/x.jpg",
        # polyps are lower GI: filed under the upper GI tract they are not counted as polyps
        "labeled-images/upper-gi-tract/pathological-findings/polyps/x.jpg",
        "labeled-images/lower-gi-tract/pathological-findings/polyps/notes.txt",
        "segmented-images/images/x.jpg",
    ],
)
def test_paths_outside_the_23_classes_are_not_classified(path: str) -> None:
    assert classify_labeled(path) is None


def test_every_official_spelling_maps_to_the_canonical_class() -> None:
    assert len(CLASS_ALIASES) == 8
    for alias, canonical in CLASS_ALIASES.items():
        assert resolve_class(alias).name == canonical
        assert resolve_class(alias.upper()).name == canonical
    assert resolve_class("normal-z-line").organ == "upper-gi-tract"
    for label in LABELED_CLASSES:
        assert resolve_class(label.name) == label


def test_an_unknown_class_is_a_usage_error_listing_the_names() -> None:
    with pytest.raises(UsageError) as info:
        resolve_class("polypz")
    assert info.value.exit_code == ExitCode.USAGE
    assert "'polypz'" in info.value.message
    assert info.value.hint is not None and "hemorrhoids" in info.value.hint


def test_published_counts_come_from_the_bundled_manifest() -> None:
    manifest = load_manifest()
    labeled = manifest.part("labeled-images")
    counts = published_class_counts(labeled)
    assert len(counts) == 23
    assert counts["hemorrhoids"] == 6 and counts["bbps-2-3"] == 1148
    assert sum(counts.values()) == published_file_count(labeled) == 10_662
    assert published_file_count(manifest.part("segmented-images")) == 2000


def test_part_kinds_name_the_four_data_parts_only() -> None:
    manifest = load_manifest()
    kinds = {p.name: part_kind(p) for p in manifest.parts if part_kind(p)}
    assert kinds == {
        "labeled-images": "labeled-images",
        "segmented-images": "segmented-images",
        "unlabeled-images": "unlabeled-images",
        "labeled-videos": "labeled-videos",
    }


def test_data_files_are_images_and_videos_not_metadata() -> None:
    assert is_data_file("labeled-images/a/b/c/x.JPG")
    assert is_data_file("labeled-videos/a/b/c/x.mpg")
    assert not is_data_file("segmented-images/bounding-boxes.json")
    assert not is_data_file("labeled-images/license.txt")


def test_segmented_images_pair_with_masks_by_uuid() -> None:
    pairing = pair_segmented(
        [
            "segmented-images/images/b.jpg",
            "segmented-images/masks/a.jpg",
            "segmented-images/images/a.jpg",
            "segmented-images/images/lonely.jpg",
            "segmented-images/masks/orphan.jpg",
            "segmented-images/bounding-boxes.json",
        ]
    )
    assert [(p.key, p.image, p.mask) for p in pairing.pairs] == [
        ("a", "segmented-images/images/a.jpg", "segmented-images/masks/a.jpg")
    ]
    assert pairing.images_without_mask == [
        "segmented-images/images/b.jpg",
        "segmented-images/images/lonely.jpg",
    ]
    assert pairing.masks_without_image == ["segmented-images/masks/orphan.jpg"]


def test_video_paths_give_organ_category_and_finding() -> None:
    video = classify_video("labeled-videos/upper-gi-tract/pathological-findings/ulcer/v.avi")
    assert video is not None
    assert (video.organ, video.category, video.finding) == (
        "upper-gi-tract",
        "pathological-findings",
        "ulcer",
    )
    assert classify_video("labeled-videos/video-labels.csv") is None


class CountingStream(io.BytesIO):
    """Counts the bytes handed out, to prove that only the header is read."""

    def __init__(self, data: bytes) -> None:
        super().__init__(data)
        self.handed_out = 0

    def read(self, size: int | None = -1) -> bytes:
        chunk = super().read(size)
        self.handed_out += len(chunk)
        return chunk


def _encoded(image: Image.Image, fmt: str, **options: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **options)
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("fmt", "options"),
    [
        ("JPEG", {}),
        ("JPEG", {"progressive": True}),
        ("JPEG", {"exif": Image.Exif()}),
        ("PNG", {}),
    ],
    ids=["baseline", "progressive", "exif", "png"],
)
def test_image_size_comes_from_the_header_alone(fmt: str, options: dict[str, object]) -> None:
    import random

    noise = random.Random(7).randbytes(1920 * 1080 * 3)  # incompressible: a large file
    data = _encoded(Image.frombytes("RGB", (1920, 1080), noise), fmt, **options)
    stream = CountingStream(data)
    assert read_image_size(stream) == (1920, 1080)
    assert stream.handed_out < 2048 < len(data)


def test_image_size_of_a_grey_mask_and_of_broken_data() -> None:
    assert read_image_size(io.BytesIO(jpeg_bytes(40, 32, seed=1, grey=True))) == (40, 32)
    whole = jpeg_bytes(40, 32, seed=1)
    assert read_image_size(io.BytesIO(whole[:20])) is None  # truncated before the frame
    assert read_image_size(io.BytesIO(b"GIF89a....")) is None
    assert read_image_size(io.BytesIO(b"")) is None


def test_avi_header_gives_frames_rate_duration_and_size() -> None:
    info = read_video_info(io.BytesIO(avi_bytes(720, 576, frames=250, fps=25)))
    assert info.container == "avi"
    assert (info.frames, info.fps, info.seconds) == (250, 25.0, 10.0)
    assert (info.width, info.height) == (720, 576)


def test_avi_duration_at_30_fps_is_frames_over_the_rate() -> None:
    # 33,333 us per frame stands for 30 fps: 3,659 frames last 121.967 s, not 121.965.
    info = read_video_info(io.BytesIO(avi_bytes(1280, 1024, frames=3659, fps=30)))
    assert (info.frames, info.fps, info.seconds) == (3659, 30.0, round(3659 / 30, 3))


def test_avi_with_junk_before_the_header_and_an_opendml_frame_count() -> None:
    avih = struct.pack("<10I16x", 40_000, 0, 0, 0, 100, 0, 1, 0, 320, 240)
    dmlh = b"dmlh" + struct.pack("<I", 248) + struct.pack("<I", 9000) + bytes(244)
    odml = b"LIST" + struct.pack("<I", 4 + len(dmlh)) + b"odml" + dmlh
    hdrl_body = b"hdrl" + b"avih" + struct.pack("<I", len(avih)) + avih + odml
    junk = b"JUNK" + struct.pack("<I", 3) + b"abc\x00"  # odd size: padded to even
    body = b"AVI " + junk + b"LIST" + struct.pack("<I", len(hdrl_body)) + hdrl_body
    info = parse_video_header(b"RIFF" + struct.pack("<I", len(body)) + body)
    # avih counts the first RIFF only (100); dmlh counts every frame of the file.
    assert (info.frames, info.fps, info.seconds) == (9000, 25.0, 360.0)


@pytest.mark.parametrize(
    "head",
    [b"\x00\x00\x01\xba" + bytes(60), b"RIFF\x10\x00\x00\x00WAVEfmt ", b"RIFF", b""],
    ids=["mpeg", "wave", "short", "empty"],
)
def test_other_containers_report_unknown_duration(head: bytes) -> None:
    info = parse_video_header(head)
    assert info.container == "unknown"
    assert info.seconds is None and info.frames is None
