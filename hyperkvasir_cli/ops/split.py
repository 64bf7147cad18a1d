"""`split` (and the Python API's ``split``): reproducible train/val/test splits or folds of
the labeled (or segmented) images, or the official ones, written as files.

The same images, options and seed give byte-identical output on any machine (see
:mod:`hyperkvasir_cli.dataset.split`); output that already holds exactly this split is
left as is, other output is replaced only with ``force``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from hyperkvasir_cli.core.about import __version__
from hyperkvasir_cli.core.errors import UsageError
from hyperkvasir_cli.dataset.paths import LABELED_IMAGES, SEGMENTED_IMAGES, UNLABELED_IMAGES

if TYPE_CHECKING:
    from hyperkvasir_cli.core.manifest import Part
    from hyperkvasir_cli.dataset.sources import DataSource
    from hyperkvasir_cli.dataset.split.assign import Split, SplitItem
    from hyperkvasir_cli.dataset.split.official import Reconciliation
    from hyperkvasir_cli.dataset.split.writers import LinkMode, Provenance, WriteResult
    from hyperkvasir_cli.ops.session import Session

STRATEGIES = ("official", "stratified", "random")
FORMATS = ("csv", "json", "imagefolder")
LINKS = ("symlink", "hardlink", "copy")
SPLITTABLE = (LABELED_IMAGES, SEGMENTED_IMAGES)
CUSTOM_MANIFEST = "a manifest of your own"

# Ratios as text ("0.7,0.15,0.15", "1/3,1/3,1/3") or as numbers.
Ratios = str | Sequence[float | Fraction]


@dataclass(frozen=True)
class SplitResult:
    """The split made, what was written, and (official split) how it differs from the
    images here. ``as_json`` is what `split --json` prints."""

    split: Split
    written: WriteResult
    check: Reconciliation | None = None
    pseudo_labels: dict[str, object] | None = None  # --from-predictions: what was kept
    images_extracted: bool = True

    @property
    def out(self) -> Path:
        return self.written.out

    def class_counts(self) -> dict[str, dict[str, int]]:
        """Split name -> class -> images, every class in every split."""
        return self.split.class_counts()

    def as_json(self) -> dict[str, object]:
        counts = self.class_counts()
        against_local = None
        if self.check is not None:
            against_local = {
                "missing_here": self.check.missing_locally,
                "not_in_split": self.check.not_in_split,
            }
        return {
            "out": str(self.written.out),
            "files": self.written.files,
            "unchanged": self.written.unchanged,
            "strategy": self.split.strategy,
            "seed": self.split.seed,
            "splits": {n: {"total": sum(c.values()), "classes": c} for n, c in counts.items()},
            "total": len(self.split.items),
            "not_linked": list(self.written.missing),
            "official_vs_local": against_local,
            "pseudo_labels": self.pseudo_labels,
            "images_extracted": self.images_extracted,
        }


def ratios_text(ratios: Ratios | None) -> str | None:
    """Ratios given as numbers, written as the `--ratios` option takes them (a float's
    shortest form, so 0.7 means 7/10, not the float's binary value)."""
    if ratios is None or isinstance(ratios, str):
        return ratios
    return ",".join(str(r) for r in ratios)


def split_images(
    session: Session,
    *,
    strategy: str = "stratified",
    folds: int | None = None,
    ratios: Ratios | None = None,
    seed: int | None = None,
    out: Path | None = None,
    output_format: str = "csv",
    link: str | None = None,
    part_name: str = LABELED_IMAGES,
    from_archive: bool = False,
    force: bool = False,
    wait_lock: float | None = None,
    from_predictions: str | None = None,
    min_confidence: float = 0.0,
) -> SplitResult:
    """Make the split and write it into ``out`` (default
    ``<data_dir>/splits/<part>-<strategy>``, official: ``<part>-official-<K>fold``).

    official: the published 2-fold split (5-fold with ``folds=5``), downloaded when missing
    and checked against its sha256. stratified: each class split on its own. random: the
    whole set at once. ``ratios`` default to 0.7,0.15,0.15, ``seed`` to 0.
    ``from_predictions`` (models, comma-separated, or ``all``): the unlabeled images those
    models labelled alike with at least ``min_confidence``, instead of a part's images (see
    :mod:`ops.pseudo_split`). Combinations that make no sense are usage errors (exit 2)
    raised before anything is read. Output in the data folder is written under its lock.
    """
    from hyperkvasir_cli.dataset.paths import part_kind
    from hyperkvasir_cli.dataset.sources import locate_source
    from hyperkvasir_cli.dataset.split.writers import Provenance

    text = ratios_text(ratios)
    if from_predictions is not None:
        part_name = _pseudo_part(part_name, strategy)
    part = session.manifest.part(part_name)
    check_options(
        strategy,
        folds,
        text,
        seed,
        output_format,
        link,
        part_kind(part),
        pseudo=bool(from_predictions),
    )
    official: Official | None = None
    source: DataSource | None
    pseudo = None
    if from_predictions is not None:
        from hyperkvasir_cli.ops.pseudo_split import pseudo_split

        chosen: Literal["stratified", "random"] = "random" if strategy == "random" else "stratified"
        pseudo = pseudo_split(
            session,
            from_predictions,
            min_confidence,
            strategy=chosen,
            folds=folds,
            ratios=text,
            seed=seed or 0,
            from_archive=from_archive,
        )
        result, source = pseudo.split, pseudo.local
    elif strategy == "official":
        official = official_split(session, folds or 2, from_archive)
        result, source = official.split, official.local
    else:
        source = locate_source(
            part, session.layout, session.record(part), from_archive=from_archive
        )
        from hyperkvasir_cli.ops.members import selection_warning

        warning = selection_warning(part, source)
        if warning is not None:
            session.warn(warning)
        result = computed_split(session, source, strategy, folds, text, seed or 0)
    extracted = tree_present(session, part)
    if not extracted:
        # A pseudo-labelled split names images from the predicted labels alone when the
        # unlabeled archive is not here either.
        from_labels = pseudo is not None and source is None
        origin, run = (
            ("they come from the predicted labels", f"download {part.name} --extract")
            if from_labels
            else ("they were read from the archive", f"extract {part.name}")
        )
        session.warn(
            f"{part.name} is not extracted in {session.layout.extract_dir}: the split names "
            f"files that do not exist there yet ({origin}); run `hyperkvasir {run}` before "
            "using it"
        )
    provenance = Provenance(
        images_extracted=extracted,
        part=part.name,
        manifest=_manifest_name(session.manifest.source),
        dataset=session.manifest.dataset,
        dataset_version=session.manifest.version,
        tool_version=__version__,
        official_file=official.file if official else None,
        official_sha256=official.sha256 if official else None,
        pseudo_labels=pseudo.provenance if pseudo else None,
    )
    data_dir = session.layout.data_dir
    folder = default_folder(
        part.name, strategy, folds, pseudo=pseudo is not None, output_format=output_format
    )
    target = out or data_dir / "splits" / folder
    # Output in the data folder is written under its lock, like every other writer there.
    inside = target.resolve().is_relative_to(data_dir.resolve())
    with session.locked(wait_lock) if inside else contextlib.nullcontext():
        written = _write(session, target, result, provenance, output_format, link, source, force)
    return SplitResult(
        result,
        written,
        official.check if official else None,
        pseudo.labels.as_json() if pseudo else None,
        extracted,
    )


def tree_present(session: Session, part: Part) -> bool:
    """Whether the files a split names exist: the part's tree in the data folder."""
    from hyperkvasir_cli.dataset.sources import tree_candidates

    root = part.root or part.name
    return any((t / root).is_dir() for t in tree_candidates(session.layout, session.record(part)))


def _pseudo_part(part_name: str, strategy: str) -> str:
    """A pseudo-labelled split is one of the unlabeled images, never the official one."""
    from hyperkvasir_cli.dataset.paths import UNLABELED_IMAGES

    if part_name not in (LABELED_IMAGES, UNLABELED_IMAGES):
        raise UsageError(
            f"--from-predictions splits the unlabeled images, not {part_name}",
            hint="leave out --part",
        )
    if strategy == "official":
        raise UsageError(
            "--from-predictions makes its own split: --strategy official does not apply",
            hint="use --strategy stratified (the default) or random",
        )
    return UNLABELED_IMAGES


def check_options(
    strategy: str,
    folds: int | None,
    ratios: str | None,
    seed: int | None,
    output_format: str,
    link: str | None,
    kind: str | None,
    *,
    pseudo: bool = False,
) -> None:
    """Refuse combinations that make no sense, before anything is read (exit 2). ``pseudo``:
    the unlabeled images are split, by the labels models predicted for them."""
    for name, value, allowed in (
        ("strategy", strategy, STRATEGIES),
        ("format", output_format, FORMATS),
        ("link", link, (None, *LINKS)),
    ):
        if value not in allowed:
            choices = ", ".join(a for a in allowed if a)
            raise UsageError(f"--{name} must be one of {choices}, not {value!r}")
    if kind not in SPLITTABLE and not (pseudo and kind == UNLABELED_IMAGES):
        raise UsageError(
            f"split works on {' or '.join(SPLITTABLE)}, not {kind or 'this part'}",
            hint="pass --part labeled-images or --part segmented-images; the unlabeled images "
            "split by predicted labels with --from-predictions",
        )
    if folds is not None and ratios is not None:
        raise UsageError("pass --folds or --ratios, not both")
    if link is not None and output_format != "imagefolder":
        raise UsageError("--link applies to --format imagefolder only")
    if strategy == "official":
        if kind != LABELED_IMAGES:
            raise UsageError("the official split covers the labeled images only")
        if ratios is not None or seed is not None:
            raise UsageError(
                "the official split has fixed folds: --ratios and --seed do not apply",
                hint="use --strategy stratified for your own ratios or seed",
            )


def default_folder(
    part: str, strategy: str, folds: int | None, pseudo: bool = False, output_format: str = "csv"
) -> str:
    """The folder under `<data_dir>/splits/` a split goes to without --out. Each format has
    its own (CSV keeps the plain name), so that an ImageFolder tree made after a CSV split
    of the same strategy does not collide with it."""
    if strategy == "official":
        name = f"{part}-official-{folds or 2}fold"
    else:
        name = f"{part}-pseudo-{strategy}" if pseudo else f"{part}-{strategy}"
    return name if output_format == "csv" else f"{name}-{output_format}"


def _manifest_name(source: str) -> str:
    # Never a path or a file name: split.json must be the same bytes on any machine, and
    # the same copy of a manifest under another name describes the same data.
    from hyperkvasir_cli.core.manifest import DEFAULT_MANIFEST_NAME

    return source if source == DEFAULT_MANIFEST_NAME else CUSTOM_MANIFEST


def _items(session: Session, source: DataSource) -> list[SplitItem]:
    from hyperkvasir_cli.dataset.split.assign import split_items

    found = split_items((r.path for r in source.list_files()), source.root)
    if found.left_out:
        what = "without their pair" if source.root == SEGMENTED_IMAGES else "outside the 23 classes"
        session.warn(f"{len(found.left_out)} images {what} are left out")
    return found.items


def computed_split(
    session: Session,
    source: DataSource,
    strategy: str,
    folds: int | None,
    ratios: str | None,
    seed: int,
) -> Split:
    """A stratified or random split of the images ``source`` holds (none: exit 2)."""
    from hyperkvasir_cli.dataset.split.assign import make_split, split_shares

    shares, names = split_shares(folds, ratios)
    items = _items(session, source)
    if not items:
        raise UsageError(
            f"no images to split in {source.display_path}",
            hint="check the data folder with `hyperkvasir stats`",
        )
    kind: Literal["stratified", "random"] = "stratified" if strategy == "stratified" else "random"
    return make_split(items, kind, shares, names, seed, folds=folds)


@dataclass(frozen=True)
class Official:
    split: Split
    file: str
    sha256: str
    local: DataSource | None  # the labeled images here, when there are any
    check: Reconciliation | None  # how the split and those images differ


def official_split(session: Session, folds: int, from_archive: bool) -> Official:
    """The official split (fetched when missing, verified) and the local images, if any."""
    from hyperkvasir_cli.dataset.paths import classify_labeled
    from hyperkvasir_cli.dataset.sources import locate_source
    from hyperkvasir_cli.dataset.split.official import (
        official_part_name,
        read_official_split,
        reconcile,
        verify_split_file,
    )
    from hyperkvasir_cli.ops.fetch import ensure_archive

    split_part = session.manifest.part(official_part_name(folds))
    path = ensure_archive(session, split_part)
    digest = verify_split_file(path, split_part)
    result = read_official_split(path, folds)
    labeled = session.manifest.part(LABELED_IMAGES)
    try:
        source: DataSource | None = locate_source(
            labeled, session.layout, session.record(labeled), from_archive=from_archive
        )
    except UsageError:
        source = None
        session.info("labeled images not found here; paths follow the class folders")
    found = None
    if source is not None:
        local = [r.path for r in source.list_files() if classify_labeled(r.path)]
        found = reconcile((item.path for item in result.items), local)
        if found.missing_locally:
            session.warn(
                f"{len(found.missing_locally)} images of the official split are missing here"
            )
        if found.not_in_split:
            session.warn(f"{len(found.not_in_split)} local images are not in the official split")
    return Official(result, split_part.file, digest, source, found)


def _write(
    session: Session,
    out: Path,
    result: Split,
    provenance: Provenance,
    output_format: str,
    link: str | None,
    source: DataSource | None,
    force: bool,
) -> WriteResult:
    from hyperkvasir_cli.dataset.split.imagefolder import build_imagefolder
    from hyperkvasir_cli.dataset.split.writers import write_split_files

    if output_format != "imagefolder":
        files: Literal["csv", "json"] = "json" if output_format == "json" else "csv"
        written = write_split_files(out, result, provenance, files, force)
    else:
        if source is None or source.kind != "tree":
            raise UsageError(
                "--format imagefolder links to the extracted images, and they are not extracted",
                hint=f"run `hyperkvasir extract {provenance.part}` first, or use --format csv",
            )
        mode: LinkMode = (
            "hardlink" if link == "hardlink" else "copy" if link == "copy" else "symlink"
        )
        written = build_imagefolder(
            out,
            result,
            provenance,
            source.location,
            mode,
            force=force,
            progress=session.task_progress("files"),
        )
        if written.missing:
            session.warn(f"{len(written.missing)} images of the split are missing here; not linked")
    if written.unchanged:
        session.info(f"{out} already holds this split; nothing to do")
    else:
        session.info(f"wrote {', '.join(written.files)} in {out}")
    return written
