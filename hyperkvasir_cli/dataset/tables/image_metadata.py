"""``hyper-kvasir-image-metadata.csv``: width, height and size of each image.

Written by the repository's ``scripts/generate_image_annotations_file.py``: `;`-separated,
header ``file-name;class-name;width;height;kilobytes``, one row per image file found under
``<data>/<class>/``; ``file-name`` is the file name alone (``<uuid>.jpg``), ``class-name``
the folder it was found in (read under any spelling of :mod:`core.classes`), ``kilobytes``
= bytes >> 10 (rounded down). The file is read row by row, never held whole.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from hyperkvasir_cli.core.classes import canonical_class
from hyperkvasir_cli.dataset.tables.text import (
    malformed,
    open_text,
    parse_int,
    semicolon_rows,
    text_lines,
)

HEADER = ("file-name", "class-name", "width", "height", "kilobytes")


@dataclass(frozen=True, slots=True)
class ImageMetadataRow:
    file_name: str
    class_name: str  # as written
    width: int
    height: int
    kilobytes: int  # bytes >> 10

    @property
    def label(self) -> str | None:
        """The canonical class, or None when the folder is not one of the 23 classes."""
        return canonical_class(self.class_name)


def parse_image_metadata(
    lines: Iterable[tuple[int, str]], source: str, part: str | None = None
) -> Iterator[tuple[int, ImageMetadataRow]]:
    """``(line number, row)`` for each row, from numbered lines (header first); ArchiveError
    (exit 6) for a wrong header, a wrong field count or a size that is not a whole number."""
    for number, fields in semicolon_rows(lines, source, (HEADER,), part):
        name = fields[0].strip()
        if not name:
            raise malformed(source, number, "the file name is empty", part)
        numbers = [parse_int(f) for f in fields[2:]]
        for column, value, text_value in zip(HEADER[2:], numbers, fields[2:], strict=True):
            if value is None or value < 0:
                raise malformed(
                    source, number, f"{column}: expected a whole number, found {text_value!r}", part
                )
        width, height, kilobytes = (n or 0 for n in numbers)
        yield number, ImageMetadataRow(name, fields[1].strip(), width, height, kilobytes)


def iter_image_metadata(path: Path, part: str | None = None) -> Iterator[ImageMetadataRow]:
    """The rows of the file at ``path``, streamed (see :func:`parse_image_metadata`)."""
    with open_text(path) as handle:
        for _, row in parse_image_metadata(text_lines(handle, str(path), part), str(path), part):
            yield row
