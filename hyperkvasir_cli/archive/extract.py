"""Unpacking an archive: safe, resumable, selective and parallel.

:func:`extract_archive` is what ``extract``, ``download --extract`` and ``sync`` call:

1. read the central directory and judge every member (:mod:`zipsafety`): an unsafe or
   unreadable archive, a member outside the part's folder or on hyperkvasir's own files
   (:class:`OwnFiles`) raises :class:`ArchiveError` (exit 6) before anything is written;
2. select members; refuse names and paths too long for the file system, and make sure
   every folder they need resolves inside the target and outside hyperkvasir's own
   places, so a symbolic link already in the tree cannot lead writes elsewhere (exit 6);
3. note what is already there: files of the declared size are kept (with ``verify``,
   only when their CRC-32 matches too); ``force`` rewrites everything;
4. check free space for what is still to be written (:class:`DiskSpaceError`, exit 7);
5. remove stale temporary files, create folders and extract in batches, in worker
   processes, each member through a temporary name (:mod:`extract_worker`);
6. write the completion marker (:mod:`extract_marker`).

A run stopped at any point (error, Ctrl-C, kill) leaves only complete files under final
names, and the next run continues from there.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from hyperkvasir_cli.archive.index import ZipIndex, read_members
from hyperkvasir_cli.archive.marker import (
    ExtractMarker,
    archive_changed,
    marker_path,
    read_marker,
    write_marker,
)
from hyperkvasir_cli.archive.plan import (
    BatchQueue,
    Plan,
    cut_batches,
    file_folders,
    folders_of,
    plan_extraction,
    select,
    worth_workers,
)
from hyperkvasir_cli.archive.pool import Batch, WorkerPool
from hyperkvasir_cli.archive.safety import (
    NAME_MAX,
    PATH_MAX,
    TEMP_SUFFIX,
    PathLimits,
    Placement,
    SafeMember,
    is_inside,
    length_refusals,
    refusal_error,
    reserved_problem,
    safe_members,
)
from hyperkvasir_cli.archive.scan import scan_tree
from hyperkvasir_cli.archive.selection import Selection, is_platform_junk
from hyperkvasir_cli.archive.worker import BatchOutcome, extract_batch, write_error
from hyperkvasir_cli.core.diskspace import allocated, allocation_unit, ensure_free_space
from hyperkvasir_cli.core.errors import ArchiveError, UsageError
from hyperkvasir_cli.core.progress import ProgressReporter, SilentProgress


@dataclass(frozen=True)
class ExtractResult:
    """What one extraction did. ``skipped`` members were already in place and intact;
    ``all_verified`` says every selected member's CRC-32 was checked in this run."""

    archive: Path
    target: Path
    selected: int
    selected_bytes: int
    extracted: int
    skipped: int
    bytes_written: int
    stale_removed: int
    marker: Path | None
    marker_written: bool
    all_verified: bool
    seconds: float
    archive_files: int = -1  # file members in the archive, platform junk aside (-1: unknown)
    superseded_removed: int = 0  # files of the previous archive the new one no longer has

    @property
    def nothing_to_do(self) -> bool:
        return not (
            self.extracted or self.marker_written or self.stale_removed or self.superseded_removed
        )

    def as_json(self) -> dict[str, object]:
        return {
            "archive": str(self.archive),
            "target": str(self.target),
            "selected": self.selected,
            "extracted": self.extracted,
            "skipped": self.skipped,
            "bytes": self.bytes_written,
            "selected_bytes": self.selected_bytes,
            "stale_removed": self.stale_removed,
            "superseded_removed": self.superseded_removed,
            "marker": str(self.marker) if self.marker else None,
            "nothing_to_do": self.nothing_to_do,
            "verified": self.all_verified,
            "seconds": round(self.seconds, 3),
        }


@dataclass(frozen=True)
class Survey:
    """Regular files already under final names (relative path -> size), and leftovers."""

    sizes: dict[str, int]
    stale: list[Path]


def survey_folders(target: Path, folders: list[str]) -> Survey:
    """List ``folders`` under ``target`` once each; symbolic links are not files here (a
    member is written over the link, never through it)."""
    sizes: dict[str, int] = {}
    stale: list[Path] = []
    for folder in folders:
        try:
            entries = list(os.scandir(target / folder))
        except (FileNotFoundError, NotADirectoryError):
            continue
        except OSError as exc:
            raise UsageError(
                f"cannot list {target / folder}: {exc.strerror or exc}",
                hint="check the permissions of the target folder (or choose another with --to)",
            ) from exc
        for entry in entries:
            if entry.name.endswith(TEMP_SUFFIX) and not entry.is_dir(follow_symlinks=False):
                stale.append(Path(entry.path))
            elif entry.is_file(follow_symlinks=False):
                sizes[f"{folder}/{entry.name}" if folder else entry.name] = entry.stat(
                    follow_symlinks=False
                ).st_size
    return Survey(sizes, stale)


