"""Statistics of the segmented images: pairs, bounding boxes and the polyp area of masks.

Images and masks pair by uuid. ``bounding-boxes.json`` maps each uuid to its boxes. A
mask is a grey JPEG: a pixel belongs to the polyp when it is at least
:data:`MASK_THRESHOLD`, so JPEG ringing near the edge does not count as polyp.
"""

from __future__ import annotations

import json
import statistics
from collections import Counter
from dataclasses import dataclass
from typing import IO

from hyperkvasir_cli.core.manifest import Part
from hyperkvasir_cli.core.progress import ProgressReporter
from hyperkvasir_cli.dataset.paths import (
    BOUNDING_BOXES,
    SegmentedPairing,
    file_stem,
    pair_segmented,
)
from hyperkvasir_cli.dataset.sources import UNREADABLE, DataSource, FileRecord, read_files
from hyperkvasir_cli.dataset.stats.base import (
    ImageSizes,
    Overview,
    StatsOptions,
    matches_published,
    measure_image_sizes,
    overview,
)

MASK_THRESHOLD = 128


@dataclass(frozen=True)
class BoxSummary:
    """What ``bounding-boxes.json`` says about the images present."""

    file: str | None  # its path, None when the part has none
    problem: str | None  # why it could not be used, None when it could
    total: int = 0
    per_image: dict[str, int] | None = None  # boxes on an image -> how many images
    images_without_entry: tuple[str, ...] = ()
    entries_without_image: tuple[str, ...] = ()  # uuids

    def as_json(self) -> dict[str, object]:
        return {
            "file": self.file,
            "problem": self.problem,
            "total": self.total,
            "per_image": self.per_image or {},
            "images_without_entry": list(self.images_without_entry),
            "entries_without_image": list(self.entries_without_image),
        }


def summarise_boxes(document: object, images: dict[str, str], file: str) -> BoxSummary:
    """Boxes per image from the parsed JSON; ``images`` maps uuid -> image path."""
    if not isinstance(document, dict):
        return BoxSummary(file, "expected a JSON object of image ids")
    boxes: dict[str, int] = {}
    for key, entry in document.items():
        found = entry.get("bbox") if isinstance(entry, dict) else None
        if not isinstance(found, list):
            return BoxSummary(file, f"entry {key!r} has no list under 'bbox'")
        boxes[str(key)] = len(found)
    histogram = Counter(boxes.get(key, 0) for key in images)
    return BoxSummary(
        file=file,
        problem=None,
        total=sum(boxes[k] for k in images if k in boxes),
        per_image={str(n): histogram[n] for n in sorted(histogram)},
        images_without_entry=tuple(sorted(images[k] for k in images if k not in boxes)),
        entries_without_image=tuple(sorted(k for k in boxes if k not in images)),
    )


def read_boxes(source: DataSource, records: list[FileRecord], images: dict[str, str]) -> BoxSummary:
    if not any(r.path == BOUNDING_BOXES for r in records):
        return BoxSummary(None, None)
    try:
        # About 300 KB for the whole dataset: metadata, so reading it whole is fine.
        with source.reader() as reader, reader.open(BOUNDING_BOXES) as stream:
            document = json.load(stream)
    except UNREADABLE as exc:
        return BoxSummary(BOUNDING_BOXES, f"cannot read it: {exc}")
    return summarise_boxes(document, images, BOUNDING_BOXES)


def mask_area_fraction(stream: IO[bytes]) -> float | None:
    """Share of the mask's pixels at or above :data:`MASK_THRESHOLD`; None if undecodable."""
    from PIL import Image

    try:
        with Image.open(stream) as image:
            grey = image.convert("L")
    except Image.DecompressionBombError:
        return None
    total = grey.width * grey.height
    return sum(grey.histogram()[MASK_THRESHOLD:]) / total if total else None


@dataclass(frozen=True)
class AreaSummary:
    """The polyp's share of each mask: min, mean, median, max over the readable masks."""

    masks: int
    unreadable: tuple[str, ...]
    minimum: float | None
    mean: float | None
    median: float | None
    maximum: float | None

    def as_json(self) -> dict[str, object]:
        return {
            "threshold": MASK_THRESHOLD,
            "masks": self.masks,
            "unreadable": list(self.unreadable),
            "min": self.minimum,
            "mean": self.mean,
            "median": self.median,
            "max": self.maximum,
        }


def summarise_areas(paths: list[str], fractions: list[float | None]) -> AreaSummary:
    known = [f for f in fractions if f is not None]
    unreadable = tuple(p for p, f in zip(paths, fractions, strict=True) if f is None)
    if not known:
        return AreaSummary(0, unreadable, None, None, None, None)
    return AreaSummary(
        masks=len(known),
        unreadable=unreadable,
        minimum=round(min(known), 6),
        mean=round(statistics.fmean(known), 6),
        median=round(statistics.median(known), 6),
        maximum=round(max(known), 6),
    )


@dataclass(frozen=True)
class SegmentedStats:
    overview: Overview
    pairing: SegmentedPairing
    boxes: BoxSummary
    mask_area: AreaSummary
    images: ImageSizes | None = None

    def differences(self) -> list[str]:
        found = self.overview.differences()
        if self.pairing.images_without_mask:
            found.append(f"images without a mask: {len(self.pairing.images_without_mask):,}")
        if self.pairing.masks_without_image:
            found.append(f"masks without an image: {len(self.pairing.masks_without_image):,}")
        return found

    def as_json(self) -> dict[str, object]:
        pairing = self.pairing
        return {
            **self.overview.as_json(),
            "pairs": len(pairing.pairs),
            "images_without_mask": pairing.images_without_mask,
            "masks_without_image": pairing.masks_without_image,
            "bounding_boxes": self.boxes.as_json(),
            "mask_area": self.mask_area.as_json(),
            "matches_published": matches_published(self, self.overview.published_files is not None),
            "differences": self.differences(),
            "images": self.images.as_json() if self.images else None,
        }


def segmented_stats(
    part: Part,
    source: DataSource,
    records: list[FileRecord],
    options: StatsOptions,
    progress: ProgressReporter,
) -> SegmentedStats:
    """Pairs, boxes and mask areas (every mask is decoded); image sizes with ``images``."""
    pairing = pair_segmented(r.path for r in records)
    images = {file_stem(p): p for p in [x.image for x in pairing.pairs]}
    images.update({file_stem(p): p for p in pairing.images_without_mask})
    masks = sorted([p.mask for p in pairing.pairs] + pairing.masks_without_image)
    fractions = read_files(
        source, masks, mask_area_fraction, jobs=options.jobs, progress=progress, label="masks"
    )
    sizes = None
    if options.images:
        sizes = measure_image_sizes(source, sorted(images.values()), options.jobs, progress)
    return SegmentedStats(
        overview=overview(part, source, records),
        pairing=pairing,
        boxes=read_boxes(source, records, images),
        mask_area=summarise_areas(masks, fractions),
        images=sizes,
    )
