"""`hyperkvasir split`: reproducible train/val/test splits or folds, or the official ones."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from hyperkvasir_cli.cli.options import JsonOption, WaitLockOption, path_value
from hyperkvasir_cli.cli.runtime import Runtime, command
from hyperkvasir_cli.dataset.paths import LABELED_IMAGES
from hyperkvasir_cli.dataset.split.assign import DEFAULT_RATIOS

if TYPE_CHECKING:
    from hyperkvasir_cli.ops.split import SplitResult


class Strategy(str, Enum):
    official = "official"
    stratified = "stratified"
    random = "random"


class SplitFormat(str, Enum):
    csv = "csv"
    json = "json"
    imagefolder = "imagefolder"


class LinkChoice(str, Enum):
    symlink = "symlink"
    hardlink = "hardlink"
    copy = "copy"


@command
def split(
    rt: Runtime,
    strategy: Annotated[
        Strategy,
        typer.Option(
            "--strategy",
            "-s",
            help="official (the published folds), stratified (per class) or random.",
        ),
    ] = Strategy.stratified,
    folds: Annotated[
        int | None,
        typer.Option(
            "--folds",
            "-k",
            min=2,
            help="K folds instead of ratios (official: 2 or 5, default 2).",
            show_default=False,
        ),
    ] = None,
    ratios: Annotated[
        str | None,
        typer.Option(
            "--ratios",
            "-r",
            help=f"Split shares summing to 1 (default {DEFAULT_RATIOS}: train,val,test).",
            show_default=False,
        ),
    ] = None,
    seed: Annotated[
        int | None,
        typer.Option(
            "--seed", "-S", help="Seed of the assignment (default 0).", show_default=False
        ),
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            "-o",
            help="Output folder (default <data_dir>/splits/<part>-<strategy>, official: "
            "<part>-official-<K>fold).",
            show_default=False,
            parser=path_value,
        ),
    ] = None,
    output_format: Annotated[
        SplitFormat,
        typer.Option(
            "--format",
            "-F",
            help="csv or json: one file per split; imagefolder: <split>/<class>/ links.",
        ),
    ] = SplitFormat.csv,
    link: Annotated[
        LinkChoice | None,
        typer.Option(
            "--link",
            "-l",
            help="imagefolder entries: symlink (relative; default), hardlink or copy.",
            show_default=False,
        ),
    ] = None,
    part_name: Annotated[
        str,
        typer.Option(
            "--part",
            "-p",
            help="labeled-images, or segmented-images (pairs stay together; CSV column mask).",
        ),
    ] = LABELED_IMAGES,
    from_archive: Annotated[
        bool,
        typer.Option(
            "--from-archive", "-A", help="List the images from the zip, not the extracted tree."
        ),
    ] = False,
    force: Annotated[
        bool, typer.Option("--force", "-f", help="Replace an earlier split in --out.")
    ] = False,
    wait_lock: WaitLockOption = None,
    json_output: JsonOption = False,
    from_predictions: Annotated[
        str | None,
        typer.Option(
            "--from-predictions",
            "-P",
            metavar="MODEL",
            help="Split the unlabeled images by the labels MODEL predicted (a part of "
            "unlabeled-predictions, the predictions- prefix optional; several separated by "
            "commas must agree; all: every model).",
            show_default=False,
        ),
    ] = None,
    min_confidence: Annotated[
        float,
        typer.Option(
            "--min-confidence",
            "-M",
            min=0.0,
            max=1.0,
            metavar="P",
            help="With --from-predictions: keep images whose predicted class scored at "
            "least P (0 to 1) in every model named.",
        ),
    ] = 0.0,
) -> None:
    """Write reproducible splits of the labeled (or segmented) images and print the counts.

    official: the published 2-fold split (5-fold with --folds 5), downloaded when missing
    and checked against its sha256, under canonical class names. stratified: each class
    split on its own, every split within one image of its ideal share. random: the whole
    set at once. Images are ordered by sha256 of "SEED:path", so the same images, options
    and seed give byte-identical files on any machine: CSV `path,class,organ,category,split`
    sorted by path (segmented images add a `mask` column), one file per split, plus
    split.json. Output that already holds exactly this split is left as is; other output
    is replaced only with --force. --from-predictions: a pseudo-labelled split of the
    unlabeled images (paths unlabeled-images/images/<file>, the predicted class), the
    models' inference files downloaded when missing; split.json records the models,
    their files' sha256 and the threshold.
    """
    from hyperkvasir_cli.ops.split import split_images

    result = split_images(
        rt.session,
        strategy=strategy.value,
        folds=folds,
        ratios=ratios,
        seed=seed,
        out=out,
        output_format=output_format.value,
        link=link.value if link is not None else None,
        part_name=part_name,
        from_archive=from_archive,
        force=force,
        wait_lock=wait_lock,
        from_predictions=from_predictions,
        min_confidence=min_confidence,
    )
    _report(rt, result, json_output)


def _report(rt: Runtime, done: SplitResult, json_output: bool) -> None:
    from rich import box
    from rich.table import Table

    if json_output:
        rt.console.emit_json(done.as_json())
        return
    result = done.split
    counts = done.class_counts()
    table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, collapse_padding=True)
    table.add_column("class", no_wrap=True)
    for name in result.names:
        table.add_column(name, justify="right", no_wrap=True)
    table.add_column("total", justify="right", no_wrap=True)
    labels = sorted({item.label for item in result.items})
    for label in labels:
        row = [counts[name][label] for name in result.names]
        table.add_row(label, *(f"{n:,}" for n in row), f"{sum(row):,}")
    totals = [sum(counts[name].values()) for name in result.names]
    table.add_section()
    table.add_row("total", *(f"{n:,}" for n in totals), f"{sum(totals):,}", style="bold")
    rt.console.render(table)
