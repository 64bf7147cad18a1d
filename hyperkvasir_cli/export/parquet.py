"""One Parquet shard: rows in the Hugging Face ``datasets`` layout, row groups of ~100 MB.

``image`` (and ``mask``) are structs of ``bytes`` and ``path``, as ``datasets.Image``
stores them, and the schema carries the ``huggingface`` features metadata, so
``datasets`` decodes them as images with no custom code. Image bytes are stored
uncompressed (JPEG does not shrink) and without statistics (min/max of image bytes would
bloat the footer), in pages of about 1 MiB. Only one row group is in memory at a time.
pyarrow is imported here only, when a Parquet export runs.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from hyperkvasir_cli.core.errors import ConfigError
from hyperkvasir_cli.dataset.sources import FileReader
from hyperkvasir_cli.export.arrow_rows import TEXT_COLUMNS, row_group_table
from hyperkvasir_cli.export.items import ExportItem

EXPORT_EXTRA_HINT = "install the extra for shards: pip install 'hyperkvasir[export]'"
DATA_PAGE_SIZE = 1024 * 1024  # pyarrow's default, named because the layout depends on it
WRITE_BATCH_SIZE = 8  # values between two page-size checks (see write_parquet_shard)
_STRING = {"dtype": "string", "_type": "Value"}
_INT = {"dtype": "int32", "_type": "Value"}


def import_pyarrow() -> Any:
    try:
        import pyarrow
        import pyarrow.parquet
    except ImportError as exc:
        raise ConfigError(
            "Parquet export needs pyarrow, which is not installed", hint=EXPORT_EXTRA_HINT
        ) from exc
    return pyarrow


def schema(with_masks: bool) -> Any:
    pa = import_pyarrow()
    image = pa.struct([("bytes", pa.binary()), ("path", pa.string())])
    fields = [("image", image), *((name, pa.string()) for name in TEXT_COLUMNS)]
    features: dict[str, object] = {
        "image": {"_type": "Image"},
        **dict.fromkeys(TEXT_COLUMNS, _STRING),
    }
    if with_masks:
        box = pa.struct(
            [("label", pa.string())] + [(k, pa.int32()) for k in ("xmin", "ymin", "xmax", "ymax")]
        )
        fields += [("mask", image), ("boxes", pa.list_(box))]
        features["mask"] = {"_type": "Image"}
        features["boxes"] = [
            {"label": _STRING, **dict.fromkeys(("xmin", "ymin", "xmax", "ymax"), _INT)}
        ]
    metadata = {"huggingface": json.dumps({"info": {"features": features}}, sort_keys=False)}
    return pa.schema(fields, metadata=metadata)


def write_parquet_shard(
    path: Path,
    reader: FileReader,
    split: str,
    row_groups: Iterator[list[ExportItem]],
    with_masks: bool,
    on_rows: Callable[[list[ExportItem]], None],
) -> int:
    """Write each group of items as one row group; returns the number of rows.

    Memory: one row group's table (its images' bytes once, read straight into arrow
    memory by :func:`row_group_table`) plus one data page. The writer is unbuffered: it
    writes a row group column by column, page by page, so encoded pages never pile up;
    ``write_batch_size=1`` lets it cut a page after any value that brings the page to
    ``data_page_size`` (1 MiB), where its default of 1,024 values would have made the
    whole image column one page (and one more copy of the row group).
    """
    pa = import_pyarrow()
    table_schema = schema(with_masks)
    binary = ["image.bytes", "mask.bytes"] if with_masks else ["image.bytes"]
    compression: dict[str, str] = {name: "snappy" for name in TEXT_COLUMNS}
    compression.update({"image.path": "snappy", **dict.fromkeys(binary, "none")})
    if with_masks:
        compression.update({"mask.path": "snappy", "boxes.list.element.label": "snappy"})
        compression.update(
            {f"boxes.list.element.{k}": "snappy" for k in ("xmin", "ymin", "xmax", "ymax")}
        )
    rows_written = 0
    with pa.parquet.ParquetWriter(
        str(path),
        table_schema,
        compression=compression,
        write_statistics=list(TEXT_COLUMNS),
        use_dictionary=["label", "organ", "category", "split"],
        write_batch_size=WRITE_BATCH_SIZE,
        data_page_size=DATA_PAGE_SIZE,
    ) as writer:
        for items in row_groups:
            table = row_group_table(pa, table_schema, reader, items, split, with_masks)
            writer.write_table(table, row_group_size=max(1, len(items)))
            del table  # before the next row group is read
            pa.default_memory_pool().release_unused()
            rows_written += len(items)
            on_rows(items)
    pa.default_memory_pool().release_unused()
    return rows_written
