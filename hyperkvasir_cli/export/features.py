"""The unlabeled images' features, joined (see :mod:`dataset.tables.joined`), as one CSV
or one Parquet file, beside an ``export.json`` naming it with its rows and sha256.

Written to a hidden temporary file in the output folder and renamed into place only when
every row is written, so a failed or interrupted export leaves no half file; the same
inputs give the same bytes (CSV: the files' own text, LF line ends; Parquet: the same
pyarrow version, fixed row-group size). Files honour the umask. An existing output is
replaced only with ``force``. Parquet needs pyarrow (``pip install 'hyperkvasir[export]'``).
"""

from __future__ import annotations

import contextlib
import csv
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Literal

from hyperkvasir_cli.core.errors import UsageError
from hyperkvasir_cli.core.hashing import sha256_file
from hyperkvasir_cli.core.progress import ProgressReporter, SilentProgress
from hyperkvasir_cli.dataset.tables.joined import Column, FeatureTable

TableFormat = Literal["csv", "parquet"]
EXPORT_JSON = "export.json"
VALUES_PER_BATCH = 1_000_000  # Parquet rows are buffered up to this many values


@dataclass(frozen=True)
class TableExport:
    subject: str
    format: TableFormat
    path: Path
    rows: int
    bytes: int
    sha256: str
    columns: tuple[Column, ...]
    joined: dict[str, object]

    def file_entry(self) -> dict[str, object]:
        return {
            "file": self.path.name,
            "format": self.format,
            "rows": self.rows,
            "bytes": self.bytes,
            "sha256": self.sha256,
        }

    def as_json(self) -> dict[str, object]:
        return {
            "subject": self.subject,
            "rows": self.rows,
            "columns": [{"name": c.name, "type": c.type, "from": c.source} for c in self.columns],
            "joined": self.joined,
            "files": [self.file_entry()],
        }


def export_table(
    table: FeatureTable,
    out: Path,
    output: TableFormat,
    *,
    subject: str,
    force: bool = False,
    progress: ProgressReporter | None = None,
) -> TableExport:
    """Write ``table`` to ``out/<subject>.<csv|parquet>`` and ``out/export.json``.

    UsageError (exit 2) when the file exists and ``force`` is not given, or when Parquet
    is asked for without pyarrow; ArchiveError (exit 6) for a value the ARFF declares
    numeric that is not a number (the line is named). Nothing is left half written.
    """
    progress = progress or SilentProgress()
    target = out / f"{subject}.{output}"
    if not force and target.exists():
        raise UsageError(
            f"{target} already exists", hint="pass --force to replace it, or --to another folder"
        )
    writer = _write_parquet if output == "parquet" else _write_csv
    if output == "parquet":
        _require_pyarrow()
    out.mkdir(parents=True, exist_ok=True)
    progress.start(f"exporting {subject}", None)
    try:
        with _temporary(target) as temporary:
            writer(table, temporary, progress)
            os.replace(temporary, target)
    finally:
        progress.finish()
    result = TableExport(
        subject=subject,
        format=output,
        path=target,
        rows=table.counts.rows,
        bytes=target.stat().st_size,
        sha256=sha256_file(target),
        columns=table.columns,
        joined=table.counts.as_json(),
    )
    document = json.dumps(_listing(out, result), indent=2, ensure_ascii=False) + "\n"
    with _temporary(out / EXPORT_JSON) as temporary:
        temporary.write_text(document, encoding="utf-8")
        os.replace(temporary, out / EXPORT_JSON)
    return result


def _listing(out: Path, result: TableExport) -> dict[str, object]:
    """This export's document, still listing the other formats of the same subject whose
    files are in the folder (a CSV and a Parquet export can share a folder)."""
    document = result.as_json()
    try:
        earlier = json.loads((out / EXPORT_JSON).read_text(encoding="utf-8"))
        kept = [
            entry
            for entry in earlier.get("files", [])
            if earlier.get("subject") == result.subject
            and entry.get("file") != result.path.name
            and (out / str(entry.get("file"))).is_file()
        ]
    except (OSError, ValueError, AttributeError, TypeError):
        kept = []  # no listing yet, or one this program did not write
    document["files"] = sorted([*kept, result.file_entry()], key=lambda e: str(e.get("file")))
    return document


@contextlib.contextmanager
def _temporary(target: Path) -> Iterator[Path]:
    """A hidden file beside ``target`` (created with the umask's mode), removed unless
    the caller renamed it."""
    temporary = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    temporary.unlink(missing_ok=True)
    try:
        yield temporary
    finally:
        temporary.unlink(missing_ok=True)


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
    import pyarrow as pa
    import pyarrow.parquet as pq

    types = {"string": pa.string(), "float": pa.float64(), "int": pa.int64()}
    schema = pa.schema([pa.field(c.name, types[c.type]) for c in table.columns])
    batch_rows = max(1, VALUES_PER_BATCH // len(table.columns))
    columns = table.columns
    with pq.ParquetWriter(str(path), schema) as writer:
        buffered: list[list[str | float | int | None]] = [[] for _ in columns]
        for row in table.rows():
            try:
                for values, column, value in zip(buffered, columns, row, strict=True):
                    values.append(column.convert(value))
            except ValueError as exc:
                raise table.error(str(exc)) from None
            progress.advance(1)
            if len(buffered[0]) >= batch_rows:
                writer.write_table(pa.table(buffered, schema=schema), row_group_size=batch_rows)
                buffered = [[] for _ in columns]
        if buffered[0] or table.counts.rows == 0:
            writer.write_table(pa.table(buffered, schema=schema), row_group_size=batch_rows)
