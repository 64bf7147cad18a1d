"""The published image metadata beside the images: where widths, heights, sizes differ.

An image and a metadata row belong together when the row's ``file-name`` is the image's
file name. For each pair the width and height read from the image's header, its size
(``kilobytes`` = bytes >> 10) and, for the labeled images, its class folder are compared
with the row. The metadata is streamed; only the images here are held.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from hyperkvasir_cli.dataset.paths import classify_labeled
from hyperkvasir_cli.dataset.stats.metadata_check import MetadataDisagreement, mismatch_lines
from hyperkvasir_cli.dataset.tables.image_metadata import ImageMetadataRow


@dataclass(frozen=True)
class ImageMetadataCheck:
    file: str  # the metadata file read
    rows: int  # every row of the file
    compared: int  # images here with a row
    images_without_row: list[str]  # paths, sorted
    rows_without_image: list[str]  # file names of rows of this part's classes, sorted
    disagreements: list[MetadataDisagreement]  # by path, then field

    def differences(self) -> list[str]:
        if not self.compared:
            return [f"the image metadata lists none of these images ({self.rows:,} rows)"]
        return mismatch_lines(
            "images",
            "an image",
            len(self.images_without_row),
            len(self.rows_without_image),
            self.disagreements,
        )

    def as_json(self) -> dict[str, object]:
        return {
            "file": self.file,
            "rows": self.rows,
            "compared": self.compared,
            "images_without_row": self.images_without_row,
            "rows_without_image": self.rows_without_image,
            "disagreements": [d.as_json() for d in self.disagreements],
        }


@dataclass(frozen=True)
class MeasuredImage:
    path: str
    size: int  # bytes
    dimensions: tuple[int, int] | None  # from the header; None when unreadable


def check_image_metadata(
    file: str,
    rows: Iterable[ImageMetadataRow],
    images: Sequence[MeasuredImage],
    labeled: bool,
) -> ImageMetadataCheck:
    """Compare each image with its row. ``labeled``: the images are the labeled part, so
    rows of the 23 classes without an image here are listed, and classes are compared."""
    by_name = {image.path.rsplit("/", 1)[-1]: image for image in images}
    seen: set[str] = set()
    missing: list[str] = []
    disagreements: list[MetadataDisagreement] = []
    count = 0
    for row in rows:
        count += 1
        image = by_name.get(row.file_name)
        if image is None:
            if labeled and row.label is not None:
                missing.append(row.file_name)
            continue
        if row.file_name in seen:
            continue  # a second row for the same image: the first one counts
        seen.add(row.file_name)
        disagreements += _compare(image, row, labeled)
    return ImageMetadataCheck(
        file=file,
        rows=count,
        compared=len(seen),
        images_without_row=sorted(i.path for n, i in by_name.items() if n not in seen),
        rows_without_image=sorted(missing),
        disagreements=sorted(disagreements, key=lambda d: (d.path, d.field)),
    )


def _compare(
    image: MeasuredImage, row: ImageMetadataRow, labeled: bool
) -> list[MetadataDisagreement]:
    found = []
    if image.dimensions is not None:
        width, height = image.dimensions
        if width != row.width:
            found.append(MetadataDisagreement(image.path, "width", row.width, width))
        if height != row.height:
            found.append(MetadataDisagreement(image.path, "height", row.height, height))
    if image.size >> 10 != row.kilobytes:
        found.append(MetadataDisagreement(image.path, "kilobytes", row.kilobytes, image.size >> 10))
    if labeled:
        here = classify_labeled(image.path)
        if here is not None and row.label != here.class_name:
            found.append(MetadataDisagreement(image.path, "class", row.class_name, here.class_name))
    return found
