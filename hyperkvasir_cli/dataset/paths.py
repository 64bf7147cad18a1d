"""What a path inside HyperKvasir means: its part, organ, category and class.

Paths are zip member paths, which are also the paths relative to an extraction target,
always with ``/``: ``labeled-images/<organ>/<category>/<class>/<uuid>.jpg``,
``segmented-images/{images,masks}/<uuid>.jpg``,
``labeled-videos/<organ>/<category>/<finding>/<uuid>.avi`` and
``unlabeled-images/images/<uuid>.jpg``. Class names accept every spelling of
:mod:`hyperkvasir_cli.core.classes` and come out canonical. Nothing here touches the disk.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, get_args

from hyperkvasir_cli.core.classes import (
    CLASS_ALIASES,
    CLASS_BY_NAME,
    LABELED_CLASSES,
    LabeledClass,
    canonical_class,
)
from hyperkvasir_cli.core.errors import UsageError

if TYPE_CHECKING:
    from hyperkvasir_cli.core.manifest import Part

LABELED_IMAGES = "labeled-images"
SEGMENTED_IMAGES = "segmented-images"
UNLABELED_IMAGES = "unlabeled-images"
LABELED_VIDEOS = "labeled-videos"
PartKind = Literal["labeled-images", "segmented-images", "unlabeled-images", "labeled-videos"]
PART_KINDS: tuple[PartKind, ...] = get_args(PartKind)

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")
VIDEO_SUFFIXES = (".avi", ".mpg", ".mpeg", ".mp4", ".mov", ".mkv")
BOUNDING_BOXES = f"{SEGMENTED_IMAGES}/bounding-boxes.json"

# Every segmented image is a polyp from the lower GI tract (the labeled `polyps` class).
SEGMENTED_CLASS = CLASS_BY_NAME["polyps"]


def _suffix(path: str) -> str:
    name = path.rsplit("/", 1)[-1]
    dot = name.rfind(".")
    return name[dot:].lower() if dot > 0 else ""


def is_image(path: str) -> bool:
    return _suffix(path) in IMAGE_SUFFIXES


def is_video(path: str) -> bool:
    return _suffix(path) in VIDEO_SUFFIXES


def is_data_file(path: str) -> bool:
    """Images, masks and videos: what the manifest's ``expected.files`` counts.

    CSV, JSON and licence files are metadata and never count.
    """
    return _suffix(path) in IMAGE_SUFFIXES + VIDEO_SUFFIXES


def file_stem(path: str) -> str:
    """The file name without folders and extension: the image's uuid in HyperKvasir."""
    name = path.rsplit("/", 1)[-1]
    dot = name.rfind(".")
    return name[:dot] if dot > 0 else name


def part_kind(part: Part) -> PartKind | None:
    """Which of the four data parts ``part`` is (by its top folder), or None (full, CSVs)."""
    top = part.root or part.name
    return top if top in PART_KINDS else None


def resolve_class(name: str) -> LabeledClass:
    """The labeled class for any spelling; UsageError (exit 2) listing the names otherwise."""
    canonical = canonical_class(name)
    if canonical is None or canonical not in CLASS_BY_NAME:
        from hyperkvasir_cli.core.suggest import did_you_mean

        guess = did_you_mean(name, CLASS_BY_NAME, CLASS_ALIASES)
        raise UsageError(
            f"unknown class {name!r}{guess}",
            hint=f"classes: {', '.join(c.name for c in LABELED_CLASSES)}; "
            f"also accepted: {', '.join(sorted(CLASS_ALIASES))}",
        )
    return CLASS_BY_NAME[canonical]


def labeled_path(label: LabeledClass, file_name: str) -> str:
    """Where an image of ``label`` lives: ``labeled-images/<organ>/<category>/<class>/<file>``."""
    return f"{LABELED_IMAGES}/{label.organ}/{label.category}/{label.name}/{file_name}"


@dataclass(frozen=True, slots=True)
class LabeledImage:
    """An image of one of the 23 classes, at its path in the dataset."""

    path: str
    label: LabeledClass

    @property
    def class_name(self) -> str:
        return self.label.name

    @property
    def organ(self) -> str:
        return self.label.organ

    @property
    def category(self) -> str:
        return self.label.category


def classify_labeled(path: str) -> LabeledImage | None:
    """The class of a labeled image path, or None when the path is not one of the 23 classes.

    The organ and category folders must agree with the class: a polyp filed under the
    upper GI tract is not silently counted as a polyp.
    """
    pieces = path.split("/")
    if len(pieces) != 5 or pieces[0] != LABELED_IMAGES or not is_image(path):
        return None
    canonical = canonical_class(pieces[3])
    label = CLASS_BY_NAME.get(canonical) if canonical else None
    if label is None or (label.organ, label.category) != (pieces[1], pieces[2]):
        return None
    return LabeledImage(path, label)


SegmentedRole = Literal["image", "mask"]


@dataclass(frozen=True)
class SegmentedFile:
    path: str
    role: SegmentedRole
    key: str  # the uuid that pairs an image with its mask


def classify_segmented(path: str) -> SegmentedFile | None:
    """``segmented-images/images/<uuid>.jpg`` or ``.../masks/<uuid>.jpg``; None otherwise."""
    pieces = path.split("/")
    if len(pieces) != 3 or pieces[0] != SEGMENTED_IMAGES or not is_image(path):
        return None
    roles: dict[str, SegmentedRole] = {"images": "image", "masks": "mask"}
    role = roles.get(pieces[1])
    return SegmentedFile(path, role, file_stem(path)) if role else None


@dataclass(frozen=True)
class SegmentedPair:
    key: str
    image: str
    mask: str


@dataclass(frozen=True)
class SegmentedPairing:
    pairs: list[SegmentedPair]  # sorted by image path
    images_without_mask: list[str]
    masks_without_image: list[str]


def pair_segmented(paths: Iterable[str]) -> SegmentedPairing:
    """Match images and masks by uuid; everything else under the part is ignored."""
    images: dict[str, str] = {}
    masks: dict[str, str] = {}
    for path in paths:
        found = classify_segmented(path)
        if found is not None:
            (images if found.role == "image" else masks)[found.key] = found.path
    pairs = [SegmentedPair(k, images[k], masks[k]) for k in images.keys() & masks.keys()]
    return SegmentedPairing(
        pairs=sorted(pairs, key=lambda p: p.image),
        images_without_mask=sorted(images[k] for k in images.keys() - masks.keys()),
        masks_without_image=sorted(masks[k] for k in masks.keys() - images.keys()),
    )


@dataclass(frozen=True)
class LabeledVideo:
    path: str
    organ: str
    category: str
    finding: str


def classify_video(path: str) -> LabeledVideo | None:
    """``labeled-videos/<organ>/<category>/<finding>/<file>``; None for any other path."""
    pieces = path.split("/")
    if len(pieces) != 5 or pieces[0] != LABELED_VIDEOS or not is_video(path):
        return None
    return LabeledVideo(path, organ=pieces[1], category=pieces[2], finding=pieces[3])


def published_class_counts(part: Part) -> dict[str, int]:
    """Per-class image counts the publisher gives for ``part`` (canonical names), maybe empty."""
    return dict(part.expected.classes)


def published_file_count(part: Part) -> int | None:
    """How many data files (images, masks, videos) the part should hold, when published."""
    return part.expected.files
