"""`hyperkvasir export`: a part as training-ready shards (Parquet, WebDataset), or the
unlabeled images' features as one table (CSV, Parquet)."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Annotated, Any

import typer

from hyperkvasir_cli.cli.options import JsonOption, complete_part_names, path_value, text_value
from hyperkvasir_cli.cli.runtime import Runtime, command
from hyperkvasir_cli.core.units import format_bytes


class ExportFormat(str, Enum):
    parquet = "parquet"
    webdataset = "webdataset"
    csv = "csv"


@command
def export(
    rt: Runtime,
    part: Annotated[
        str,
        typer.Argument(
            help="labeled-images or segmented-images; unlabeled-features (a table).",
            metavar="PART",
            show_default=False,
            autocompletion=complete_part_names,
        ),
    ],
    shard_format: Annotated[
        ExportFormat,
        typer.Option(
            "--format",
            "-F",
            help="parquet (Hugging Face datasets layout; needs hyperkvasir\\[export]) or "
            "webdataset (tar shards of <key>.jpg + <key>.json); unlabeled-features: csv or "
            "parquet.",
            show_default=False,
        ),
    ],
    to: Annotated[
        str,
        typer.Option(
            "--to",
            "-t",
            metavar="DIR|URL",
            help="Output folder, or s3://bucket/prefix/ (needs hyperkvasir\\[s3]).",
            show_default=False,
            parser=text_value,
        ),
    ],
    split_dir: Annotated[
        Path | None,
        typer.Option(
            "--split",
            "-s",
            metavar="DIR",
            help="A `split` output folder: one folder of shards per split "
            "(default: one folder, all/).",
            show_default=False,
            parser=path_value,
        ),
    ] = None,
    shard_size: Annotated[
        str,
        typer.Option(
            "--shard-size",
            "-S",
            metavar="SIZE",
            help="Bytes of images per shard: 500MB, 1GB, 512MiB.",
        ),
    ] = "500MB",
    from_archive: Annotated[
        bool,
        typer.Option(
            "--from-archive", "-A", help="Read the images from the zip, not the extracted tree."
        ),
    ] = False,
    json_output: JsonOption = False,
) -> None:
    r"""Write the part's images as shards that datasets, Ray Data, Spark or torch read
    with no custom code, and export.json listing each shard with its rows and sha256.

    Rows sorted by path: the image (bytes and path, as datasets.Image stores it), path,
    label (canonical class), organ, category, sha256, split; segmented images add the
    mask and the boxes. Parquet row groups hold about 100 MB; a shard closes past
    --shard-size. The same input gives byte-identical shards.

    unlabeled-features: the ARFF's rows (downloaded when missing) as one CSV or Parquet
    file, each with its image, every feature, its cluster from clusters.csv and each
    downloaded model's predicted label.
    """
    from hyperkvasir_cli.ops.export import export_part

    outcome = export_part(
        rt.session,
        part,
        shard_format=shard_format.value,
        to=to,
        split_dir=split_dir,
        shard_size=shard_size,
        from_archive=from_archive,
    )
    document = outcome.as_json()
    if json_output:
        rt.console.emit_json(document)
        return
    _render(rt, document)


def _render(rt: Runtime, document: dict[str, Any]) -> None:
    from rich import box
    from rich.table import Table

    if "splits" not in document:  # a table: the features, one file
        for entry in document.get("files", []):
            rt.console.out(
                f"{entry['file']}: {entry['rows']:,} rows, {format_bytes(entry['bytes'])}, "
                f"sha256 {entry['sha256']}"
            )
        joined = document.get("joined", {})
        with_prediction = joined.get("with_prediction", {})
        rt.console.info(
            f"{joined.get('rows', 0):,} rows; {joined.get('with_cluster', 0):,} with a cluster "
            f"from clusters.csv; predicted labels of {len(with_prediction)} models"
        )
        rt.console.info(f"the table and export.json in {document.get('to')}")
        return

    table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, collapse_padding=True)
    for name in ("split", "rows", "shards", "bytes"):
        table.add_column(name, justify="left" if name == "split" else "right", no_wrap=True)
    for name, split in document.get("splits", {}).items():
        shards = split.get("shards", [])
        size = sum(int(s.get("bytes", 0)) for s in shards)
        table.add_row(name, f"{split.get('rows', 0):,}", str(len(shards)), format_bytes(size))
    rt.console.render(table)
    rt.console.info(f"shards and export.json in {document.get('to')}")
