"""`export` (and the Python API's ``export``): a part as training-ready shards.

What a part exports to is looked up by the part's kind (:data:`EXPORTERS`): the labeled
and the segmented images become image shards (Parquet or WebDataset, see
:mod:`hyperkvasir_cli.export`); another kind of part adds its own exporter and formats.
Shards go to a folder or an ``s3://`` prefix; a folder that holds anything but an
earlier export is refused, so nothing of the user's is overwritten.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from hyperkvasir_cli.core.errors import UsageError

if TYPE_CHECKING:
    from hyperkvasir_cli.core.manifest import Part
    from hyperkvasir_cli.ops.session import Session

DEFAULT_SHARD_SIZE = "500MB"


@dataclass(frozen=True)
class ExportRequest:
    """What the caller asked for, checked only as far as every exporter needs."""

    shard_format: str
    to: str
    split_dir: Path | None = None
    shard_bytes: int = 500 * 1000 * 1000
    from_archive: bool = False


class ExportOutcome(Protocol):
    def as_json(self) -> dict[str, object]: ...


Exporter = Callable[["Session", "Part", ExportRequest], ExportOutcome]


def export_image_shards(session: Session, part: Part, request: ExportRequest) -> ExportOutcome:
    from hyperkvasir_cli.dataset.paths import part_kind
    from hyperkvasir_cli.dataset.sources import locate_source
    from hyperkvasir_cli.export.destination import open_destination
    from hyperkvasir_cli.export.writer import EXPORT_FILE, write_export

    if request.shard_format == "parquet":
        from hyperkvasir_cli.export.parquet import import_pyarrow

        import_pyarrow()  # without the extra, say so before any work
    source = locate_source(
        part, session.layout, session.record(part), from_archive=request.from_archive
    )
    _refuse_foreign_folder(request.to, EXPORT_FILE)
    destination = open_destination(request.to)
    try:
        return write_export(
            source,
            part.name,
            part_kind(part),
            "parquet" if request.shard_format == "parquet" else "webdataset",
            destination,
            split_dir=request.split_dir,
            shard_bytes=request.shard_bytes,
            progress=session.task_progress(),
        )
    finally:
        destination.close()


def export_feature_table(session: Session, part: Part, request: ExportRequest) -> ExportOutcome:
    from hyperkvasir_cli.ops.export_tables import export_features

    if request.split_dir is not None:
        raise UsageError(
            "--split applies to image shards; the features are exported as one table",
            hint="leave out --split",
        )
    return export_features(session, output_format=request.shard_format, to=request.to)


# Part kind -> (formats, exporter). A new kind of part adds its line here.
EXPORTERS: dict[str, tuple[tuple[str, ...], Exporter]] = {
    "labeled-images": (("parquet", "webdataset"), export_image_shards),
    "segmented-images": (("parquet", "webdataset"), export_image_shards),
    "unlabeled-features": (("csv", "parquet"), export_feature_table),
}


def export_part(
    session: Session,
    part_name: str,
    *,
    shard_format: str,
    to: str,
    split_dir: Path | None = None,
    shard_size: str | int = DEFAULT_SHARD_SIZE,
    from_archive: bool = False,
) -> ExportOutcome:
    """Export ``part_name`` in ``shard_format`` to ``to`` (a folder or s3:// prefix).

    UsageError (exit 2) for a part or format that has no exporter, a bad shard size, or a
    folder holding other files; ConfigError (exit 3) when the extra a format needs is
    missing.
    """
    from hyperkvasir_cli.dataset.paths import part_kind
    from hyperkvasir_cli.export.plan import parse_size
    from hyperkvasir_cli.ops.export_tables import table_kind

    table = table_kind(session.manifest, part_name)  # a name of the features (a group)
    part = session.manifest.part(table[0] if table else part_name)
    kind = table[1] if table else part_kind(part) or part.name
    if kind not in EXPORTERS:
        raise UsageError(
            f"export does not know {part.name}",
            hint=f"parts it exports: {', '.join(EXPORTERS)}",
        )
    formats, exporter = EXPORTERS[kind]
    if shard_format not in formats:
        raise UsageError(
            f"{part_name} exports as {' or '.join(formats)}, not {shard_format}",
            hint=f"pass --format {formats[0]}",
        )
    try:
        shard_bytes = shard_size if isinstance(shard_size, int) else parse_size(shard_size)
    except ValueError as exc:
        raise UsageError(f"--shard-size: {exc}", hint="for example --shard-size 500MB") from exc
    if split_dir is not None and not split_dir.is_dir():
        raise UsageError(
            f"--split {split_dir}: no such folder",
            hint="pass the folder that `hyperkvasir split --out DIR` wrote",
        )
    request = ExportRequest(shard_format, to, split_dir, shard_bytes, from_archive)
    return exporter(session, part, request)


def _refuse_foreign_folder(to: str, listing: str) -> None:
    if to.startswith("s3://"):
        return
    folder = Path(to).expanduser()
    if folder.exists() and not folder.is_dir():
        raise UsageError(f"--to {to} is a file", hint="name a folder (it is created)")
    if folder.is_dir() and any(folder.iterdir()) and not (folder / listing).exists():
        raise UsageError(
            f"--to {to} holds other files (no {listing} of an earlier export)",
            hint="name an empty or new folder; an earlier export's folder is updated in place",
        )
