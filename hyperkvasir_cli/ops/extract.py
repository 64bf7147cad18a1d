"""Extracting parts: `extract`, `download --extract`, `sync` and the Python API.

One flow for all: make sure the archive is the part's (:func:`ensure_verified`),
extract with :func:`hyperkvasir_cli.archive.extract.extract_archive`, keeping members off
hyperkvasir's own files, record where the tree went in the config, delete the archive when
asked, and say what happened in one line.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from hyperkvasir_cli.archive.extract import (
    ExtractResult,
    OwnFiles,
    delete_extracted_archive,
    extract_archive,
)
from hyperkvasir_cli.archive.selection import Selection
from hyperkvasir_cli.core.errors import UsageError
from hyperkvasir_cli.core.manifest import Part
from hyperkvasir_cli.core.records import PartRecord
from hyperkvasir_cli.core.units import format_bytes, format_duration
from hyperkvasir_cli.ops.fetch import ensure_archive, ensure_verified
from hyperkvasir_cli.ops.session import Session


@dataclass(frozen=True)
class ExtractRequest:
    """How to extract, as `extract`, `download --extract`, `sync` and the API ask it."""

    target: Path | None = None
    selection: Selection = field(default_factory=Selection)
    jobs: int | None = None
    verify: bool = False
    force: bool = False
    delete_archive: bool = False


def known_archive_sha256(part: Part, record: PartRecord | None, archive: Path) -> str | None:
    """The archive's sha256 as verified at download, else the manifest's, when it still
    describes the file on disk (same size); the archive is never hashed again for this."""
    size = archive.stat().st_size
    if record is not None and record.sha256 and record.size in (None, size):
        return record.sha256
    if part.sha256 and part.size in (None, size):
        return part.sha256
    return None


def own_files(session: Session) -> OwnFiles:
    """hyperkvasir's own files, which no member may overwrite when they lie in the target:
    the archives folder (every part's archive, `.part`, `.part.json`, `.bad-*`), the data
    folder's lock (and its `.info`, named after it), its records (and their lock) and the
    config file."""
    layout = session.layout
    return OwnFiles(
        archives_dir=layout.archives_dir,
        archive_files=tuple(part.file for part in session.manifest.parts),
        files=(
            (layout.lock_path, "the data folder's lock"),
            (layout.records_path, "the data folder's records"),
            (session.config_path, "the config file"),
        ),
    )


def check_target(target: Path | None) -> None:
    """Refuse (exit 2), before anything is downloaded, a target that cannot be a folder: a
    file at its path or at the path of a folder above it. A missing folder is made."""
    if target is None:
        return
    wanted = Path(os.path.abspath(target.expanduser()))
    place = wanted
    while not place.exists() and place.parent != place:
        place = place.parent
    if not place.is_dir():
        where = "is a file" if place == wanted else f"lies in {place}, which is a file"
        raise UsageError(
            f"--to {target}: the target {where}, not a folder",
            hint="give a folder (a missing one is made), or move the file away",
        )


def check_request(parts: list[Part], request: ExtractRequest) -> None:
    """Refuse, before any work, what cannot be done: parts that are not zips, a target
    that is a file, and deleting an archive that a selection extracts only partly."""
    check_target(request.target)
    for part in parts:
        if part.archive_kind != "zip":
            raise UsageError(
                f"{part.name} is not a zip but a {part.archive_kind} file: nothing to extract",
                hint=f"its file is used as downloaded; run `hyperkvasir download {part.name}`",
            )
    if request.delete_archive and not request.selection.is_everything:
        raise UsageError(
            "--delete-archive needs the whole archive extracted, but --include, --exclude or "
            "--class selects only part of it",
            hint="drop the selection, or drop --delete-archive",
        )


def requested_parts(
    session: Session,
    names: list[str],
    *,
    to: Path | None,
    include: Sequence[str],
    exclude: Sequence[str],
    classes: Sequence[str],
    jobs: int | None,
    verify: bool,
    force: bool,
    delete_archive: bool,
) -> tuple[list[Part], ExtractRequest]:
    """The named parts and the request to extract them, as `extract` (and its dry run)
    asks; refused before any work when that cannot be done (exit 2): no part named, an
    unknown part or class, or what :func:`check_request` refuses."""
    if not names:
        raise UsageError(
            "name the parts to extract", hint=f"parts: {', '.join(session.manifest.names)}"
        )
    request = ExtractRequest(
        target=to,
        selection=Selection.build(include, exclude, classes),
        jobs=jobs,
        verify=verify,
        force=force,
        delete_archive=delete_archive,
    )
    parts = session.select_parts(names)
    check_request(parts, request)
    return parts, request


def should_record(
    record: PartRecord | None, target: str, selection: Selection, result: ExtractResult
) -> bool:
    """Whether this extraction into the data folder's own tree is recorded as it: always,
    unless it found everything already there as recorded."""
    if result.marker is None:
        return False
    recorded = record.extracted_to if record is not None else None
    return not (recorded == target and result.nothing_to_do)


def record_extraction(
    session: Session,
    part: Part,
    target: Path,
    fields: dict[str, object],
) -> None:
    """Record a tree: as the part's own when ``target`` is the data folder's extraction
    folder (what `parts`, `stats`, `split` and `checksum --extracted` look at), else as a
    copy beside it, which changes none of that. ``fields`` are the tree's record fields
    (``extracted_at``, ``extracted_from_sha256``, ``extracted_selection``, ...)."""
    from hyperkvasir_cli.core.records import CopyRecord

    if target == session.layout.extract_dir:
        session.record_store.update_part(part.name, extracted_to=str(target), **fields)
        return
    copy = CopyRecord.model_validate({k: v for k, v in fields.items() if k in COPY_FIELDS})
    session.record_store.record_copy(part.name, target, copy)


COPY_FIELDS = ("extracted_at", "extracted_from_sha256", "extracted_selection")


def extract_part(
    session: Session, part: Part, archive: Path, request: ExtractRequest
) -> ExtractResult:
    """Extract one part from ``archive``, record where it went, delete the archive if asked.

    The caller holds the data folder's lock. Errors are those of :func:`ensure_verified`
    (exit 5: the archive is not the part's) and :func:`extract_archive`.
    """
    ensure_verified(session, part, archive)
    target = Path(os.path.abspath((request.target or session.layout.extract_dir).expanduser()))
    record = session.record(part, fresh=True)
    sha256 = known_archive_sha256(part, record, archive)
    result = extract_archive(
        archive,
        target,
        root=part.root,
        selection=request.selection,
        jobs=session.jobs(request.jobs),
        verify=request.verify or request.delete_archive,
        force=request.force,
        archive_sha256=sha256,
        progress=session.task_progress(),
        part_name=part.name,
        own_files=own_files(session),
    )
    if should_record(record, str(target), request.selection, result):
        record_extraction(
            session,
            part,
            target,
            {
                "extracted_at": datetime.now(timezone.utc),
                "extracted_from_sha256": sha256,
                "extracted_selection": None
                if request.selection.is_everything
                else request.selection.as_json(),
                "fetched_from": None,
                "fetched_version": None,
            },
        )
    if request.delete_archive:
        size = archive.stat().st_size
        delete_extracted_archive(result, request.selection)
        # The record keeps size and sha256, so later checks still know what it was.
        session.record_store.forget_part_fields(part.name, "archive")
        session.info(
            f"{part.name}: deleted the archive {archive} ({format_bytes(size)}) after "
            f"checking every extracted file by CRC-32; its size and sha256 stay recorded"
        )
    return result


def members(count: int) -> str:
    """``1 member``, ``2 members``."""
    return f"{count} member" if count == 1 else f"{count} members"


def summary(part: Part, result: ExtractResult) -> str:
    """One line for stderr: what was extracted where, or that there was nothing to do."""
    where = result.target
    if result.selected == 0:
        if result.archive_files == 0:
            return f"{part.name}: {result.archive.name} has no files to extract"
        return f"{part.name}: the selection matches no member of {result.archive.name}"
    if result.nothing_to_do:
        if result.selected == 1:
            checked = "matches its CRC-32" if result.all_verified else "has its declared size"
            already = "the 1 selected member is"
        else:
            checked = "match their CRC-32" if result.all_verified else "have their declared sizes"
            already = f"all {result.selected} selected members are"
        return f"{part.name}: nothing to do; {already} already extracted in {where} and {checked}"
    line = (
        f"{part.name}: extracted {members(result.extracted)} "
        f"({format_bytes(result.bytes_written)}) into {where} in "
        f"{format_duration(result.seconds)}; {result.skipped} already there"
    )
    if result.stale_removed:
        files = "file" if result.stale_removed == 1 else "files"
        line += f"; removed {result.stale_removed} unfinished {files} of an earlier run"
    if result.superseded_removed:
        files = "file" if result.superseded_removed == 1 else "files"
        line += (
            f"; removed {result.superseded_removed} {files} of the previous version that "
            "this archive no longer has"
        )
    return line


def extract_downloaded(session: Session, part: Part) -> ExtractResult:
    """`download --extract`: extract a part just downloaded, with the default options, into
    the configured folder. The caller holds the lock."""
    result = extract_part(session, part, session.layout.archive_path(part), ExtractRequest())
    session.info(summary(part, result))
    return result


@dataclass(frozen=True)
class PartExtracted:
    part: Part
    result: ExtractResult

    @property
    def tree(self) -> Path:
        """The folder the part's files are in: the zip's top folder under the target."""
        return self.result.target / self.part.root if self.part.root else self.result.target


@dataclass
class ExtractReport:
    """What `extract` did, part by part, in the order asked."""

    parts: list[PartExtracted] = field(default_factory=list)
    archive_deleted: bool = False

    def as_json(self) -> dict[str, object]:
        return {
            "parts": [
                {
                    "part": done.part.name,
                    **done.result.as_json(),
                    "archive_deleted": self.archive_deleted,
                }
                for done in self.parts
            ]
        }


def extract_requested(
    session: Session,
    parts: list[Part],
    request: ExtractRequest,
    wait_lock: float | None = None,
) -> ExtractReport:
    """`extract`: extract ``parts`` as ``request`` asks (both from :func:`requested_parts`,
    which refuses before any work what cannot be done), downloading first the archives that
    are missing.

    Every archive is proven the part's before the first is extracted (exit 5, nothing
    written). A selection that matches no member of any archive that has files is a usage
    error (exit 2), raised after the (empty) extraction, so nothing was written either.
    """
    # Missing archives are downloaded first; that takes the lock on its own.
    archives = [ensure_archive(session, part) for part in parts]
    report = ExtractReport(archive_deleted=request.delete_archive)
    with session.locked(wait_lock):
        for part, archive in zip(parts, archives, strict=True):
            ensure_verified(session, part, archive)
        for part, archive in zip(parts, archives, strict=True):
            result = extract_part(session, part, archive, request)
            session.info(summary(part, result))
            report.parts.append(PartExtracted(part, result))
    results = [done.result for done in report.parts]
    # An archive without files says so itself; only a selection that missed files is wrong.
    if (
        not request.selection.is_everything
        and all(r.selected == 0 for r in results)
        and any(r.archive_files != 0 for r in results)
    ):
        raise UsageError(
            "--include, --exclude or --class matched no member of "
            + ", ".join(p.name for p in parts),
            hint="globs match the whole member path, e.g. '*/polyps/*' or 'labeled-images/*'",
        )
    return report
