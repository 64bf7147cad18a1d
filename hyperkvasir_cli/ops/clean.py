"""`clean` (and the Python API's ``clean``): remove what runs leave behind and nothing else.

Removed: copies set aside as bad (``<file>.bad-<time>``); partial downloads that can never
be continued (a ``.part`` whose sidecar is gone or unreadable, a sidecar whose ``.part`` is
gone, a ``.part`` beside its verified archive); and the temporary files of runs that were
killed (a member being extracted, ``.<name>.<tag>.hkx-tmp``; a file being rewritten,
``.<name>.<random>.tmp``). Kept: archives, extracted files, records, markers, splits, and
every partial download that can still be continued (``resume`` does that).

Only hyperkvasir's own names are looked at, in the archives folder, the data folder and
the parts' trees. The run holds the data folder's lock, so no download or extraction is
running meanwhile (their files are not leftovers then). A dry run writes nothing and takes
no lock.
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from hyperkvasir_cli.archive.safety import TEMP_SUFFIX
from hyperkvasir_cli.core.diskspace import occupied
from hyperkvasir_cli.core.units import format_bytes

if TYPE_CHECKING:
    from hyperkvasir_cli.ops.session import Session

BAD_COPY = re.compile(r"\.bad-\d{8}T\d{6}Z(-\d+)?$")
# What tempfile.mkstemp makes for an atomic rewrite: ".<name>.<8 random characters>.tmp".
REWRITE_TEMP = re.compile(r"^\..+\.[a-z0-9_]{8}\.tmp$")


@dataclass(frozen=True)
class Leftover:
    path: Path
    what: str
    size: int  # the bytes it takes on disk (its blocks)

    def as_json(self) -> dict[str, object]:
        return {"path": str(self.path), "what": self.what, "bytes": self.size}


@dataclass
class CleanReport:
    """What was (with ``dry_run``: would be) removed, and the partials kept."""

    dry_run: bool
    removed: list[Leftover] = field(default_factory=list)
    resumable: list[Leftover] = field(default_factory=list)

    @property
    def freed(self) -> int:
        return sum(item.size for item in self.removed)

    def as_json(self) -> dict[str, object]:
        return {
            "dry_run": self.dry_run,
            "removed": [item.as_json() for item in self.removed],
            "bytes_freed": self.freed,
            "resumable_kept": [item.as_json() for item in self.resumable],
        }

    def summary(self) -> str:
        count = len(self.removed)
        files = "1 file" if count == 1 else f"{count} files"
        if self.dry_run:
            line = f"would free {format_bytes(self.freed)} ({files})"
        else:
            line = f"freed {format_bytes(self.freed)} ({files})"
        if self.resumable:
            kept = sum(item.size for item in self.resumable)
            line += (
                f"; kept {len(self.resumable)} partial download(s) that can be continued "
                f"({format_bytes(kept)}): `hyperkvasir resume` finishes them"
            )
        return line


def _leftover(path: Path, what: str) -> Leftover:
    return Leftover(path, what, occupied(path))


def _files(folder: Path) -> Iterator[os.DirEntry[str]]:
    with contextlib.suppress(OSError), os.scandir(folder) as entries:
        yield from (e for e in entries if e.is_file(follow_symlinks=False))


def archive_leftovers(session: Session) -> tuple[list[Leftover], list[Leftover]]:
    """Leftovers in the archives folder, and the partials that can be continued. Partials
    are judged by name, so those of another manifest's files are cleaned up too."""
    from hyperkvasir_cli.check.verify import record_matches_file
    from hyperkvasir_cli.transfer.partial import PartialFile

    layout = session.layout
    parts = {part.file: part for part in session.manifest.parts}
    found: list[Leftover] = []
    resumable: list[Leftover] = []
    for entry in sorted(_files(layout.archives_dir), key=lambda e: e.name):
        path = Path(entry.path)
        if BAD_COPY.search(entry.name):
            found.append(_leftover(path, "a copy set aside as bad"))
        elif REWRITE_TEMP.match(entry.name):
            found.append(_leftover(path, "a temporary file of a killed run"))
        elif entry.name.endswith(".part.json") and not path.with_suffix("").exists():
            found.append(_leftover(path, "the sidecar of a partial download that is gone"))
        elif entry.name.endswith(".part"):
            file = entry.name.removesuffix(".part")
            sidecar = path.with_name(entry.name + ".json")
            part = parts.get(file)
            if part is not None and record_matches_file(
                session.record(part), layout.archive_path(part)
            ):
                what = "a partial download of an archive verified since"
            elif PartialFile(path, sidecar).load() is None:
                what = "a partial download that cannot be continued (no usable sidecar)"
            else:
                resumable.append(_leftover(path, "a partial download that can be continued"))
                continue
            found.append(_leftover(path, what))
            if sidecar.exists():
                found.append(_leftover(sidecar, "its sidecar"))
    return found, resumable


def tree_leftovers(session: Session) -> list[Leftover]:
    """Temporary files of killed runs in the data folder and in the parts' trees."""
    layout = session.layout
    found = [
        _leftover(Path(e.path), "a temporary file of a killed run")
        for e in _files(layout.data_dir)
        if REWRITE_TEMP.match(e.name)
    ]
    roots = {layout.extract_dir / (part.root or part.name) for part in session.manifest.parts}
    for root in sorted(roots):
        if not root.is_dir():
            continue
        for folder, _, names in os.walk(root):
            for name in names:
                if name.endswith(TEMP_SUFFIX):
                    found.append(
                        _leftover(Path(folder, name), "a member a killed extraction was writing")
                    )
    return found


def clean(
    session: Session, *, dry_run: bool = False, wait_lock: float | None = None
) -> CleanReport:
    """Remove the leftovers (see the module's docstring); with ``dry_run``, only list them.

    Files already gone when their turn comes are skipped; nothing else is touched."""
    report = CleanReport(dry_run)
    lock = contextlib.nullcontext() if dry_run else session.locked(wait_lock)
    with lock:
        found, report.resumable = archive_leftovers(session)
        found += tree_leftovers(session)
        for item in found:
            if not dry_run:
                try:
                    item.path.unlink()
                except FileNotFoundError:
                    continue
            report.removed.append(item)
    return report
