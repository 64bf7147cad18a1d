"""Which split each image belongs to, read from a `split` output folder.

The folder's ``split.json`` names the splits in order and their files (CSV or JSON with a
``path`` column, or ImageFolder folders); each split is exported to a folder of the same
name. Without a split folder, everything is one split, ``all``.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Sequence
from pathlib import Path

from hyperkvasir_cli.core.errors import UsageError
from hyperkvasir_cli.export.items import ALL_SPLIT, ExportItem

METADATA_FILE = "split.json"


def group_by_split(
    items: Sequence[ExportItem], split_dir: Path | None, part: str
) -> dict[str, list[ExportItem]]:
    """Items per split, in the split folder's order, each sorted by path.

    UsageError (exit 2) when the folder is not a split of ``part`` or names images the
    part does not have.
    """
    if split_dir is None:
        return {ALL_SPLIT: list(items)}
    names, membership = read_split_folder(split_dir, part)
    by_path = {item.path: item for item in items}
    by_file = {item.path.rsplit("/", 1)[-1]: item for item in items}
    grouped: dict[str, list[ExportItem]] = {name: [] for name in names}
    missing = []
    for key, name in membership.items():
        item = by_path.get(key) or (by_file.get(key) if "/" not in key else None)
        if item is None:
            missing.append(key)
        else:
            grouped[name].append(item)
    if missing:
        raise UsageError(
            f"split {split_dir} names {len(missing)} images that {part} does not have, "
            f"e.g. {sorted(missing)[0]}",
            hint="make the split from the same part (`hyperkvasir split ...`)",
        )
    return {name: sorted(group, key=lambda i: i.path) for name, group in grouped.items()}


def read_split_folder(split_dir: Path, part: str) -> tuple[list[str], dict[str, str]]:
    """(split names in order, image path or file name -> split name)."""
    try:
        document = json.loads((split_dir / METADATA_FILE).read_text("utf-8"))
        splits = document["splits"]
        output = document.get("format", "csv")
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise UsageError(
            f"--split {split_dir}: not a split folder (no readable {METADATA_FILE})",
            hint="pass the folder that `hyperkvasir split ... --out DIR` wrote",
        ) from exc
    if document.get("part") not in (None, part):
        raise UsageError(
            f"--split {split_dir} is a split of {document.get('part')}, not of {part}",
            hint=f"export {document.get('part')}, or split {part} first",
        )
    membership: dict[str, str] = {}
    for name, entry in splits.items():
        file = split_dir / str(entry.get("file", name))
        for key in _paths_in(file, output):
            membership[key] = name
    return list(splits), membership


def _paths_in(file: Path, output: str) -> list[str]:
    try:
        if output == "imagefolder":
            return sorted(p.name for p in file.rglob("*") if not p.is_dir())
        text = file.read_text("utf-8")
    except OSError as exc:
        raise UsageError(f"--split: cannot read {file}: {exc}") from exc
    if output == "json":
        return [str(row["path"]) for row in json.loads(text)]
    return [row["path"] for row in csv.DictReader(text.splitlines())]