@dataclass(frozen=True)
class OwnFiles:
    """Where hyperkvasir keeps its own files (absolute paths); no member may land there.

    ``archives_dir`` holds the archives named ``archive_files`` with their ``.part``,
    ``.part.json`` and ``.bad-*`` files; ``files`` are single files with what they are
    (the lock, the config file), each reserved with every name that begins with its own
    (the lock's ``.info``). Only what lies in the target matters: see :func:`own_placement`.
    """

    archives_dir: Path | None = None
    archive_files: tuple[str, ...] = ()
    files: tuple[tuple[Path, str], ...] = ()


def _relative_inside(root: str, path: Path) -> str | None:
    """``path`` relative to the resolved ``root`` ("/" separators, "" for root itself), or
    None when it does not lie inside."""
    resolved = os.path.realpath(path)
    if not is_inside(root, resolved):
        return None
    relative = os.path.relpath(resolved, root)
    return "" if relative == "." else relative.replace(os.sep, "/")


def own_placement(target: Path, root: str | None, own: OwnFiles) -> Placement:
    """Where members may go in ``target``: under ``root``, and not onto ``own`` files.

    The archives folder is reserved whole when it lies below the target; when it is the
    target itself, the archives (and their partials) are reserved by name.
    """
    real_target = os.path.realpath(target)
    folders: list[tuple[str, str]] = []
    prefixes: list[tuple[str, str]] = []
    if own.archives_dir is not None:
        archives = _relative_inside(real_target, own.archives_dir)
        if archives:
            folders.append((archives, "the archives folder"))
        elif archives == "":
            prefixes += [(name, "an archive or its partial download") for name in own.archive_files]
    for path, what in own.files:
        relative = _relative_inside(real_target, path)
        if relative:
            prefixes.append((relative, what))
    return Placement(root, tuple(folders), tuple(prefixes))


def path_limits(target: Path) -> PathLimits:
    """NAME_MAX and PATH_MAX of the file system the target is (or will be) on: asked of
    its nearest existing folder; the usual 255 and 4096 where the system does not say."""
    folder = Path(os.path.abspath(target))
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent

    def ask(name: str, default: int) -> int:
        try:
            value = os.pathconf(folder, name)
        except (AttributeError, OSError, ValueError):  # no pathconf on Windows
            return default
        return value if value > 0 else default

    return PathLimits(ask("PC_NAME_MAX", NAME_MAX), ask("PC_PATH_MAX", PATH_MAX))


def ensure_paths_fit(target: Path, members: list[SafeMember], archive_name: str) -> None:
    """Raise :class:`ArchiveError` (exit 6) naming the first member whose name or path
    the target's file system cannot hold. Nothing is written."""
    target_bytes = len(os.fsencode(os.path.abspath(target)))
    refusals = length_refusals(members, target_bytes, path_limits(target))
    if refusals:
        raise refusal_error(archive_name, refusals)


def ensure_inside_target(
    target: Path, members: list[SafeMember], placement: Placement | None = None
) -> None:
    """Raise :class:`ArchiveError` naming the first member whose folder resolves outside
    ``target``, or onto hyperkvasir's own places in it, through a symbolic link already on
    disk. Nothing is written."""
    root = os.path.realpath(target)
    # A link leads out of the part's folder: every reserved place counts, not only those
    # under the root.
    reserved = Placement(None, placement.folders, placement.prefixes) if placement else None
    verdicts: dict[str, str | None] = {}  # folder -> where it resolves (None: outside)
    for safe in members:
        if safe.folder not in verdicts:
            verdicts[safe.folder] = _relative_inside(root, target / safe.folder)
        resolved = verdicts[safe.folder]
        if resolved is None:
            raise ArchiveError(
                f"member {safe.member.name!r} would be written to {target / safe.path}, which "
                f"resolves outside {target}; nothing was written",
                hint="a symbolic link in the target folder leads elsewhere; remove it or "
                "extract with --to into another folder",
            )
        if reserved is not None and resolved != safe.folder:
            # A link on the way: judge the place it leads to as the member's own path was.
            base = safe.path.rpartition("/")[2]
            path = resolved if safe.is_dir else f"{resolved}/{base}".lstrip("/")
            refusal = reserved_problem(path, safe.is_dir, reserved)
            if refusal is not None:
                raise ArchiveError(
                    f"member {safe.member.name!r} {refusal.reason}: {target / safe.folder} "
                    f"leads there through a symbolic link; nothing was written",
                    hint="remove the symbolic link, or extract with --to into another folder",
                )


