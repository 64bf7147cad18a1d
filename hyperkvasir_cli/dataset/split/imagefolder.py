"""A split as folders that torchvision's ImageFolder reads as is: ``<out>/<split>/<class>/``.

Entries are relative symlinks by default (the tree survives moving the data folder as a
whole), or hard links, or copies. Segmented images go to ``<out>/<split>/images/`` and
``<out>/<split>/masks/``. ``split.json`` is written last; its presence marks a finished
tree and, with ``force``, is what allows an earlier tree to be removed.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

from hyperkvasir_cli.core.atomic import atomic_write_bytes
from hyperkvasir_cli.core.diskspace import ensure_free_space
from hyperkvasir_cli.core.errors import UsageError
from hyperkvasir_cli.core.progress import ProgressReporter, SilentProgress
from hyperkvasir_cli.dataset.split.assign import Split, SplitItem
from hyperkvasir_cli.dataset.split.writers import (
    METADATA_FILE,
    LinkMode,
    Provenance,
    WriteResult,
    previous_outputs,
    remove_output,
    render_metadata,
)


def link_entries(split: Split) -> Iterator[tuple[str, str]]:
    """``(entry relative to out, dataset path)`` for every file of every split."""
    for index, name in enumerate(split.names):
        for item in split.members(index):
            yield from _entries(name, item)


def _entries(split_name: str, item: SplitItem) -> Iterator[tuple[str, str]]:
    file_name = item.path.rsplit("/", 1)[-1]
    if item.mask is None:
        yield f"{split_name}/{item.label}/{file_name}", item.path
        return
    yield f"{split_name}/images/{file_name}", item.path
    yield f"{split_name}/masks/{item.mask.rsplit('/', 1)[-1]}", item.mask


_PLACING: dict[LinkMode, str] = {
    "symlink": "symlinks",
    "hardlink": "hard links",
    "copy": "copies",
}


def _place(source: Path, entry: Path, link: LinkMode) -> None:
    entry.parent.mkdir(parents=True, exist_ok=True)
    if link == "symlink":
        entry.symlink_to(os.path.relpath(source, entry.parent))
    elif link == "hardlink":
        os.link(source, entry)
    else:
        shutil.copyfile(source, entry)


# Written before the first link and removed after split.json: while it exists, the
# folders it lists are an unfinished build of ours (a run stopped by Ctrl-C or a kill),
# which the next run replaces without --force.
UNFINISHED_FILE = ".split-unfinished.json"


def _mark_unfinished(out: Path, names: tuple[str, ...]) -> None:
    listing = {"splits": {name: {"file": f"{name}/"} for name in names}}
    atomic_write_bytes(out / UNFINISHED_FILE, json.dumps(listing, indent=2).encode())


def _clear_unfinished(out: Path) -> None:
    for name in previous_outputs(out, UNFINISHED_FILE):
        remove_output(out, name)
    (out / UNFINISHED_FILE).unlink(missing_ok=True)


def _clear_previous(out: Path, names: tuple[str, ...], force: bool) -> None:
    """Make room in ``out``: an unfinished build of ours goes first; nothing else to do
    when it holds no split; with ``force``, remove what the earlier ``split.json`` lists;
    refuse otherwise, and always refuse to remove a folder that no listing vouches for."""
    _clear_unfinished(out)
    ours = previous_outputs(out)
    wanted = [f"{name}/" for name in names]
    in_the_way = sorted({n for n in [*ours, *wanted] if os.path.lexists(out / n.rstrip("/"))})
    if not in_the_way and not (out / METADATA_FILE).exists():
        return
    if not force:
        first = in_the_way[0].rstrip("/") if in_the_way else METADATA_FILE
        raise UsageError(
            f"{out / first} exists already",
            hint="pass --force to replace the earlier split, or choose another --out",
        )
    foreign = [n for n in in_the_way if n not in ours]
    if foreign:
        raise UsageError(
            f"{out / foreign[0].rstrip('/')} exists and was not written by `hyperkvasir split` "
            f"(it is not listed in {out / METADATA_FILE}); it is left alone",
            hint="choose another --out, or remove that folder yourself",
        )
    (out / METADATA_FILE).unlink(missing_ok=True)
    for name in in_the_way:
        remove_output(out, name)


def _is_complete(out: Path, metadata: bytes, entries: list[tuple[str, str]]) -> bool:
    try:
        if (out / METADATA_FILE).read_bytes() != metadata:
            return False
    except OSError:
        return False
    return all(os.path.lexists(out / entry) for entry, _ in entries)


def build_imagefolder(
    out: Path,
    split: Split,
    provenance: Provenance,
    target: Path,
    link: LinkMode,
    *,
    force: bool = False,
    progress: ProgressReporter | None = None,
) -> WriteResult:
    """Link (or copy) every item's file from the extraction ``target`` into ``out``.

    Items whose file is not under ``target`` are skipped and returned in ``missing``.
    UsageError (exit 2) when earlier output is in the way (see ``_clear_previous``) or a
    hard link cannot cross file systems; DiskSpaceError (exit 7) before copying what
    does not fit. An interrupted build leaves no ``split.json`` but its unfinished listing,
    so a rerun replaces it without ``force``.
    """
    progress = progress or SilentProgress()
    metadata = render_metadata(split, provenance, "imagefolder", link)
    entries = list(link_entries(split))
    files = [f"{name}/" for name in split.names] + [METADATA_FILE]
    present = [(e, p) for e, p in entries if (target / p).is_file()]
    missing = tuple(sorted({p for _, p in entries} - {p for _, p in present}))
    if _is_complete(out, metadata, present):
        return WriteResult(out, files, unchanged=True, missing=missing)
    _clear_previous(out, split.names, force)
    if link == "copy":
        needed = sum((target / p).stat().st_size for _, p in present)
        ensure_free_space(out, needed, f"copies of {len(present)} images")
    out.mkdir(parents=True, exist_ok=True)
    _mark_unfinished(out, split.names)
    progress.start(_PLACING[link], len(present))
    try:
        for entry, path in present:
            _place_or_explain(target / path, out / entry, link)
            progress.advance(1)
    finally:
        progress.finish()
    atomic_write_bytes(out / METADATA_FILE, metadata)
    (out / UNFINISHED_FILE).unlink()
    return WriteResult(out, files, unchanged=False, missing=missing)


def _place_or_explain(source: Path, entry: Path, link: LinkMode) -> None:
    try:
        _place(source, entry, link)
    except OSError as exc:
        if link == "hardlink" and exc.errno in (errno.EXDEV, errno.EPERM, errno.EMLINK):
            raise UsageError(
                f"cannot hard-link {source} into {entry.parent}: {exc.strerror}",
                hint="hard links need one file system; use --link symlink or --link copy",
            ) from exc
        if link == "symlink" and exc.errno in (errno.EPERM, errno.ENOTSUP):
            raise UsageError(
                f"cannot create a symlink at {entry}: {exc.strerror}",
                hint="use --link hardlink or --link copy",
            ) from exc
        raise
