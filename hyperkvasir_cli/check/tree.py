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

import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple, Protocol, cast

from hyperkvasir_cli.archive.index import read_members
from hyperkvasir_cli.archive.marker import ExtractMarker, marker_path, read_marker
from hyperkvasir_cli.archive.safety import TEMP_SUFFIX, path_problem, relative_path
from hyperkvasir_cli.archive.scan import TreeScan, scan_tree
from hyperkvasir_cli.archive.selection import Selection, is_platform_junk
from hyperkvasir_cli.check.file_compare import compare_file, new_buffer, ok_outcome
from hyperkvasir_cli.check.file_workers import compare_in_workers
from hyperkvasir_cli.check.integrity import (
    CheckItem,
    Facts,
    ItemResult,
    relative_display,
)
from hyperkvasir_cli.check.members import open_zip
from hyperkvasir_cli.core.errors import ArchiveError, HyperkvasirError
from hyperkvasir_cli.core.progress import ProgressReporter, SilentProgress
from hyperkvasir_cli.core.worker_threads import SharedProgress

# Below this many files (and bytes) worker processes cost more to start than they save.
WORKERS_FROM_FILES = 128
WORKERS_FROM_BYTES = 64 * 1024 * 1024


class ExpectedFile(NamedTuple):
    path: str  # relative to the target, as extraction writes it
    size: int
    crc: int


# A central directory entry as the plan reads it: name, size, CRC-32, is a folder.
Entry = tuple[str, int, int, bool]

# A member name that is already a normal relative path: segments of anything but "/", "\"
# and NUL, none of them empty, "." or "..", and no drive letter first. Such a name is its
# own path (path_problem finds nothing, relative_path changes nothing); others go through
# those two. Almost every name of a real archive is one of these.
_PLAIN_NAME = re.compile(r"(?![A-Za-z]:)(?:(?!\.\.?(?:/|\Z))[^/\\\x00]+/)*(?!\.\.?\Z)[^/\\\x00]+")


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
    entries = ((i.filename, i.file_size, i.CRC, i.is_dir()) for i in infos)
    return plan_entries(entries, selection, part_root)


def plan_entries(
    entries: Iterable[Entry], selection: Selection | None, part_root: str | None
) -> TreePlan:
    """:func:`plan_tree` of ``(name, size, crc, is_dir)`` entries (100,000s: no object
    is made for an entry that is not expected on disk)."""
    chosen = selection or Selection()
    everything = chosen.is_everything
    expected: list[ExpectedFile] = []
    members: set[str] = set()
    unsafe: list[tuple[str, str]] = []
    roots = {part_root} if part_root else set()
    plain = _PLAIN_NAME.fullmatch
    for name, size, crc, is_dir in entries:
        if is_dir:
            continue
        if plain(name):
            path = name
        else:
            problem = path_problem(name)
            if problem is not None:
                unsafe.append((name, problem))
                continue
            path = relative_path(name)
        members.add(path)
        top, slash, _ = path.partition("/")
        if slash:
            roots.add(top)
        # selects() also drops platform junk
        if not is_platform_junk(path) if everything else chosen.selects(path):
            expected.append(ExpectedFile(path, size, crc))
    expected.sort(key=lambda e: e.path)  # stable: repeated names keep directory order
    return TreePlan(tuple(expected), frozenset(members), tuple(sorted(roots)), tuple(unsafe))


def directory_entries(archive: Path) -> list[Entry]:
    """The entries of the archive's central directory, read as extraction reads it.

    Raises ArchiveError when the archive has no valid central directory.
    """
    try:
        index = read_members(archive)
    except HyperkvasirError:
        # Said as the other checks say it (zipfile's words), and read as zipfile reads
        # it should zipfile manage where the stricter reader gives up.
        with open_zip(archive) as opened:
            return [(i.filename, i.file_size, i.CRC, i.is_dir()) for i in opened.infolist()]
    return [(m.name, m.file_size, m.crc, m.is_dir) for m in index.members]


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
    listed: list[Entry]
    if entries is not None:
        listed = [(i.filename, i.file_size, i.CRC, i.is_dir()) for i in entries]
    else:
        try:
            listed = directory_entries(archive)
        except ArchiveError as exc:
            display = relative_display(archive, display_base)
            check.items.append(CheckItem(part, "archive", display, "unreadable", exc.message))
            return check
    selection = marker_selection(read_marker(marker_path(target, part_root, part)))
    plan = plan_entries(listed, selection, part_root)
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
    jobs_list = [(e.path, e.size, e.crc) for e in plan.expected]
    many = len(jobs_list) >= WORKERS_FROM_FILES or total >= WORKERS_FROM_BYTES
    try:
        if jobs > 1 and many and not quick:
            found = compare_in_workers(base, jobs_list, quick, algorithm, jobs, reporter.advance)
        else:
            view = new_buffer()
            found = [
                compare_file(f"{base}/{path}", size, crc, quick, algorithm, view, reporter.advance)
                for path, size, crc in jobs_list
            ]
    finally:
        reporter.finish()
    return [
        CheckItem(
            part=part,
            kind="extracted",
            path=prefix + expected.path,
            result=cast("ItemResult", result),
            reason=reason,
            expected=_expected_facts(expected, quick),
            found=facts,
            source="central-directory",
        )
        for expected, outcome in zip(plan.expected, found, strict=True)
        for result, reason, facts in [outcome or ok_outcome(expected.size, expected.crc, quick)]
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
