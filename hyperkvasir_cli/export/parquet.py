"""One Parquet shard: rows in the Hugging Face ``datasets`` layout, row groups of ~100 MB.

``image`` (and ``mask``) are structs of ``bytes`` and ``path``, as ``datasets.Image``
stores them, and the schema carries the ``huggingface`` features metadata, so
``datasets`` decodes them as images with no custom code. Image bytes are stored
uncompressed (JPEG does not shrink) and without statistics (min/max of image bytes would
bloat the footer). Only one row group is in memory at a time. pyarrow is imported here
only, when a Parquet export runs.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from hyperkvasir_cli.core.errors import ConfigError
from hyperkvasir_cli.export.records import LoadedItem, box_fields

EXPORT_EXTRA_HINT = "install the extra for shards: pip install 'hyperkvasir[export]'"
TEXT_COLUMNS = ("path", "label", "organ", "category", "sha256", "split")
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


def _columns(rows: list[LoadedItem], with_masks: bool) -> dict[str, list[object]]:
    columns: dict[str, list[object]] = {
        "image": [{"bytes": r.image, "path": r.item.path} for r in rows],
        "path": [r.item.path for r in rows],
        "label": [r.item.label for r in rows],
        "organ": [r.item.organ for r in rows],
        "category": [r.item.category for r in rows],
        "sha256": [r.sha256 for r in rows],
        "split": [r.split for r in rows],
    }
    if with_masks:
        columns["mask"] = [
            {"bytes": r.mask, "path": r.item.mask} if r.mask is not None else None for r in rows
        ]
        columns["boxes"] = [[box_fields(b) for b in r.boxes or ()] for r in rows]
    return columns


def write_parquet_shard(
    path: Path,
    row_groups: Iterator[list[LoadedItem]],
    with_masks: bool,
    on_rows: Callable[[list[LoadedItem]], None],
) -> int:
    """Write each group of rows as one row group; returns the number of rows."""
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
    ) as writer:
        for rows in row_groups:
            count = len(rows)
            table = pa.Table.from_pydict(_columns(rows, with_masks), schema=table_schema)
            on_rows(rows)
            # The images' Python copies go before the writer buffers its own, and what
            # arrow freed goes back to the system: about two row groups at the peak.
            del rows
            writer.write_table(table, row_group_size=max(1, count))
            del table
            pa.default_memory_pool().release_unused()
            rows_written += count
    return rows_written
