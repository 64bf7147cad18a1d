"""An item's bytes and the fields every shard format stores about it."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from hyperkvasir_cli.dataset.sources import FileReader
from hyperkvasir_cli.export.items import Box, ExportItem


@dataclass(frozen=True)
class LoadedItem:
    item: ExportItem
    split: str
    image: bytes
    sha256: str  # of the image bytes, equal to the member's
    mask: bytes | None

    @property
    def boxes(self) -> tuple[Box, ...] | None:
        return self.item.boxes

    def fields(self) -> dict[str, object]:
        """What a WebDataset sample's JSON holds (and the Parquet row besides the bytes)."""
        fields: dict[str, object] = {
            "path": self.item.path,
            "label": self.item.label,
            "organ": self.item.organ,
            "category": self.item.category,
            "sha256": self.sha256,
            "split": self.split,
        }
        if self.item.mask is not None:
            fields["mask"] = self.item.mask
            fields["boxes"] = [box_fields(b) for b in self.item.boxes or ()]
        return fields


def box_fields(box: Box) -> dict[str, object]:
    return {
        "label": box.label,
        "xmin": box.xmin,
        "ymin": box.ymin,
        "xmax": box.xmax,
        "ymax": box.ymax,
    }


def load_item(reader: FileReader, item: ExportItem, split: str) -> LoadedItem:
    """Read one image (and its mask): a few hundred KB each, never a whole archive."""
    with reader.open(item.path) as stream:
        image = stream.read()
    mask = None
    if item.mask is not None:
        with reader.open(item.mask) as stream:
            mask = stream.read()
    return LoadedItem(item, split, image, hashlib.sha256(image).hexdigest(), mask)
