"""One Parquet row group as an arrow table, the image bytes read straight into arrow memory.

A row group costs its images' bytes once (see :class:`~.arrow_build.BinaryColumn`) plus
its text columns; no Python ``bytes`` of the images and no second copy are made.
"""

from __future__ import annotations

from typing import Any

from hyperkvasir_cli.dataset.sources import FileReader
from hyperkvasir_cli.export.arrow_build import (
    BinaryColumn,
    int32_array,
    list_array,
    string_array,
    validity,
)
from hyperkvasir_cli.export.items import Box, ExportItem

TEXT_COLUMNS = ("path", "label", "organ", "category", "sha256", "split")
BOX_NUMBERS = ("xmin", "ymin", "xmax", "ymax")


def _file_struct(pa: Any, kind: Any, data: Any, paths: list[str | None]) -> Any:
    """``{bytes, path}`` as ``datasets.Image`` stores it; a row without a file is null."""
    bitmap, nulls = validity(pa, [p is not None for p in paths])
    return pa.Array.from_buffers(
        kind, len(paths), [bitmap], null_count=nulls, children=[data, string_array(pa, paths)]
    )


def _boxes(pa: Any, kind: Any, rows: list[tuple[Box, ...]]) -> Any:
    """``boxes``: a list of ``{label, xmin, ymin, xmax, ymax}`` per row."""
    flat = [box for boxes in rows for box in boxes]
    children = [
        string_array(pa, [b.label for b in flat]),
        *(int32_array(pa, [getattr(b, name) for b in flat]) for name in BOX_NUMBERS),
    ]
    element = kind.value_type
    values = pa.Array.from_buffers(element, len(flat), [None], null_count=0, children=children)
    return list_array(pa, kind, [len(boxes) for boxes in rows], values)


def row_group_table(
    pa: Any,
    schema: Any,
    reader: FileReader,
    items: list[ExportItem],
    split: str,
    with_masks: bool,
) -> Any:
    """The rows of ``items`` as one arrow table of ``schema`` (see :mod:`.parquet`)."""
    mask_bytes = sum(i.mask_size for i in items)
    images = BinaryColumn(pa, sum(i.size for i in items) - mask_bytes)
    digests = [images.append_file(reader, i.path, i.size - i.mask_size) for i in items]
    paths: list[str | None] = [i.path for i in items]
    arrays = [
        _file_struct(pa, schema.field("image").type, images.finish(), paths),
        string_array(pa, paths),
        string_array(pa, [i.label for i in items]),
        string_array(pa, [i.organ for i in items]),
        string_array(pa, [i.category for i in items]),
        string_array(pa, digests),
        string_array(pa, [split] * len(items)),
    ]
    if with_masks:
        masks = BinaryColumn(pa, mask_bytes)
        for item in items:
            if item.mask is None:
                masks.append_null()
            else:
                masks.append_file(reader, item.mask, item.mask_size)
        mask_paths = [i.mask for i in items]
        arrays.append(_file_struct(pa, schema.field("mask").type, masks.finish(), mask_paths))
        arrays.append(_boxes(pa, schema.field("boxes").type, [i.boxes or () for i in items]))
    return pa.Table.from_arrays(arrays, schema=schema)