def prepare_folders(target: Path, folders: list[str], stale: list[Path]) -> None:
    """Remove leftovers of killed runs and create the folders members go into."""
    for path in stale:
        try:
            path.unlink()
        except FileNotFoundError:
            pass
        except OSError as exc:
            raise write_error(exc, str(path)) from exc
    for folder in ["", *folders]:
        try:
            (target / folder).mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise write_error(exc, str(target / folder)) from exc


@dataclass(frozen=True)
class PreparedRun:
    """A run checked and ready: its plan, where its marker goes and what was there."""

    plan: Plan
    marker_file: Path
    previous_marker: ExtractMarker | None
    stale_removed: int
    members: list[SafeMember]  # every member, judged, with its path under the target


@dataclass(frozen=True)
class ExtractOptions:
    """What to extract and how; see :func:`extract_archive`."""

    root: str | None = None
    selection: Selection = field(default_factory=Selection)
    verify: bool = False
    force: bool = False
    archive_sha256: str | None = None
    part_name: str | None = None
    own_files: OwnFiles = field(default_factory=OwnFiles)


def prepare_run(
    index: ZipIndex, target: Path, options: ExtractOptions, *, make_room: bool = True
) -> PreparedRun:
    """Everything short of extracting: judge, select, plan, check space, make folders.

    Whatever can refuse the run does so here, before the first write. Without
    ``make_room`` (a dry run), neither space nor folders are seen to: nothing is written.
    """
    archive = index.archive
    placement = own_placement(target, options.root, options.own_files)
    members = safe_members(
        index.members, archive_name=archive.name, archive_size=index.size, placement=placement
    )
    chosen = select(members, options.selection)
    ensure_paths_fit(target, chosen, archive.name)
    ensure_inside_target(target, chosen, placement)
    marker_file = marker_path(target, options.root, options.part_name or archive.stem)
    previous = read_marker(marker_file)
    verify = options.verify or archive_changed(previous, options.archive_sha256)
    survey = survey_folders(target, file_folders(chosen))
    plan = plan_extraction(chosen, survey.sizes, verify=verify, force=options.force)
    # Files take whole blocks and new folders one each: 100,000 small images need far more
    # than their bytes, and a check on bytes alone would let the disk fill half way.
    if not make_room:
        return PreparedRun(plan, marker_file, previous, 0, members)
    unit = allocation_unit(target)
    writes = plan.sizes_to_write
    folders = folders_of(chosen)
    needed = allocated(writes, unit) + unit * len(folders) if writes else 0
    ensure_free_space(target, needed, f"{len(plan.tasks)} members of {archive.name}")
    prepare_folders(target, folders, survey.stale)
    return PreparedRun(plan, marker_file, previous, len(survey.stale), members)


def preview_extraction(archive: Path, target: Path, options: ExtractOptions) -> Plan:
    """What :func:`extract_archive` would do, judged exactly as it judges (an unsafe archive
    raises the same errors), with nothing written: no folder, no file, no marker."""
    return prepare_run(read_members(archive), target, options, make_room=False).plan


def run_batches(
    archive: Path,
    target: Path,
    plan: Plan,
    progress: ProgressReporter,
    pool: WorkerPool | None = None,
) -> BatchOutcome:
    """Extract every task of ``plan``: in ``pool`` when there is one and the work is worth
    it, in this process otherwise."""
    if pool is not None and not worth_workers(pool.size, plan.bytes_to_process, len(plan.tasks)):
        pool = None
    workers = pool.size if pool is not None else 1
    queue = BatchQueue(cut_batches(plan.tasks, workers), workers)
    total = BatchOutcome()
    progress.start(f"extract {archive.name}", total=plan.bytes_to_process)
    try:
        if pool is not None:
            for batch, outcome in pool.run(queue):
                _add(total, outcome, batch, progress)
        else:
            while (local := queue.take(0)) is not None:
                _add(total, extract_batch(archive, target, local), local, progress)
    finally:
        progress.finish()
    return total


def _add(
    total: BatchOutcome, outcome: BatchOutcome, batch: Batch, progress: ProgressReporter
) -> None:
    total.extracted += outcome.extracted
    total.verified += outcome.verified
    total.bytes_written += outcome.bytes_written
    progress.advance(sum(task.member.file_size for task in batch))


