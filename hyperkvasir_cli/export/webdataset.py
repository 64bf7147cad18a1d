"""One WebDataset shard: a tar of ``<key>.jpg`` + ``<key>.json`` (+ ``<key>.mask.jpg``).

The key is the image's path without its suffix, so samples keep the dataset's layout and
sort as the rows do. Every member has the same owner (0, no names), mode (0644) and time
(2020-01-01), so the same input gives the same bytes.
"""

from __future__ import annotations

import io
import json
import tarfile
from collections.abc import Callable, Iterator
from pathlib import Path

from hyperkvasir_cli.dataset.sources import FileReader
from hyperkvasir_cli.export.items import ExportItem
from hyperkvasir_cli.export.records import load_item

FIXED_MTIME = 1577836800  # 2020-01-01T00:00:00Z, the dataset's year


def sample_key(path: str) -> str:
    folder, _, name = path.rpartition("/")
    stem = name.split(".", 1)[0]
    return f"{folder}/{stem}" if folder else stem


def _suffix(path: str) -> str:
    name = path.rsplit("/", 1)[-1]
    return name.rsplit(".", 1)[-1].lower() if "." in name else "bin"


def _add(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size, info.mtime, info.mode = len(data), FIXED_MTIME, 0o644
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    tar.addfile(info, io.BytesIO(data))


def write_webdataset_shard(
    path: Path,
    reader: FileReader,
    split: str,
    row_groups: Iterator[list[ExportItem]],
    on_rows: Callable[[list[ExportItem]], None],
) -> int:
    """Write the samples of every group; memory holds one image (and mask) at a time."""
    rows_written = 0
    with tarfile.open(path, "w", format=tarfile.PAX_FORMAT) as tar:
        for rows in row_groups:
            for item in rows:
                row = load_item(reader, item, split)
                key = sample_key(row.item.path)
                _add(tar, f"{key}.{_suffix(row.item.path)}", row.image)
                if row.mask is not None and row.item.mask is not None:
                    _add(tar, f"{key}.mask.{_suffix(row.item.mask)}", row.mask)
                document = json.dumps(row.fields(), ensure_ascii=False, separators=(",", ":"))
                _add(tar, f"{key}.json", document.encode("utf-8"))
            rows_written += len(rows)
            on_rows(rows)
    return rows_written
