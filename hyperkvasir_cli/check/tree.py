"""Checking an extracted tree against the archive's central directory.

Every selected member must exist at ``<target>/<member path>`` with the size and CRC-32
the central directory records (sizes only in quick mode); files under the part's folders
that the archive does not contain are *unexpected*. The part's folders are its root (when
the manifest names one) and every top folder its members occupy; nothing else under the
target is looked at, so `full`, extracted straight into the data folder, never calls the
archives or a user's own files there unexpected. Members an extraction deliberately
left out (its marker records the selection) are neither missing nor unexpected; member
names become paths exactly as extraction makes them (:mod:`zipsafety`), and its
bookkeeping files (the marker, temporary files) are not dataset files.

Nothing on disk is modified. Files are read in fixed-size chunks by several threads
(zlib.crc32 and reads release the GIL), so memory stays flat and every core is used.
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
import zlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from hyperkvasir_cli.archive.index import read_members
from hyperkvasir_cli.archive.marker import ExtractMarker, marker_path, read_marker
from hyperkvasir_cli.archive.safety import TEMP_SUFFIX, path_problem, relative_path
from hyperkvasir_cli.archive.scan import TreeScan, scan_tree
from hyperkvasir_cli.archive.selection import Selection
from hyperkvasir_cli.check.integrity import (
    CheckItem,
    Facts,
    ItemResult,
    relative_display,
)
from hyperkvasir_cli.check.members import open_zip
from hyperkvasir_cli.core.errors import ArchiveError, HyperkvasirError
from hyperkvasir_cli.core.progress import ProgressReporter, SilentProgress
from hyperkvasir_cli.core.worker_threads import SharedProgress, read_buffer, run_in_threads

# Opening a FIFO left where a file should be must not hang the check.
_OPEN_FLAGS = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0)


@dataclass(frozen=True)
class ExpectedFile:
    path: str  # relative to the target, as extraction writes it
    size: int
    crc: int


@dataclass(frozen=True)
class TreePlan:
    """What the tree must hold, decided from the central directory alone."""

    expected: tuple[ExpectedFile, ...]  # selected members, compared file by file
    members: frozenset[str]  # every file member's path, selected or not: never "unexpected"
    roots: tuple[str, ...]  # top folders whose every file must be a member (none at the top)
    unsafe: tuple[tuple[str, str], ...]  # (member, why) for paths that would escape


class EntryLike(Protocol):
    """What :func:`plan_tree` reads of a central directory entry (a ``zipfile.ZipInfo``, or
    a :class:`DirectoryEntry` of a directory fetched from a server)."""

    @property
    def filename(self) -> str: ...
    @property
    def file_size(self) -> int: ...
    @property
    def CRC(self) -> int: ...

    def is_dir(self) -> bool: ...


@dataclass(frozen=True)
class DirectoryEntry:
    filename: str
    file_size: int
    CRC: int
    directory: bool = False

    def is_dir(self) -> bool:
        return self.directory


def plan_tree(
    infos: Iterable[EntryLike], selection: Selection | None, part_root: str | None
) -> TreePlan:
    """Decide which files the tree must hold and which folders to search for extras: the
    part's root, if it has one, and the top folders of its members.

    Member names become paths and are selected exactly as extraction does it.
    """
    chosen = selection or Selection()
    expected: list[ExpectedFile] = []
    members: set[str] = set()
    unsafe: list[tuple[str, str]] = []
    roots = {part_root} if part_root else set()
    for info in infos:
        if info.is_dir():
            continue
        problem = path_problem(info.filename)
        if problem is not None:
            unsafe.append((info.filename, problem))
            continue
        path = relative_path(info.filename)
        members.add(path)
        if "/" in path:
            roots.add(path.split("/", 1)[0])
        if chosen.selects(path):  # also drops platform junk
            expected.append(ExpectedFile(path, info.file_size, info.CRC))
    expected.sort(key=lambda e: e.path)
    return TreePlan(tuple(expected), frozenset(members), tuple(sorted(roots)), tuple(unsafe))


def member_folders(archive: Path) -> tuple[str, ...]:
    """The top folders the archive's files occupy under a target, named as extraction
    names paths (from the central directory alone).

    Raises ArchiveError when the archive has no readable central directory, UsageError
    when it cannot be opened.
    """
    folders = set()
    for member in read_members(archive).members:
        if not member.is_dir and path_problem(member.name) is None:
            path = relative_path(member.name)
            if "/" in path:
                folders.add(path.split("/", 1)[0])
    return tuple(sorted(folders))


def marker_selection(marker: ExtractMarker | None) -> Selection | None:
    """The selection an extraction recorded; None (everything) without a usable one."""
    if marker is None or not any(marker.selection.values()):
        return None
    try:
        return Selection.build(**marker.selection)
    except (HyperkvasirError, TypeError):
        return None


@dataclass(frozen=True)
class FileOutcome:
    result: ItemResult
    reason: str
    found: Facts


def check_file(
    path: str,
    expected: ExpectedFile,
    quick: bool,
    algorithm: str | None,
    progress: ProgressReporter,
) -> FileOutcome:
    """Compare one file with its member: size, then (unless ``quick``) CRC-32."""
    try:
        if quick:
            return _compare_sizes(os.stat(path), expected)
        fd = os.open(path, _OPEN_FLAGS)
    except (FileNotFoundError, NotADirectoryError):
        return FileOutcome("missing", "missing: the file does not exist", {})
    except OSError as exc:
        return FileOutcome("failed", f"cannot read: {exc.strerror or exc}", {})
    try:
        sized = _compare_sizes(os.fstat(fd), expected)
        if sized.result != "ok":
            return sized
        return _compare_content(fd, expected, algorithm, progress)
    except OSError as exc:
        return FileOutcome("failed", f"cannot read: {exc.strerror or exc}", {})
    finally:
        os.close(fd)


def _compare_sizes(status: os.stat_result, expected: ExpectedFile) -> FileOutcome:
    if not stat.S_ISREG(status.st_mode):
        return FileOutcome("changed", "changed: not a regular file", {})
    found: Facts = {"size": status.st_size}
    if status.st_size != expected.size:
        reason = f"changed: size expected {expected.size} B, found {status.st_size} B"
        return FileOutcome("changed", reason, found)
    return FileOutcome("ok", "size matches the central directory", found)


def _compare_content(
    fd: int, expected: ExpectedFile, algorithm: str | None, progress: ProgressReporter
) -> FileOutcome:
    digest = hashlib.new(algorithm) if algorithm else None
    view = read_buffer()
    crc = size = 0
    while count := os.readv(fd, [view]):
        chunk = view[:count]
        crc = zlib.crc32(chunk, crc)
        if digest is not None:
            digest.update(chunk)
        size += count
        progress.advance(count)
    found: Facts = {"size": size, "crc32": f"{crc:08x}"}
    if digest is not None and algorithm:
        found[algorithm] = digest.hexdigest()
    if size != expected.size:
        reason = f"changed: size expected {expected.size} B, found {size} B while reading"
        return FileOutcome("changed", reason, found)
    if crc != expected.crc:
        reason = f"changed: CRC-32 expected {expected.crc:08x}, found {crc:08x}"
        return FileOutcome("changed", reason, found)
    return FileOutcome("ok", "size and CRC-32 match the central directory", found)


@dataclass
class TreeCheck:
    items: list[CheckItem] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def verify_tree(
    part: str,
    part_root: str | None,
    archive: Path,
    target: Path,
    display_base: Path,
    *,
    quick: bool = False,
    algorithm: str | None = None,
    jobs: int = 1,
    progress: ProgressReporter | None = None,
    entries: Sequence[EntryLike] | None = None,
) -> TreeCheck:
    """Check the tree extracted from ``archive`` into ``target``.

    Items: every selected member (ok, missing or changed), then every unexpected file;
    paths relative to ``display_base``. ``algorithm`` adds that digest of each file to
    its ``found`` facts. An archive without a valid central directory gives one
    ``unreadable`` item and no file is compared. ``entries``: the central directory
    itself (as fetched from a server), when there is no archive to read it from.
    """
    check = TreeCheck()
    infos: Sequence[EntryLike]
    if entries is not None:
        infos = entries
    else:
        try:
            with open_zip(archive) as opened:
                infos = opened.infolist()
        except ArchiveError as exc:
            display = relative_display(archive, display_base)
            check.items.append(CheckItem(part, "archive", display, "unreadable", exc.message))
            return check
    selection = marker_selection(read_marker(marker_path(target, part_root, part)))
    plan = plan_tree(infos, selection, part_root)
    check.notes.extend(_plan_notes(part, plan, selection))
    prefix = _display_prefix(target, display_base)
    check.items.extend(
        CheckItem(part, "member", name, "unreadable", f"unsafe path: the member {why}")
        for name, why in plan.unsafe
    )
    check.items.extend(_compare_files(part, plan, target, prefix, quick, algorithm, jobs, progress))
    scan = scan_tree(target, plan.roots)
    check.items.extend(
        CheckItem(part, "extracted", prefix + path, "unexpected", "unexpected: not in the archive")
        for path in sorted(set(scan.files) - plan.members)
    )
    check.notes.extend(_scan_notes(part, scan))
    return check


def _compare_files(
    part: str,
    plan: TreePlan,
    target: Path,
    prefix: str,
    quick: bool,
    algorithm: str | None,
    jobs: int,
    progress: ProgressReporter | None,
) -> list[CheckItem]:
    # Sizes alone take a moment even for 100,000 files: no progress to show.
    reporter = SharedProgress(SilentProgress() if quick or progress is None else progress)
    total = sum(e.size for e in plan.expected)
    reporter.start(f"checking {len(plan.expected)} extracted files of {part}", total)
    base = str(target)
    try:
        outcomes = run_in_threads(
            lambda e: check_file(f"{base}/{e.path}", e, quick, algorithm, reporter),
            plan.expected,
            jobs,
        )
    finally:
        reporter.finish()
    return [
        CheckItem(
            part=part,
            kind="extracted",
            path=prefix + expected.path,
            result=outcome.result,
            reason=outcome.reason,
            expected=_expected_facts(expected, quick),
            found=outcome.found,
            source="central-directory",
        )
        for expected, outcome in zip(plan.expected, outcomes, strict=True)
    ]


def _expected_facts(expected: ExpectedFile, quick: bool) -> Facts:
    if quick:
        return {"size": expected.size}
    return {"size": expected.size, "crc32": f"{expected.crc:08x}"}


def _display_prefix(target: Path, base: Path) -> str:
    shown = relative_display(target, base)
    return "" if shown == "." else shown.rstrip("/") + "/"


def _plan_notes(part: str, plan: TreePlan, selection: Selection | None) -> list[str]:
    notes = []
    if selection is not None and not selection.is_everything:
        notes.append(
            f"{part}: extracted with a selection ({json.dumps(selection.as_json())}); "
            f"{len(plan.expected)} of {len(plan.members)} members are expected on disk"
        )
    return notes


def _scan_notes(part: str, scan: TreeScan) -> list[str]:
    notes = []
    if scan.temporaries:
        notes.append(
            f"{part}: ignored {scan.temporaries} leftover temporary file(s) (*{TEMP_SUFFIX})"
            " of an interrupted extraction; they are not dataset files"
        )
    if scan.junk:
        notes.append(f"{part}: ignored {scan.junk} platform file(s) such as .DS_Store")
    if scan.unlisted:
        listed = ", ".join(scan.unlisted[:3])
        notes.append(f"{part}: could not look for unexpected files in {listed}")
    return notes
