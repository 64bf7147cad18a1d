"""Checking dataset parts end to end: each archive, then (on request) its members and its
extracted tree. This is what `hyperkvasir checksum PART...` runs.

A part with a root (`labeled-images`) occupies ``<target>/<root>``; a part without one
(`full`, which contains the others) occupies the top folders of its members under the
target, and its completion marker names the part. An archive deleted after a verified
extraction (`extract --delete-archive`) leaves a tree that nothing can vouch for: it is
reported ``unverifiable``, never ok.

A zip archive that only a recorded (first-seen) sha256 vouches for is also read as a zip
(its central directory, cheap) unless --quick: a matching sha256 proves only that the file
has not changed since it was recorded, not that it ever was the part. An archive found not
to be the part's is listed in :attr:`CheckReport.damaged`.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from hyperkvasir_cli.archive.index import read_members
from hyperkvasir_cli.archive.marker import marker_path
from hyperkvasir_cli.check.integrity import (
    ArchiveTarget,
    CheckItem,
    CheckReport,
    archive_expectation,
    relative_display,
    verify_archives,
)
from hyperkvasir_cli.check.members import verify_members
from hyperkvasir_cli.check.tree import DirectoryEntry, member_folders, verify_tree
from hyperkvasir_cli.core.errors import HyperkvasirError
from hyperkvasir_cli.core.layout import Layout
from hyperkvasir_cli.core.manifest import Part
from hyperkvasir_cli.core.progress import ProgressReporter, SilentProgress
from hyperkvasir_cli.core.records import PartRecord
from hyperkvasir_cli.core.worker_threads import Background, SharedProgress


@dataclass(frozen=True)
class CheckOptions:
    deep: bool = False  # read every zip member: CRC-32 and size
    extracted: bool = False  # compare the extracted trees with the central directory
    quick: bool = False  # sizes only: no file content is read
    to: Path | None = None  # the extraction target, when not the recorded one
    algorithm: str = "sha256"  # computed besides sha256 (for checksum-file output)
    digest_extracted: bool = False  # also compute ``algorithm`` for every extracted file
    jobs: int = 1


TreeDecision = Literal["check", "missing", "skip"]


def tree_decision(root_exists: bool, recorded: bool, named: bool) -> TreeDecision:
    """Check a tree that exists; a tree that should exist (recorded, or asked for by name
    or by --to) but does not is missing; otherwise the part is simply not extracted."""
    if root_exists:
        return "check"
    return "missing" if recorded or named else "skip"


def extraction_target(layout: Layout, record: PartRecord | None, to: Path | None) -> Path:
    """Where the part was extracted: --to, else the recorded target, else the default."""
    if to is not None:
        return to
    if record is not None and record.extracted_to:
        return Path(record.extracted_to)
    return layout.extract_dir


def archive_deleted(part: Part, layout: Layout, record: PartRecord | None) -> bool:
    """The archive was deleted after extraction: `extract --delete-archive` clears the
    record's archive path (after checking every file by CRC-32) and keeps the tree's."""
    return (
        record is not None
        and record.archive is None
        and (record.extracted_to is not None or bool(record.copies))
        and not layout.archive_path(part).exists()
    )


@dataclass(frozen=True)
class TreePlace:
    """Whether a part's extracted tree is there, and how to say that it is not."""

    present: bool
    shown: Path  # the root folder, or the target of a part without a root
    absent_note: str  # why the tree counts as not extracted (for a note)
    missing_reason: str  # the reason of a ``missing`` item


def locate_tree(part: Part, target: Path, archive: Path | None) -> TreePlace:
    """Where ``part``'s tree is under ``target``: its root folder; or, for a part without
    a root, its completion marker or any top folder its members occupy (``archive`` None:
    the marker alone). An unreadable archive counts as present, so that the tree check
    says what is wrong with it."""
    if part.root:
        root = target / part.root
        return TreePlace(
            root.is_dir(),
            root,
            f"{root} does not exist",
            "missing: the extracted folder does not exist",
        )
    marker = marker_path(target, None, part.name)
    folders: tuple[str, ...] = ()
    if archive is not None:
        try:
            folders = member_folders(archive)
        except HyperkvasirError:
            return TreePlace(True, target, "", "")
    present = marker.is_file() or any((target / folder).is_dir() for folder in folders)
    listed = ", ".join(folders[:4]) + (", ..." if len(folders) > 4 else "")
    where = f"none of the archive's folders ({listed}) is in {target}" if folders else ""
    where = where or f"{target} holds no extraction marker {marker.name}"
    return TreePlace(present, target, where, f"missing: {where}")


def same_folder(a: Path, b: Path) -> bool:
    return os.path.abspath(a.expanduser()) == os.path.abspath(b.expanduser())


