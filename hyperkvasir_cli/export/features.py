"""The unlabeled images' features, joined (see :mod:`dataset.tables.joined`), as one CSV
or one Parquet file, beside an ``export.json`` naming it with its rows and sha256.

The file is written to the destination's staging file (a hidden file in the folder, or a
local file for an ``s3://`` prefix) and published whole only when every row is written,
so a failed or interrupted export leaves no half file; ``export.json`` comes last. The
same inputs give the same bytes (CSV: the files' own text, LF line ends; Parquet: the same
pyarrow version, fixed row-group size). The data file honours the umask. Parquet needs
pyarrow (``pip install 'hyperkvasir[export]'``).
"""

from __future__ import annotations

import csv
import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Literal

from hyperkvasir_cli.core.errors import UsageError
from hyperkvasir_cli.core.hashing import sha256_file
from hyperkvasir_cli.core.progress import ProgressReporter, SilentProgress
from hyperkvasir_cli.dataset.tables.joined import Column, FeatureTable
from hyperkvasir_cli.export.destination import Destination

TableFormat = Literal["csv", "parquet"]
EXPORT_JSON = "export.json"
VALUES_PER_BATCH = 500_000  # values buffered per Parquet row group: memory stays flat


@dataclass(frozen=True)
class TableExport:
    subject: str
    format: TableFormat
    file: str  # relative to the destination
    destination: str
    rows: int
    bytes: int
    sha256: str
    columns: tuple[Column, ...]
    joined: dict[str, object]
    # Every table file the folder's export.json lists: this one, and an earlier export's
    # other format beside it.
    listed: tuple[dict[str, object], ...] = ()

    def file_entry(self) -> dict[str, object]:
        return {
            "file": self.file,
            "format": self.format,
            "rows": self.rows,
            "bytes": self.bytes,
            "sha256": self.sha256,
        }

    def as_json(self) -> dict[str, object]:
        return {
            "part": self.subject,
            "to": self.destination,
            "rows": self.rows,
            "columns": [{"name": c.name, "type": c.type, "from": c.source} for c in self.columns],
            "joined": self.joined,
            "files": list(self.listed) or [self.file_entry()],
        }


def export_table(
    table: FeatureTable,
    destination: Destination,
    output: TableFormat,
    *,
    subject: str,
    progress: ProgressReporter | None = None,
) -> TableExport:
    """Write ``table`` as ``<subject>.<csv|parquet>`` and ``export.json`` to ``destination``,
    replacing an earlier export of the same name.

    UsageError (exit 2) when Parquet is asked for without pyarrow; ArchiveError (exit 6)
    for a value the ARFF declares numeric that is not a number (the line is named).
    Nothing is left half written.
    """
    progress = progress or SilentProgress()
    if output == "parquet":
        _require_pyarrow()
    name = f"{subject}.{output}"
    staged = destination.staging_path(name)
    staged.unlink(missing_ok=True)
    progress.start(f"exporting {subject}", None)
    try:
        (_write_parquet if output == "parquet" else _write_csv)(table, staged, progress)
        size, digest = staged.stat().st_size, sha256_file(staged)
        destination.publish(name, staged)
    finally:
        staged.unlink(missing_ok=True)
        progress.finish()
    result = TableExport(
        subject=subject,
        format=output,
        file=name,
        destination=destination.display,
        rows=table.counts.rows,
        bytes=size,
        sha256=digest,
        columns=table.columns,
        joined=table.counts.as_json(),
    )
    listed = _listed(destination.read_bytes(EXPORT_JSON), result)
    result = dataclasses.replace(result, listed=tuple(listed))
    listing = result.as_json()
    del listing["to"]  # the listing is the same wherever the files go
    destination.write_bytes(EXPORT_JSON, (json.dumps(listing, indent=2) + "\n").encode())
    return result


def _listed(earlier_bytes: bytes | None, result: TableExport) -> list[dict[str, object]]:
    """This export's file, and the other formats of the same subject that an earlier
    export's listing names (a CSV and a Parquet export can share a folder)."""
    try:
        earlier = json.loads(earlier_bytes or b"{}")
        kept = [
            entry
            for entry in earlier.get("files", [])
            if earlier.get("part") == result.subject and entry.get("file") != result.file
        ]
    except (ValueError, AttributeError, TypeError):
        kept = []  # no listing yet, or one this program did not write
    return sorted([*kept, result.file_entry()], key=lambda e: str(e.get("file")))


def _write_csv(table: FeatureTable, path: Path, progress: ProgressReporter) -> None:
    with path.open("x", encoding="utf-8", newline="") as handle:
        _csv_rows(table, handle, progress)


def _csv_rows(table: FeatureTable, handle: IO[str], progress: ProgressReporter) -> None:
    writer = csv.writer(handle, lineterminator="\n")
    writer.writerow([c.name for c in table.columns])
    for row in table.rows():
        writer.writerow(["" if v is None else v for v in row])
        progress.advance(1)


def _require_pyarrow() -> None:
    try:
        import pyarrow  # noqa: F401
    except ImportError:
        raise UsageError(
            "--format parquet needs pyarrow, which is not installed",
            hint="pip install 'hyperkvasir[export]', or use --format csv",
        ) from None


def _write_parquet(table: FeatureTable, path: Path, progress: ProgressReporter) -> None:
    """Row groups of :data:`VALUES_PER_BATCH` values, each held compactly
    (:class:`~.arrow_build.ColumnValues`) until written: memory stays flat."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from hyperkvasir_cli.export.arrow_build import ColumnValues

    types = {"string": pa.string(), "float": pa.float64(), "int": pa.int64()}
    schema = pa.schema([pa.field(c.name, types[c.type]) for c in table.columns])
    batch_rows = max(1, VALUES_PER_BATCH // len(table.columns))
    columns = table.columns

    def flush(buffered: list[ColumnValues]) -> None:
        arrays = [values.finish(pa) for values in buffered]
        writer.write_table(pa.Table.from_arrays(arrays, schema=schema), row_group_size=batch_rows)
        pa.default_memory_pool().release_unused()

    with pq.ParquetWriter(str(path), schema) as writer:
        buffered = [ColumnValues(c.type) for c in columns]
        for row in table.rows():
            try:
                for values, column, value in zip(buffered, columns, row, strict=True):
                    values.append(column.convert(value))
            except ValueError as exc:
                raise table.error(str(exc)) from None
            progress.advance(1)
            if len(buffered[0]) >= batch_rows:
                flush(buffered)
                buffered = [ColumnValues(c.type) for c in columns]
        if len(buffered[0]) or table.counts.rows == 0:
            flush(buffered)
