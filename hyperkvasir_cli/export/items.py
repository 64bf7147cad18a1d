"""What an export holds: one item per image, with its labels, its split and (for the
segmented images) its mask and boxes. Decided from the file listing alone; the bytes are
read later, by the shard writers.

Which items a part gives is looked up by the part's kind (:data:`ITEM_SOURCES`), so a new
kind of part adds one function here.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from hyperkvasir_cli.core.errors import UsageError
from hyperkvasir_cli.dataset.paths import (
    BOUNDING_BOXES,
    SEGMENTED_CLASS,
    classify_labeled,
    pair_segmented,
)
from hyperkvasir_cli.dataset.sources import DataSource, FileRecord

ALL_SPLIT = "all"


@dataclass(frozen=True)
class Box:
    label: str
    xmin: int
    ymin: int
    xmax: int
    ymax: int


@dataclass(frozen=True)
class ExportItem:
    """One image to export; ``size`` counts the bytes the shard will hold (image + mask),
    ``mask_size`` the mask's share of them."""

    path: str
    label: str
    organ: str
    category: str
    size: int
    mask: str | None = None
    mask_size: int = 0
    boxes: tuple[Box, ...] | None = None


def labeled_items(source: DataSource, records: list[FileRecord]) -> list[ExportItem]:
    items = []
    for record in records:
        image = classify_labeled(record.path)
        if image is not None:
            items.append(
                ExportItem(record.path, image.class_name, image.organ, image.category, record.size)
            )
    return items


def segmented_items(source: DataSource, records: list[FileRecord]) -> list[ExportItem]:
    sizes = {r.path: r.size for r in records}
    boxes = _read_boxes(source) if BOUNDING_BOXES in sizes else {}
    label = SEGMENTED_CLASS
    return [
        ExportItem(
            pair.image,
            label.name,
            label.organ,
            label.category,
            sizes[pair.image] + sizes[pair.mask],
            mask=pair.mask,
            mask_size=sizes[pair.mask],
            boxes=boxes.get(pair.key, ()),
        )
        for pair in pair_segmented(sizes).pairs
    ]


def _read_boxes(source: DataSource) -> dict[str, tuple[Box, ...]]:
    """``bounding-boxes.json``: uuid -> {"bbox": [{label, xmin, ymin, xmax, ymax}]}."""
    with source.reader() as reader, reader.open(BOUNDING_BOXES) as stream:
        document = json.load(stream)
    found: dict[str, tuple[Box, ...]] = {}
    if isinstance(document, dict):
        for key, entry in document.items():
            listed = entry.get("bbox") if isinstance(entry, dict) else None
            if isinstance(listed, list):
                found[str(key)] = tuple(_box(b) for b in listed if isinstance(b, dict))
    return found


def _box(entry: Mapping[str, Any]) -> Box:
    return Box(
        str(entry.get("label", "")),
        *(int(entry.get(k, 0)) for k in ("xmin", "ymin", "xmax", "ymax")),
    )


ItemSource = Callable[[DataSource, list[FileRecord]], list[ExportItem]]
ITEM_SOURCES: dict[str, ItemSource] = {
    "labeled-images": labeled_items,
    "segmented-images": segmented_items,
}


def items_of(kind: str | None, source: DataSource, records: list[FileRecord]) -> list[ExportItem]:
    """The items of a part of ``kind``, sorted by path; UsageError for a kind not exported."""
    lister = ITEM_SOURCES.get(kind or "")
    if lister is None:
        raise UsageError(
            f"export writes image shards of {', '.join(ITEM_SOURCES)}, "
            f"not of {kind or 'this part'}",
            hint="name labeled-images or segmented-images",
        )
    return sorted(lister(source, records), key=lambda item: item.path)