def extract_archive(
    archive: Path,
    target: Path,
    *,
    root: str | None = None,
    selection: Selection = Selection(),
    jobs: int = 1,
    verify: bool = False,
    force: bool = False,
    archive_sha256: str | None = None,
    progress: ProgressReporter | None = None,
    part_name: str | None = None,
    own_files: OwnFiles | None = None,
) -> ExtractResult:
    """Extract the members of ``archive`` that ``selection`` keeps to ``target/<member path>``.

    Files already present with the declared size are kept (with ``verify`` only if their
    CRC-32 matches; ``force`` rewrites all). The completion marker goes under
    ``target/root`` (or names ``part_name`` when the archive has no single root).
    With ``root``, every member must lie under ``<root>/``; no member may land on
    ``own_files`` (hyperkvasir's archives, lock and config) when they lie in the target.
    Raises :class:`ArchiveError` (exit 6) for an unsafe or damaged archive, or a member
    name or path too long for the file system, and
    :class:`DiskSpaceError` (exit 7) when the rest will not fit, both before writing
    anything; a damaged member found while extracting stops the run (exit 6) with the
    members done so far complete and kept.
    """
    started = time.monotonic()
    if jobs < 1:
        raise UsageError(f"jobs must be at least 1, found {jobs}")
    index = read_members(archive)
    files = [m for m in index.members if not m.is_dir]
    with contextlib.ExitStack() as stack:
        pool = None
        # Workers start now, so that their start-up overlaps the checks and planning below.
        if os.name != "nt" and worth_workers(jobs, sum(m.file_size for m in files), len(files)):
            pool = stack.enter_context(WorkerPool(archive, target, jobs))
        options = ExtractOptions(
            root, selection, verify, force, archive_sha256, part_name, own_files or OwnFiles()
        )
        prepared = prepare_run(index, target, options)
        plan = prepared.plan
        done = BatchOutcome()
        if plan.tasks:
            done = run_batches(archive, target, plan, progress or SilentProgress(), pool)
    superseded = 0
    if archive_changed(prepared.previous_marker, archive_sha256):
        superseded = remove_superseded(target, prepared.members, root)
    marker = ExtractMarker.completed(
        archive.name, archive_sha256, plan.selected, plan.selected_bytes, selection
    )
    previous = prepared.previous_marker
    write = plan.selected > 0 and not (previous is not None and previous.covers(marker))
    if write:
        write_marker(prepared.marker_file, marker)
    return ExtractResult(
        archive=archive,
        target=target,
        selected=plan.selected,
        selected_bytes=plan.selected_bytes,
        extracted=done.extracted,
        skipped=plan.selected - done.extracted,
        bytes_written=done.bytes_written,
        stale_removed=prepared.stale_removed,
        marker=prepared.marker_file if plan.selected > 0 else None,
        marker_written=write,
        all_verified=plan.skipped == 0,
        seconds=time.monotonic() - started,
        archive_files=sum(1 for m in files if not is_platform_junk(m.name)),
        superseded_removed=superseded,
    )


def remove_superseded(target: Path, members: Sequence[SafeMember], root: str | None) -> int:
    """After a tree made from another archive has been brought up to this one: remove the
    files in the folders this archive occupies (its root, else its members' top folders)
    that are not members of it, the previous version's files that this one no longer has,
    so the tree is one version, not a mix. Returns how many were removed."""
    known = {member.path for member in members if not member.is_dir}
    roots = [root] if root else sorted({path.split("/", 1)[0] for path in known if "/" in path})
    removed = 0
    for path in scan_tree(target, roots).files:
        if path not in known:
            with contextlib.suppress(FileNotFoundError):
                (target / path).unlink()
                removed += 1
    return removed


def delete_extracted_archive(result: ExtractResult, selection: Selection) -> None:
    """Delete the archive after a complete extraction whose every member was checked.

    Raises :class:`UsageError` (and deletes nothing) when the extraction covered only
    part of the archive or some members were trusted by size alone.
    """
    if not selection.is_everything:
        raise UsageError(
            f"kept {result.archive}: --delete-archive needs every member extracted, "
            "not a selection",
            hint="drop --include, --exclude and --class to extract the whole archive",
        )
    if not result.all_verified:
        raise UsageError(
            f"kept {result.archive}: {result.skipped} members were not checked by CRC-32",
            hint="add --verify so that files already extracted are checked too",
        )
    result.archive.unlink()
