"""Split files: one CSV (or JSON) per split plus ``split.json``, all byte-reproducible.

Rows are sorted by path, CSVs end lines with LF, JSON keys come in a fixed order, and
nothing depends on the time, the machine or absolute paths, so the same split always
gives the same bytes. Existing output is never replaced without ``force``; output that
is already exactly what would be written counts as done.
"""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from hyperkvasir_cli.core.atomic import atomic_write_bytes
from hyperkvasir_cli.core.errors import UsageError
from hyperkvasir_cli.dataset.split.assign import ASSIGNMENT_METHOD, Split, SplitItem

COLUMNS = ("path", "class", "organ", "category", "split")
MASK_COLUMN = "mask"  # segmented images: the image's mask, in the same row
METADATA_FILE = "split.json"

OutputFormat = Literal["csv", "json", "imagefolder"]
LinkMode = Literal["symlink", "hardlink", "copy"]


@dataclass(frozen=True)
class Provenance:
    """Where a split came from, written into ``split.json``; nothing machine-specific."""

    part: str
    manifest: str  # "bundled manifest" or "a manifest of your own"
    dataset: str
    dataset_version: str | None
    tool_version: str
    official_file: str | None = None
    official_sha256: str | None = None
    # A split of pseudo-labelled unlabeled images: which predictions, which threshold.
    pseudo_labels: Mapping[str, object] | None = None
    # False when the part's tree is not extracted: the paths name files not there yet.
    images_extracted: bool = True


def columns_of(split: Split) -> tuple[str, ...]:
    has_masks = any(item.mask for item in split.items)
    return (*COLUMNS, MASK_COLUMN) if has_masks else COLUMNS


def _row(item: SplitItem, split_name: str, columns: tuple[str, ...]) -> dict[str, str]:
    row = {
        "path": item.path,
        "class": item.label,
        "organ": item.organ,
        "category": item.category,
        "split": split_name,
    }
    if MASK_COLUMN in columns:
        row[MASK_COLUMN] = item.mask or ""
    return row


def render_csv(split: Split, index: int) -> bytes:
    """The CSV of split ``index``: header, then one row per item sorted by path, LF."""
    columns = columns_of(split)
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    for item in split.members(index):
        writer.writerow(_row(item, split.names[index], columns))
    return buffer.getvalue().encode("utf-8")


def render_json(split: Split, index: int) -> bytes:
    columns = columns_of(split)
    rows = [_row(item, split.names[index], columns) for item in split.members(index)]
    return (json.dumps(rows, indent=1, ensure_ascii=False) + "\n").encode("utf-8")


def split_file_name(name: str, output: OutputFormat) -> str:
    return f"{name}/" if output == "imagefolder" else f"{name}.{output}"


def metadata_document(
    split: Split, provenance: Provenance, output: OutputFormat, link: LinkMode | None
) -> dict[str, object]:
    counts = split.class_counts()
    classes: dict[str, int] = {}
    for per_class in counts.values():
        for label, count in per_class.items():
            classes[label] = classes.get(label, 0) + count
    official = None
    if provenance.official_file:
        official = {"file": provenance.official_file, "sha256": provenance.official_sha256}
    document: dict[str, object] = {
        "tool": "hyperkvasir",
        "tool_version": provenance.tool_version,
        "dataset": provenance.dataset,
        "dataset_version": provenance.dataset_version,
        "manifest": provenance.manifest,
        "part": provenance.part,
        "strategy": split.strategy,
        "method": None if split.strategy == "official" else ASSIGNMENT_METHOD,
        "seed": split.seed,
        "ratios": [float(r) for r in split.ratios] if split.ratios else None,
        "folds": split.folds,
        "official": official,
        "pseudo_labels": dict(provenance.pseudo_labels) if provenance.pseudo_labels else None,
        "format": output,
        "link": link if output == "imagefolder" else None,
        "columns": list(columns_of(split)),
        "total": len(split.items),
        "classes": classes,
        "splits": {
            name: {
                "file": split_file_name(name, output),
                "total": sum(counts[name].values()),
                "classes": counts[name],
            }
            for name in split.names
        },
    }
    if not provenance.images_extracted:
        # Only then: a split of an extracted tree keeps the bytes it always had.
        document["images_extracted"] = False
        document["warning"] = (
            f"{provenance.part} was not extracted when this split was made: its paths name "
            f"files that do not exist until `hyperkvasir extract {provenance.part}` is run"
        )
    return document


