"""The official 2-fold and 5-fold splits of the labeled images, under canonical names.

The files are `;`-separated with the header ``file-name;class-name;split-index``; file
names are ``<uuid>.jpg`` without folders and classes use the official spellings
(``polyp``, ``normal-cecum``, ...). The class gives the organ and category, so each row
maps to ``labeled-images/<organ>/<category>/<class>/<file-name>`` without the images.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from hyperkvasir_cli.core.errors import ArchiveError, IntegrityError, UsageError
from hyperkvasir_cli.core.manifest import Part
from hyperkvasir_cli.dataset.paths import labeled_path, resolve_class
from hyperkvasir_cli.dataset.split.assign import Split, SplitItem, fold_names

OFFICIAL_PARTS = {2: "official-splits", 5: "official-splits-5fold"}
HEADER = ("file-name", "class-name", "split-index")
HASH_CHUNK = 1024 * 1024


def official_part_name(folds: int) -> str:
    """The manifest part holding the official split with ``folds`` folds."""
    if folds not in OFFICIAL_PARTS:
        raise UsageError(
            f"the official split comes in 2 or 5 folds, not {folds}",
            hint="use --folds 2 or --folds 5, or --strategy stratified --folds N",
        )
    return OFFICIAL_PARTS[folds]


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(HASH_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def verify_split_file(path: Path, part: Part) -> str:
    """The file's sha256; IntegrityError (exit 5) when the manifest gives another one.

    The file is left where it is and not used.
    """
    found = file_sha256(path)
    if part.sha256 is not None and found != part.sha256:
        raise IntegrityError(
            f"{part.name}: sha256 of {path} is {found}, expected {part.sha256}; "
            "the file was not used",
            hint=f"the file is damaged or not the published one: delete it and run "
            f"`hyperkvasir download {part.name}` (or fix the manifest's sha256)",
        )
    return found


def _bad(source: str, line: int, problem: str) -> ArchiveError:
    return ArchiveError(
        f"{source} line {line}: {problem}",
        hint="the official split file is corrupt: delete it and download it again",
    )


def _row(fields: list[str], folds: int, source: str, line: int) -> tuple[SplitItem, int]:
    if len(fields) != 3:
        raise _bad(source, line, f"expected 3 fields separated by ';', found {len(fields)}")
    file_name, class_name, index_text = (f.strip() for f in fields)
    if not file_name or "/" in file_name or "\\" in file_name or file_name.startswith("."):
        raise _bad(source, line, f"expected a plain file name, found {file_name!r}")
    try:
        label = resolve_class(class_name)
    except UsageError:
        raise _bad(source, line, f"unknown class {class_name!r}") from None
    if not index_text.isdigit() or int(index_text) >= folds:
        raise _bad(source, line, f"expected a split index 0 to {folds - 1}, found {index_text!r}")
    item = SplitItem(labeled_path(label, file_name), label.name, label.organ, label.category)
    return item, int(index_text)


def parse_official_split(lines: Iterable[str], folds: int, source: str) -> Split:
    """The official split read from its lines (header first); ArchiveError (exit 6) naming
    the line for anything malformed: wrong header or field count, unknown class, a split
    index outside 0..folds-1, or a file listed twice."""
    rows = iter(lines)
    header = next(rows, "").lstrip("\ufeff").rstrip("\r\n")
    if tuple(header.split(";")) != HEADER:
        raise _bad(source, 1, f"expected the header {';'.join(HEADER)!r}, found {header!r}")
    assignment: dict[str, int] = {}
    items: list[SplitItem] = []
    for number, text in enumerate(rows, start=2):
        text = text.rstrip("\r\n")
        if not text.strip():
            continue
        item, index = _row(text.split(";"), folds, source, number)
        if item.path in assignment:
            raise _bad(source, number, f"{item.path} is listed twice")
        assignment[item.path] = index
        items.append(item)
    return Split(
        strategy="official",
        names=fold_names(folds),
        items=tuple(sorted(items, key=lambda i: i.path)),
        assignment=assignment,
        folds=folds,
    )


def read_official_split(path: Path, folds: int) -> Split:
    """Parse the official split file at ``path`` line by line (see parse_official_split)."""
    with path.open(encoding="utf-8", newline="") as handle:
        return parse_official_split(handle, folds, str(path))


@dataclass(frozen=True)
class Reconciliation:
    """How the official list and the local images differ (both sorted)."""

    missing_locally: list[str]
    not_in_split: list[str]


def reconcile(split_paths: Iterable[str], local_paths: Iterable[str]) -> Reconciliation:
    listed, local = set(split_paths), set(local_paths)
    return Reconciliation(sorted(listed - local), sorted(local - listed))
