"""Writing a whole export: every split's shards, then ``export.json`` listing them.

The contract of :func:`write_export`: rows sorted by path within each split; shards cut
by :func:`~hyperkvasir_cli.export.plan.plan_shards`; each shard staged, hashed and then
published whole; ``export.json`` written last (so its presence marks a finished export),
listing every shard with its rows, bytes and sha256; shards of an earlier export that the
new one does not list are removed. The same input gives byte-identical shards and the
same ``export.json``. Memory holds one row group at a time.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from hyperkvasir_cli.core.about import __version__
from hyperkvasir_cli.core.hashing import sha256_file
from hyperkvasir_cli.core.progress import ProgressReporter
from hyperkvasir_cli.dataset.sources import DataSource, FileReader
from hyperkvasir_cli.export.destination import Destination
from hyperkvasir_cli.export.items import ExportItem, items_of
from hyperkvasir_cli.export.plan import ROW_GROUP_BYTES, ShardPlan, plan_shards, shard_name
from hyperkvasir_cli.export.splits import group_by_split

ShardFormat = Literal["parquet", "webdataset"]
EXPORT_FILE = "export.json"
SUFFIXES: dict[ShardFormat, str] = {"parquet": "parquet", "webdataset": "tar"}


@dataclass(frozen=True)
class ShardInfo:
    file: str
    rows: int
    bytes: int
    sha256: str

    def as_json(self) -> dict[str, object]:
        return {"file": self.file, "rows": self.rows, "bytes": self.bytes, "sha256": self.sha256}


@dataclass
class SplitInfo:
    name: str
    rows: int = 0
    classes: dict[str, int] = field(default_factory=dict)
    shards: list[ShardInfo] = field(default_factory=list)


@dataclass
class ExportResult:
    part: str
    format: ShardFormat
    destination: str
    source: str
    splits: list[SplitInfo]

    @property
    def rows(self) -> int:
        return sum(s.rows for s in self.splits)

    def as_json(self) -> dict[str, object]:
        """What `export --json` prints: the listing, and where from and to."""
        return {"to": self.destination, "source": self.source, **self.listing_json()}

    def listing_json(self) -> dict[str, object]:
        """``export.json``: the same for the same input, wherever it was read from."""
        return {
            "tool": "hyperkvasir",
            "tool_version": __version__,
            "part": self.part,
            "format": self.format,
            "rows": self.rows,
            "splits": {
                s.name: {
                    "rows": s.rows,
                    "classes": dict(sorted(s.classes.items())),
                    "shards": [shard.as_json() for shard in s.shards],
                }
                for s in self.splits
            },
        }


def write_export(
    source: DataSource,
    part: str,
    kind: str | None,
    shard_format: ShardFormat,
    destination: Destination,
    *,
    split_dir: Path | None = None,
    shard_bytes: int,
    progress: ProgressReporter,
    group_bytes: int = ROW_GROUP_BYTES,
) -> ExportResult:
    items = items_of(kind, source, source.list_files())
    grouped = group_by_split(items, split_dir, part)
    previous = _listed_files(destination.read_bytes(EXPORT_FILE))
    result = ExportResult(part, shard_format, destination.display, source.kind, [])
    progress.start(f"export {part}", sum(i.size for g in grouped.values() for i in g))
    try:
        with source.reader() as reader:
            for name, group in grouped.items():
                info = SplitInfo(name, len(group))
                for item in group:
                    info.classes[item.label] = info.classes.get(item.label, 0) + 1
                plans = plan_shards([i.size for i in group], shard_bytes, group_bytes)
                for plan in plans:
                    info.shards.append(
                        _write_shard(
                            reader,
                            group,
                            name,
                            plan,
                            len(plans),
                            shard_format,
                            destination,
                            progress,
                        )
                    )
                result.splits.append(info)
    finally:
        progress.finish()
    document = json.dumps(result.listing_json(), indent=2, ensure_ascii=False) + "\n"
    destination.write_bytes(EXPORT_FILE, document.encode("utf-8"))
    listed = {s.file for split in result.splits for s in split.shards}
    for stale in sorted(previous - listed):
        destination.remove(stale)
    return result


def _write_shard(
    reader: FileReader,
    group: list[ExportItem],
    split: str,
    plan: ShardPlan,
    count: int,
    shard_format: ShardFormat,
    destination: Destination,
    progress: ProgressReporter,
) -> ShardInfo:
    relative = shard_name(split, plan.index, count, SUFFIXES[shard_format])
    staged = destination.staging_path(relative)

    def row_groups() -> Iterator[list[ExportItem]]:
        for start, end in plan.groups():
            yield group[start:end]

    def advance(items: list[ExportItem]) -> None:
        progress.advance(sum(item.size for item in items))

    try:
        if shard_format == "parquet":
            from hyperkvasir_cli.export.parquet import write_parquet_shard

            with_masks = any(item.mask is not None for item in group)
            rows = write_parquet_shard(staged, reader, split, row_groups(), with_masks, advance)
        else:
            from hyperkvasir_cli.export.webdataset import write_webdataset_shard

            rows = write_webdataset_shard(staged, reader, split, row_groups(), advance)
        size, digest = staged.stat().st_size, sha256_file(staged)
        destination.publish(relative, staged)
    finally:
        staged.unlink(missing_ok=True)
    return ShardInfo(relative, rows, size, digest)


def _listed_files(document: bytes | None) -> set[str]:
    """The shard files an earlier ``export.json`` lists (none when absent or unreadable)."""
    if document is None:
        return set()
    try:
        splits = json.loads(document)["splits"]
        return {str(s["file"]) for split in splits.values() for s in split["shards"]}
    except (ValueError, KeyError, TypeError, AttributeError):
        return set()