def verify_parts(
    parts: Sequence[Part],
    layout: Layout,
    records: Mapping[str, PartRecord],
    options: CheckOptions,
    *,
    named: bool = False,
    progress: ProgressReporter | None = None,
) -> CheckReport:
    """Check the archives of ``parts`` (which must exist), then their members and trees.

    Items come in that order: archives, members, extracted files; one item per archive
    (what the member or tree check finds wrong with the archive as a whole joins it).
    ``named``: the user named these parts, so a tree that is not there is missing, not
    skipped. All phases share one progress task.
    """
    names = parts[0].name if len(parts) == 1 else f"{len(parts)} parts"
    targets = [
        ArchiveTarget(
            part.name,
            layout.archive_path(part),
            relative_display(layout.archive_path(part), layout.data_dir),
            archive_expectation(part, records.get(part.name)),
        )
        for part in parts
    ]

    planned = planned_bytes(parts, targets, layout, records, options)
    shared = SharedProgress(progress or SilentProgress(), f"checking {names}", planned)

    def hash_archives() -> list[CheckItem]:
        algorithms = (options.algorithm,)
        return verify_archives(targets, algorithms, options.jobs, shared, options.quick)

    look_inside = options.deep or options.extracted
    with shared.held():
        if options.jobs > 1 and look_inside and not options.quick:
            # Hashing an archive keeps one core busy; its members and its extracted tree
            # are independent reads, so they run meanwhile on the others.
            hashing = Background(hash_archives)
            inside = _verify_inside(parts, targets, layout, records, options, named, shared)
            archives = hashing.result()
        else:
            archives = hash_archives()
            inside = _verify_inside(parts, targets, layout, records, options, named, shared)
    items = merge_archive_items(archives, inside.items)
    damaged = damaged_archives(targets, archives, inside.items)
    return CheckReport(items, inside.notes, inside.extract_to, damaged)


def planned_bytes(
    parts: Sequence[Part],
    targets: Sequence[ArchiveTarget],
    layout: Layout,
    records: Mapping[str, PartRecord],
    options: CheckOptions,
) -> int | None:
    """The bytes the whole check will read, known before it starts (each phase learns its
    own only when it begins): the archives, and their members' sizes once for --deep and
    once more for each tree --extracted finds. None when only archives are read (their
    phase knows the total from the start) or nothing is read (--quick)."""
    if options.quick or not (options.deep or options.extracted):
        return None
    total = 0
    for part, target in zip(parts, targets, strict=True):
        total += _size(target.path)
        if part.kind != "zip":
            continue
        try:
            members = read_members(target.path).members
        except HyperkvasirError:
            continue
        files = sum(m.file_size for m in members if not m.is_dir)
        if options.deep:
            total += files
        if options.extracted:
            where = extraction_target(layout, records.get(part.name), options.to)
            if locate_tree(part, where, target.path).present:
                total += files
    return total


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


def published(target: ArchiveTarget) -> bool:
    """The manifest pins the archive's sha256: a match is the publisher's very file."""
    return target.expected.source == "manifest" and target.expected.sha256 is not None


def damaged_archives(
    targets: Sequence[ArchiveTarget], archives: Sequence[CheckItem], inside: Sequence[CheckItem]
) -> list[str]:
    """The parts whose archive is not the part's: its size or sha256 differs from what
    vouches for it, or it is no readable zip (an archive-level finding of the inside
    checks). Not an archive that could not be read at all (nothing is known of it), nor
    one whose sha256 the manifest pins that cannot be shown to differ: a new copy of the
    published file would be the same."""
    not_zip = {item.part for item in inside if item.kind == "archive"}
    damaged = []
    for target, item in zip(targets, archives, strict=True):
        if item.result == "failed" or (
            item.part in not_zip and item.result != "unreadable" and not published(target)
        ):
            damaged.append(target.part)
    return damaged


def merge_archive_items(archives: list[CheckItem], inside: list[CheckItem]) -> list[CheckItem]:
    """``archives + inside``, where an archive-level finding of the member or tree check
    (no valid central directory) joins that archive's own item: one file is never shown
    OK and FAILED at once, nor counted as two archives."""
    found: dict[str | None, list[str]] = {}
    rest = []
    for item in inside:
        if item.kind == "archive" and any(a.part == item.part for a in archives):
            found.setdefault(item.part, []).append(item.reason)
        else:
            rest.append(item)
    merged = []
    for archive in archives:
        reasons = "; ".join(dict.fromkeys(found.get(archive.part, [])))
        if reasons:
            joint = ", but " if archive.result == "ok" else "; "
            archive = dataclasses.replace(
                archive, result="unreadable", reason=f"{archive.reason}{joint}{reasons}"
            )
        merged.append(archive)
    return merged + rest


