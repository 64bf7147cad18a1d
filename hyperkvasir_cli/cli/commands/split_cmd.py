"""`hyperkvasir split`: reproducible train/val/test splits or folds, or the official ones."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Literal

import typer

from hyperkvasir_cli import __version__
from hyperkvasir_cli.cli.options import JsonOption, WaitLockOption
from hyperkvasir_cli.cli.runtime import Runtime, command
from hyperkvasir_cli.core.errors import UsageError
from hyperkvasir_cli.dataset.paths import LABELED_IMAGES, SEGMENTED_IMAGES
from hyperkvasir_cli.dataset.split.assign import DEFAULT_RATIOS

if TYPE_CHECKING:
    from hyperkvasir_cli.dataset.paths import (
        LABELED_IMAGES,
        SEGMENTED_IMAGES,
    )
    from hyperkvasir_cli.dataset.sources import DataSource
    from hyperkvasir_cli.dataset.split.assign import (
        DEFAULT_RATIOS,
        Split,
        SplitItem,
    )
    from hyperkvasir_cli.dataset.split.official import (
        Reconciliation,
    )
    from hyperkvasir_cli.dataset.split.writers import LinkMode, Provenance, WriteResult


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


LINK_MODES: dict[LinkChoice | None, LinkMode] = {
    None: "symlink",
    LinkChoice.symlink: "symlink",
    LinkChoice.hardlink: "hardlink",
    LinkChoice.copy: "copy",
}


SPLITTABLE = (LABELED_IMAGES, SEGMENTED_IMAGES)


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
) -> None:
    """Write reproducible splits of the labeled (or segmented) images and print the counts.

    official: the published 2-fold split (5-fold with --folds 5), downloaded when missing
    and checked against its sha256, under canonical class names. stratified: each class
    split on its own, every split within one image of its ideal share. random: the whole
    set at once. Images are ordered by sha256 of "SEED:path", so the same images, options
    and seed give byte-identical files on any machine: CSV `path,class,organ,category,split`
    sorted by path (segmented images add a `mask` column), one file per split, plus
    split.json. Output that already holds exactly this split is left as is; other output
    is replaced only with --force.
    """
    from hyperkvasir_cli.dataset.paths import part_kind
    from hyperkvasir_cli.dataset.sources import locate_source
    from hyperkvasir_cli.dataset.split.writers import Provenance

    part = rt.manifest.part(part_name)
    _check_options(strategy, folds, ratios, seed, output_format, link, part_kind(part))
    official: Official | None = None
    if strategy is Strategy.official:
        official = _official(rt, folds or 2, from_archive)
        result, source = official.split, official.local
    else:
        source = locate_source(
            part, rt.layout, rt.config_file.parts.get(part.name), from_archive=from_archive
        )
        result = _computed_split(rt, source, strategy, folds, ratios, seed or 0)
    provenance = Provenance(
        part=part.name,
        manifest=_manifest_name(rt.manifest.source),
        dataset=rt.manifest.dataset,
        dataset_version=rt.manifest.version,
        tool_version=__version__,
        official_file=official.file if official else None,
        official_sha256=official.sha256 if official else None,
    )
    target = out or rt.layout.data_dir / "splits" / _default_folder(part.name, strategy, folds)
    # Output in the data folder is written under its lock, like every other writer there.
    inside = target.resolve().is_relative_to(rt.layout.data_dir.resolve())
    with rt.locked(wait_lock) if inside else contextlib.nullcontext():
        written = _write(rt, target, result, provenance, output_format, link, source, force)
    _report(rt, result, written, official.check if official else None, json_output)


def _check_options(
    strategy: Strategy,
    folds: int | None,
    ratios: str | None,
    seed: int | None,
    output_format: SplitFormat,
    link: LinkChoice | None,
    kind: str | None,
) -> None:
    """Refuse combinations that make no sense, before anything is read (exit 2)."""
    from hyperkvasir_cli.dataset.paths import LABELED_IMAGES

    if kind not in SPLITTABLE:
        raise UsageError(
            f"split works on {' or '.join(SPLITTABLE)}, not {kind or 'this part'}",
            hint="pass --part labeled-images or --part segmented-images",
        )
    if folds is not None and ratios is not None:
        raise UsageError("pass --folds or --ratios, not both")
    if link is not None and output_format is not SplitFormat.imagefolder:
        raise UsageError("--link applies to --format imagefolder only")
    if strategy is Strategy.official:
        if kind != LABELED_IMAGES:
            raise UsageError("the official split covers the labeled images only")
        if ratios is not None or seed is not None:
            raise UsageError(
                "the official split has fixed folds: --ratios and --seed do not apply",
                hint="use --strategy stratified for your own ratios or seed",
            )


def _default_folder(part: str, strategy: Strategy, folds: int | None) -> str:
    if strategy is Strategy.official:
        return f"{part}-official-{folds or 2}fold"
    return f"{part}-{strategy.value}"


CUSTOM_MANIFEST = "a manifest of your own"


def _manifest_name(source: str) -> str:
    # Never a path or a file name: split.json must be the same bytes on any machine, and
    # the same copy of a manifest under another name describes the same data.
    from hyperkvasir_cli.core.manifest import DEFAULT_MANIFEST_NAME

    return source if source == DEFAULT_MANIFEST_NAME else CUSTOM_MANIFEST


def _items(source: DataSource, rt: Runtime) -> list[SplitItem]:
    from hyperkvasir_cli.dataset.paths import SEGMENTED_IMAGES
    from hyperkvasir_cli.dataset.split.assign import split_items

    found = split_items((r.path for r in source.list_files()), source.root)
    if found.left_out:
        what = "without their pair" if source.root == SEGMENTED_IMAGES else "outside the 23 classes"
        rt.console.warn(f"{len(found.left_out)} images {what} are left out")
    return found.items


def _computed_split(
    rt: Runtime,
    source: DataSource,
    strategy: Strategy,
    folds: int | None,
    ratios: str | None,
    seed: int,
) -> Split:
    from hyperkvasir_cli.dataset.split.assign import (
        DEFAULT_RATIOS,
        fold_names,
        fold_ratios,
        make_split,
        parse_ratios,
        ratio_split_names,
    )

    if folds is not None:
        shares, names = fold_ratios(folds), fold_names(folds)
    else:
        shares = parse_ratios(ratios or DEFAULT_RATIOS)
        names = ratio_split_names(len(shares))
    items = _items(source, rt)
    if not items:
        raise UsageError(
            f"no images to split in {source.display_path}",
            hint="check the data folder with `hyperkvasir stats`",
        )
    kind: Literal["stratified", "random"] = (
        "stratified" if strategy is Strategy.stratified else "random"
    )
    return make_split(items, kind, shares, names, seed, folds=folds)


@dataclass(frozen=True)
class Official:
    split: Split
    file: str
    sha256: str
    local: DataSource | None  # the labeled images here, when there are any
    check: Reconciliation | None  # how the split and those images differ


def _official(rt: Runtime, folds: int, from_archive: bool) -> Official:
    """The official split (fetched when missing, verified) and the local images, if any."""
    from hyperkvasir_cli.cli.fetching import ensure_archive
    from hyperkvasir_cli.dataset.paths import LABELED_IMAGES, classify_labeled
    from hyperkvasir_cli.dataset.sources import locate_source
    from hyperkvasir_cli.dataset.split.official import (
        official_part_name,
        read_official_split,
        reconcile,
        verify_split_file,
    )

    split_part = rt.manifest.part(official_part_name(folds))
    path = ensure_archive(rt, split_part)
    digest = verify_split_file(path, split_part)
    result = read_official_split(path, folds)
    labeled = rt.manifest.part(LABELED_IMAGES)
    try:
        source: DataSource | None = locate_source(
            labeled, rt.layout, rt.config_file.parts.get(labeled.name), from_archive=from_archive
        )
    except UsageError:
        source = None
        rt.console.info("labeled images not found here; paths follow the class folders")
    found = None
    if source is not None:
        local = [r.path for r in source.list_files() if classify_labeled(r.path)]
        found = reconcile((item.path for item in result.items), local)
        if found.missing_locally:
            rt.console.warn(
                f"{len(found.missing_locally)} images of the official split are missing here"
            )
        if found.not_in_split:
            rt.console.warn(f"{len(found.not_in_split)} local images are not in the official split")
    return Official(result, split_part.file, digest, source, found)


def _write(
    rt: Runtime,
    out: Path,
    result: Split,
    provenance: Provenance,
    output_format: SplitFormat,
    link: LinkChoice | None,
    source: DataSource | None,
    force: bool,
) -> WriteResult:
    from hyperkvasir_cli.dataset.split.imagefolder import build_imagefolder
    from hyperkvasir_cli.dataset.split.writers import write_split_files

    if output_format is not SplitFormat.imagefolder:
        written = write_split_files(out, result, provenance, output_format.value, force)
    else:
        if source is None or source.kind != "tree":
            raise UsageError(
                "--format imagefolder links to the extracted images, and they are not extracted",
                hint=f"run `hyperkvasir extract {provenance.part}` first, or use --format csv",
            )
        written = build_imagefolder(
            out,
            result,
            provenance,
            source.location,
            LINK_MODES[link],
            force=force,
            progress=rt.console.progress("files"),
        )
        if written.missing:
            rt.console.warn(
                f"{len(written.missing)} images of the split are missing here; not linked"
            )
    if written.unchanged:
        rt.console.info(f"{out} already holds this split; nothing to do")
    else:
        rt.console.info(f"wrote {', '.join(written.files)} in {out}")
    return written


def _report(
    rt: Runtime,
    result: Split,
    written: WriteResult,
    check: Reconciliation | None,
    json_output: bool,
) -> None:
    from rich import box
    from rich.table import Table

    counts = result.class_counts()
    if json_output:
        against_local = None
        if check is not None:
            against_local = {
                "missing_here": check.missing_locally,
                "not_in_split": check.not_in_split,
            }
        rt.console.emit_json(
            {
                "out": str(written.out),
                "files": written.files,
                "unchanged": written.unchanged,
                "strategy": result.strategy,
                "seed": result.seed,
                "splits": {n: {"total": sum(c.values()), "classes": c} for n, c in counts.items()},
                "total": len(result.items),
                "not_linked": list(written.missing),
                "official_vs_local": against_local,
            }
        )
        return
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
