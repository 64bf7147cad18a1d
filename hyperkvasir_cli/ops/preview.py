"""Dry runs: what `extract` and `sync` would do, from what is on disk alone.

Nothing is written and no request is sent (no lock either: a dry run next to a running
sync is fine). An archive that is not there yet is said to be downloaded first; one that
is there is judged as extraction judges it (an unsafe archive is refused the same way,
exit 6), and the files already in place are compared by size, as a real run does first.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from hyperkvasir_cli.core.units import format_bytes

if TYPE_CHECKING:
    from hyperkvasir_cli.core.manifest import Part
    from hyperkvasir_cli.ops.download import PlannedDownload
    from hyperkvasir_cli.ops.extract import ExtractRequest
    from hyperkvasir_cli.ops.session import Session


@dataclass(frozen=True)
class ExtractPreview:
    """What extracting one part would do. ``to_extract`` None: the archive is not here,
    so it would be downloaded first and everything it selects extracted."""

    part: str
    target: Path
    archive: Path
    to_extract: int | None
    bytes_to_write: int | None
    to_compare: int = 0  # files of the right size, compared by CRC-32 first (--verify)
    already_there: int = 0

    def as_json(self) -> dict[str, object]:
        return {
            "part": self.part,
            "target": str(self.target),
            "archive": str(self.archive),
            "download_first": self.to_extract is None,
            "members_to_extract": self.to_extract,
            "bytes_to_write": self.bytes_to_write,
            "members_to_compare": self.to_compare,
            "members_already_there": self.already_there,
        }

    def line(self) -> str:
        if self.to_extract is None:
            return (
                f"{self.part}: {self.archive.name} is not here: download it, then extract "
                f"into {self.target}"
            )
        if self.to_extract == 0 and self.to_compare == 0:
            return (
                f"{self.part}: nothing to extract; the {self.already_there} selected members "
                f"are already in {self.target}"
            )
        line = (
            f"{self.part}: extract {self.to_extract} members "
            f"({format_bytes(self.bytes_to_write or 0)}) into {self.target}"
        )
        if self.to_compare:
            line += f"; compare {self.to_compare} by CRC-32"
        return line + f"; {self.already_there} already there"


def preview_extract(session: Session, part: Part, request: ExtractRequest) -> ExtractPreview:
    """What `extract` would do for ``part`` with ``request``; writes nothing."""
    from hyperkvasir_cli.archive.extract import ExtractOptions, preview_extraction
    from hyperkvasir_cli.ops.extract import known_archive_sha256, own_files

    target = Path(os.path.abspath((request.target or session.layout.extract_dir).expanduser()))
    archive = session.layout.archive_path(part)
    if not archive.exists():
        return ExtractPreview(part.name, target, archive, None, None)
    options = ExtractOptions(
        root=part.root,
        selection=request.selection,
        verify=request.verify or request.delete_archive,
        force=request.force,
        archive_sha256=known_archive_sha256(part, session.record(part), archive),
        part_name=part.name,
        own_files=own_files(session),
    )
    plan = preview_extraction(archive, target, options)
    compare = sum(1 for task in plan.tasks if task.check_first)
    return ExtractPreview(
        part.name,
        target,
        archive,
        len(plan.tasks) - compare,
        sum(plan.sizes_to_write),
        compare,
        plan.skipped,
    )


@dataclass(frozen=True)
class SyncPreview:
    """What `sync` would do for one part: its download, then its extraction."""

    part: str
    download: PlannedDownload | None  # None: the archive was deleted after extraction
    extract: ExtractPreview | None

    def as_json(self) -> dict[str, object]:
        download = None
        if self.download is not None:
            download = {
                "action": self.download.action.value,
                "bytes_to_fetch": self.download.bytes_to_fetch,
                "urls": self.download.urls,
            }
        return {
            "part": self.part,
            "download": download,
            "extract": None if self.extract is None else self.extract.as_json(),
        }

    def lines(self) -> list[str]:
        if self.download is None:
            return [f"{self.part}: nothing; its archive was deleted after extraction"]
        planned = self.download
        known = planned.bytes_to_fetch
        amount = "an unknown size" if known is None else format_bytes(known)
        what = {
            "nothing": "already verified, nothing to fetch",
            "check-existing": "an unverified file is there: check it (fetch again if bad)",
            "resume": f"resume, {amount} to fetch from {planned.urls[0]}",
            "fetch": f"fetch {amount} from {planned.urls[0]}",
        }[planned.action.value]
        lines = [f"{self.part}: {what}"]
        if self.extract is not None and self.extract.to_extract is None:
            lines.append(f"{self.part}: then extract it into {self.extract.target}")
        elif self.extract is not None:
            lines.append(self.extract.line())
        return lines


@dataclass
class Preview:
    """A dry run's findings, part by part (what `--dry-run --json` prints)."""

    extract: list[ExtractPreview] = field(default_factory=list)
    sync: list[SyncPreview] = field(default_factory=list)

    def as_json(self) -> dict[str, object]:
        parts = [p.as_json() for p in self.sync] or [p.as_json() for p in self.extract]
        return {"dry_run": True, "parts": parts}

    def lines(self) -> list[str]:
        if self.sync:
            return [line for part in self.sync for line in part.lines()]
        return [part.line() for part in self.extract]


def preview_extract_parts(session: Session, parts: list[Part], request: ExtractRequest) -> Preview:
    """`extract --dry-run`: what `extract` would do for ``parts`` with ``request`` (both
    from :func:`~hyperkvasir_cli.ops.extract.requested_parts`, which refuses what
    `extract` would refuse), refusing an unsafe archive (exit 6) and writing nothing."""
    return Preview(extract=[preview_extract(session, part, request) for part in parts])


def preview_sync(
    session: Session,
    parts: list[Part],
    *,
    mirrors: list[str] | None,
    extract: ExtractRequest | None,
) -> Preview:
    """What `sync` would do for ``parts`` (no request: --check-remote is not asked)."""
    from hyperkvasir_cli.ops.downloader import download_options, make_downloader
    from hyperkvasir_cli.ops.status import archive_was_deleted

    options = download_options(session, mirrors=mirrors)
    downloader = make_downloader(session)
    found = Preview()
    for part in parts:
        if archive_was_deleted(session, part):
            found.sync.append(SyncPreview(part.name, None, None))
            continue
        planned = downloader.plan(part, session.record(part), options)
        extracted = None
        if extract is not None and part.archive_kind == "zip":
            extracted = preview_extract(session, part, extract)
        found.sync.append(SyncPreview(part.name, planned, extracted))
    return found