def _verify_inside(
    parts: Sequence[Part],
    targets: Sequence[ArchiveTarget],
    layout: Layout,
    records: Mapping[str, PartRecord],
    options: CheckOptions,
    named: bool,
    progress: ProgressReporter,
) -> CheckReport:
    report = CheckReport()
    zips = [
        (part, target) for part, target in zip(parts, targets, strict=True) if part.kind == "zip"
    ]
    if not (options.quick or options.deep):
        # --deep reads the directory of every zip anyway.
        for _, target in zips:
            if not published(target):
                report.items.extend(_read_directory(target))
    if not (options.deep or options.extracted):
        return report
    report.notes.extend(
        f"{part.name}: not a zip archive; nothing inside to check"
        for part in parts
        if part.archive_kind != "zip"
    )
    if options.deep:
        for part, target in zips:
            report.items.extend(
                verify_members(
                    part.name, target.path, target.display, options.jobs, progress, part.root
                )
            )
    if options.extracted:
        # A member --deep already named (one that would escape the target) is not named
        # again by the tree check.
        named_members = {(i.part, i.path) for i in report.items if i.kind == "member"}
        # An archive already found unreadable has no directory to compare a tree with.
        unreadable = {i.part for i in report.items if i.kind == "archive"}
        trees = CheckReport()
        for part, _ in zips:
            if part.name in unreadable:
                continue
            _verify_extracted(trees, part, layout, records.get(part.name), options, named, progress)
        report.items.extend(
            i for i in trees.items if i.kind != "member" or (i.part, i.path) not in named_members
        )
        report.notes.extend(trees.notes)
        report.extract_to.update(trees.extract_to)
    return report


def _read_directory(target: ArchiveTarget) -> list[CheckItem]:
    """An ``unreadable`` archive item when the archive is no readable zip, else none."""
    try:
        read_members(target.path)
    except HyperkvasirError as exc:
        return [CheckItem(target.part, "archive", target.display, "unreadable", exc.message)]
    return []


def _verify_extracted(
    report: CheckReport,
    part: Part,
    layout: Layout,
    record: PartRecord | None,
    options: CheckOptions,
    named: bool,
    progress: ProgressReporter,
) -> None:
    target = extraction_target(layout, record, options.to)
    if not same_folder(target, layout.extract_dir):
        report.extract_to[part.name] = target
    place = locate_tree(part, target, layout.archive_path(part))
    recorded = record is not None and record.extracted_to is not None
    decision = tree_decision(place.present, recorded, named or options.to is not None)
    if decision == "skip":
        note = f"{part.name}: not extracted ({place.absent_note}); skipped"
        copies = [] if record is None or options.to is not None else list(record.copies)
        if copies:
            # Copies elsewhere are not the data folder's tree; they are checked when named.
            note += f"; a copy extracted elsewhere is checked with --to {copies[0]}"
        report.notes.append(note)
        return
    if decision == "missing":
        report.items.append(_missing_tree(part, place, layout))
        return
    checked = verify_tree(
        part.name,
        part.root,
        layout.archive_path(part),
        target,
        layout.data_dir,
        quick=options.quick,
        algorithm=options.algorithm if options.digest_extracted else None,
        jobs=options.jobs,
        progress=progress,
    )
    report.items.extend(checked.items)
    report.notes.extend(checked.notes)


def _missing_tree(part: Part, place: TreePlace, layout: Layout) -> CheckItem:
    return CheckItem(
        part.name, "extracted", _tree_display(place, layout), "missing", place.missing_reason
    )


def _tree_display(place: TreePlace, layout: Layout) -> str:
    shown = relative_display(place.shown, layout.data_dir)
    return place.shown.as_posix() if shown == "." else shown


def verify_deleted_archives(
    parts: Sequence[Part],
    layout: Layout,
    records: Mapping[str, PartRecord],
    options: CheckOptions,
) -> CheckReport:
    """`--extracted` for parts whose archive is not here: deleted after extraction, or
    never downloaded (members fetched by range). The archive's central directory is what
    vouches for extracted files: the one kept from the server when the members were
    fetched from it; without one, a tree that is there is ``unverifiable`` (not ok, not a
    failure) and one that vanished is missing."""
    report = CheckReport()
    for part in parts:
        record = records.get(part.name)
        target = extraction_target(layout, record, options.to)
        if not same_folder(target, layout.extract_dir):
            report.extract_to[part.name] = target
        place = locate_tree(part, target, None)
        if not place.present:
            report.items.append(_missing_tree(part, place, layout))
            continue
        entries = fetched_directory(part, layout, record)
        if entries is not None:
            checked = verify_tree(
                part.name,
                part.root,
                layout.archive_path(part),
                target,
                layout.data_dir,
                quick=options.quick,
                algorithm=options.algorithm if options.digest_extracted else None,
                jobs=options.jobs,
                entries=entries,
            )
            report.items.extend(checked.items)
            report.notes.extend(checked.notes)
            continue
        report.items.append(
            CheckItem(
                part.name,
                "extracted",
                _tree_display(place, layout),
                "unverifiable",
                f"not checked: the archive {part.file} was deleted after extraction "
                "(extract --delete-archive), and only its central directory can vouch for "
                f"the extracted files; to check them, download it again: "
                f"`hyperkvasir download {part.name}`",
            )
        )
    return report


def fetched_directory(
    part: Part, layout: Layout, record: PartRecord | None
) -> list[DirectoryEntry] | None:
    """The central directory kept from the server the part's members were fetched from
    (`download PART --class ...`), as entries; None when there is none."""
    if record is None or not record.fetched_from:
        return None
    from hyperkvasir_cli.remote.cache import DirectoryCache

    kept = DirectoryCache(layout.archives_dir, part.file).load()
    if kept is None:
        return None
    return [DirectoryEntry(m.name, m.file_size, m.crc, m.is_dir) for m in kept.members]