def render_metadata(
    split: Split, provenance: Provenance, output: OutputFormat, link: LinkMode | None = None
) -> bytes:
    document = metadata_document(split, provenance, output, link)
    return (json.dumps(document, indent=2, ensure_ascii=False) + "\n").encode("utf-8")


def render_split_files(
    split: Split, provenance: Provenance, output: Literal["csv", "json"]
) -> dict[str, bytes]:
    """Every file to write, by name; ``split.json`` last, so it marks a finished output."""
    render = render_csv if output == "csv" else render_json
    files = {split_file_name(n, output): render(split, i) for i, n in enumerate(split.names)}
    files[METADATA_FILE] = render_metadata(split, provenance, output)
    return files


def previous_outputs(out: Path, listing: str = METADATA_FILE) -> list[str]:
    """The files and folders an earlier run listed in ``out/split.json`` (or in another
    ``listing`` of the same shape; empty if none)."""
    try:
        document = json.loads((out / listing).read_text("utf-8"))
        return [str(s["file"]) for s in document["splits"].values()]
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return []


def stale_outputs(out: Path, wanted: Mapping[str, object] | list[str]) -> list[str]:
    """What an earlier run wrote to ``out`` that this one will not write again."""
    return [
        name
        for name in previous_outputs(out)
        if name not in wanted and os.path.lexists(out / name.rstrip("/"))
    ]


def remove_output(out: Path, name: str) -> None:
    """Remove one earlier output: a split file, or a split folder (``name/``) whole."""
    path = out / name.rstrip("/")
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    else:
        path.unlink(missing_ok=True)


def decide_write(
    existing: Mapping[str, bytes | None], wanted: Mapping[str, bytes], stale: list[str], force: bool
) -> Literal["write", "unchanged"]:
    """``unchanged`` when every wanted file already holds exactly its bytes and nothing
    stale is left; ``write`` when nothing is in the way, when only ``split.json``'s word on
    whether the images were extracted changed (the same split: an update), or ``force``;
    else UsageError."""
    if not stale and all(existing.get(name) == data for name, data in wanted.items()):
        return "unchanged"
    if not stale and _same_split_but_extraction(existing, wanted):
        return "write"
    in_the_way = sorted(n for n, data in existing.items() if data is not None) + stale
    if not in_the_way or force:
        return "write"
    raise UsageError(
        f"{in_the_way[0]} exists already"
        + (f" (with {len(in_the_way) - 1} other files)" if len(in_the_way) > 1 else "")
        + " and holds another split",
        hint="pass --force to replace it, or choose another --out",
    )


# The keys of split.json that say the images were not extracted when it was written.
EXTRACTION_KEYS = frozenset({"images_extracted", "warning"})


def _same_split_but_extraction(
    existing: Mapping[str, bytes | None], wanted: Mapping[str, bytes]
) -> bool:
    """Every split file holds exactly its bytes and ``split.json`` differs only in
    :data:`EXTRACTION_KEYS`: a split made before `extract` (which said to run it), made
    again after."""
    if any(existing.get(n) != data for n, data in wanted.items() if n != METADATA_FILE):
        return False
    old, new = existing.get(METADATA_FILE), wanted.get(METADATA_FILE)
    if old is None or new is None:
        return False
    try:
        before, after = json.loads(old), json.loads(new)
    except ValueError:
        return False
    if not isinstance(before, dict) or not isinstance(after, dict):
        return False
    return {k: v for k, v in before.items() if k not in EXTRACTION_KEYS} == {
        k: v for k, v in after.items() if k not in EXTRACTION_KEYS
    }


@dataclass(frozen=True)
class WriteResult:
    out: Path
    files: list[str]
    unchanged: bool
    missing: tuple[str, ...] = ()  # imagefolder: items whose file is not there to link


def write_split_files(
    out: Path, split: Split, provenance: Provenance, output: Literal["csv", "json"], force: bool
) -> WriteResult:
    """Write one file per split and ``split.json`` into ``out``, each atomically.

    Raises UsageError (exit 2), writing nothing, when other output is in the way and
    ``force`` is not set. With ``force``, what an earlier run listed in its ``split.json``
    and this one does not write is removed.
    """
    wanted = render_split_files(split, provenance, output)
    existing = {name: _read_or_none(out / name) for name in wanted}
    stale = stale_outputs(out, wanted)
    if decide_write(existing, wanted, stale, force) == "unchanged":
        return WriteResult(out, list(wanted), unchanged=True)
    for name in stale:
        remove_output(out, name)
    for name, data in wanted.items():
        atomic_write_bytes(out / name, data)
    return WriteResult(out, list(wanted), unchanged=False)


def _read_or_none(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
        return None
