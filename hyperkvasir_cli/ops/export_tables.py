"""`export unlabeled-features --format csv|parquet --to DIR|s3://...`: the ARFF's rows joined
with their cluster and, for each model whose predictions are here, the predicted label.

The ARFF is downloaded when missing (as the official split is for `split`); the clusters
file and the predictions are joined when they are here, never fetched, and the export
says which were. A folder that holds anything but an earlier export is refused, so
nothing of the user's is overwritten.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from hyperkvasir_cli.core.errors import UsageError
from hyperkvasir_cli.dataset.tables.parts import CLUSTERS, FEATURES, FEATURES_ARFF
from hyperkvasir_cli.ops.tables import side_file

if TYPE_CHECKING:
    from hyperkvasir_cli.core.manifest import Manifest
    from hyperkvasir_cli.export.features import TableExport
    from hyperkvasir_cli.ops.session import Session

TABLE_FORMATS = ("csv", "parquet")


def table_kind(manifest: Manifest, name: str) -> tuple[str, str] | None:
    """For a name of the features (the group, the ARFF or the clusters file): the part the
    export reads and the kind `export` knows it by; None for any other name."""
    from hyperkvasir_cli.ops.tables import FEATURE_NAMES, is_table_subject

    if name in FEATURE_NAMES and FEATURES_ARFF in manifest.names:
        return FEATURES_ARFF, FEATURES
    if is_table_subject(manifest, name):
        raise UsageError(
            f"the predicted labels are exported with the features, not as {name}",
            hint=f"run `hyperkvasir export {FEATURES} --format csv --to DIR`: each downloaded "
            "model's label comes in a column of its own",
        )
    return None


def export_features(session: Session, *, output_format: str, to: str) -> TableExport:
    """Write the joined features to ``to`` (a folder, or an s3:// prefix with the s3
    extra). UsageError (exit 2) for another format, a folder holding other files, or an
    ARFF that is not the published one; ArchiveError (exit 6) for a file that cannot be
    read as its format says."""
    from hyperkvasir_cli.dataset.tables.joined import joined_features
    from hyperkvasir_cli.dataset.tables.parts import prediction_parts
    from hyperkvasir_cli.dataset.tables.predictions import ModelFile
    from hyperkvasir_cli.export.destination import open_destination
    from hyperkvasir_cli.export.features import EXPORT_JSON, export_table

    if output_format not in TABLE_FORMATS:
        raise UsageError(
            f"{FEATURES} exports as csv or parquet, not {output_format}",
            hint="pass --format csv or --format parquet",
        )
    refuse_foreign_folder(to, EXPORT_JSON)
    arff = side_file(session, FEATURES_ARFF, fetch=True)
    if arff is None:
        raise UsageError(
            f"{FEATURES_ARFF}: the downloaded file cannot be used",
            hint=f"run `hyperkvasir download {FEATURES_ARFF} --force`",
        )
    clusters = side_file(session, CLUSTERS)
    models = []
    for part in prediction_parts(session.manifest):
        path = side_file(session, part.name)
        if path is not None:
            models.append(ModelFile(part.name, path))
    joined = ([CLUSTERS] if clusters else []) + [m.model for m in models]
    session.info(f"joining {', '.join(joined)}" if joined else "nothing to join: features only")
    destination = open_destination(to)
    try:
        with joined_features(arff, clusters, models) as table:
            return export_table(
                table,
                destination,
                "parquet" if output_format == "parquet" else "csv",
                subject=FEATURES,
                progress=session.task_progress("files"),
            )
    finally:
        destination.close()


def refuse_foreign_folder(to: str, listing: str) -> None:
    """A folder that exists and holds files, but no ``listing`` of an earlier export, is
    someone's else: UsageError (exit 2)."""
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
