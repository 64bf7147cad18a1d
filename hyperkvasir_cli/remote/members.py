"""Fetching a selection of a remote archive's members straight into the extracted tree.

:func:`fetch_selection` is what ``download PART --class/--include/--exclude`` runs:

1. the server's directory, from the kept copy when one conditional request says it
   stands (:mod:`remote.cache`), else read by range;
2. the same judgement, selection, planning, space check and folders as ``extract``
   (:func:`archive.extract.prepare_run`): an unsafe member refuses the run before any
   byte is fetched, and members already in place are not fetched again. Unless the
   tree's marker vouches for this very version, files already present are compared by
   CRC-32 (a killed run's files, or another version's);
3. the planned ranges (:mod:`remote.planner`) fetched over the connections, each member
   checked and written through a temporary name (:mod:`remote.fetch`);
4. if the server's file changes meanwhile (a 200 to a range, other validators), nothing
   of the new version has been read: the directory is read again and, when every member
   this run wrote is the same in the new version, the run goes on from the new version;
   otherwise :class:`IntegrityError` (exit 5) names the change. A tree never ends a run
   holding two versions;
5. the completion marker, with the selection, URL and version.
"""

from __future__ import annotations

import dataclasses
import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from hyperkvasir_cli.archive.extract import (
    ExtractOptions,
    PreparedRun,
    prepare_run,
    remove_superseded,
)
from hyperkvasir_cli.archive.marker import ExtractMarker, marker_path, read_marker, write_marker
from hyperkvasir_cli.archive.plan import MemberTask
from hyperkvasir_cli.archive.worker import file_matches
from hyperkvasir_cli.core.atomic import atomic_write_text
from hyperkvasir_cli.core.errors import IntegrityError, NetworkError
from hyperkvasir_cli.core.progress import ProgressReporter, SilentProgress
from hyperkvasir_cli.remote.cache import DirectoryCache, current_directory
from hyperkvasir_cli.remote.directory import (
    MAX_VERSION_CHANGES,
    Remote,
    RemoteDirectory,
    read_remote_directory,
)
from hyperkvasir_cli.remote.fetch import MemberFetcher
from hyperkvasir_cli.remote.planner import RangeTask, fetched_bytes, plan_ranges
from hyperkvasir_cli.remote.ranges import FileChanged


@dataclass(frozen=True)
class SelectionResult:
    """What one run did (or, with ``dry_run``, would do)."""

    part: str
    url: str
    target: Path
    archive_size: int
    archive_members: int
    selected: int
    selected_bytes: int  # uncompressed bytes of the selected files
    selected_compressed: int  # their bytes in the archive
    to_fetch: int  # members this run fetches (or would)
    fetch_bytes: int  # bytes its ranges ask for
    requests_planned: int
    fetched: int
    bytes_written: int
    directory_reused: bool
    requests: int  # GET requests sent, directory included
    body_bytes: int  # body bytes received, directory included
    marker: Path | None
    version: str
    dry_run: bool
    seconds: float
    changes: list[str] = field(default_factory=list)

    @property
    def share(self) -> float:
        """How much of the archive the fetch asks for (0..1)."""
        return self.fetch_bytes / self.archive_size if self.archive_size else 0.0

    def as_json(self) -> dict[str, object]:
        return {
            "part": self.part,
            "url": self.url,
            "target": str(self.target),
            "archive_bytes": self.archive_size,
            "archive_members": self.archive_members,
            "selected": self.selected,
            "selected_bytes": self.selected_bytes,
            "selected_compressed_bytes": self.selected_compressed,
            "to_fetch": self.to_fetch,
            "fetch_bytes": self.fetch_bytes,
            "share_of_archive": round(self.share, 6),
            "requests_planned": self.requests_planned,
            "fetched": self.fetched,
            "bytes_written": self.bytes_written,
            "directory_reused": self.directory_reused,
            "requests": self.requests,
            "bytes_received": self.body_bytes,
            "marker": str(self.marker) if self.marker else None,
            "version": self.version,
            "dry_run": self.dry_run,
            "changes": self.changes,
            "seconds": round(self.seconds, 3),
        }


@dataclass(frozen=True)
class _Round:
    directory: RemoteDirectory
    prepared: PreparedRun
    tasks: list[MemberTask]  # the members to fetch: missing, or present but different
    ranges: list[RangeTask]


def pending_path(marker_file: Path) -> Path:
    """Where a run that fetches members notes the version it writes, until its marker is
    written (a name reserved for hyperkvasir: no member can take it, no scan counts it)."""
    return marker_file.with_name(f"{marker_file.stem}.fetching.json")


def read_pending(marker_file: Path) -> str | None:
    """The version an unfinished fetch was writing into the tree; None when there is none."""
    try:
        return str(json.loads(pending_path(marker_file).read_text("utf-8"))["version"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def write_pending(marker_file: Path, version: str, url: str) -> None:
    if read_pending(marker_file) != version:
        document = {"version": version, "url": url}
        atomic_write_text(pending_path(marker_file), json.dumps(document, indent=2) + "\n")


def _prepare(
    directory: RemoteDirectory,
    target: Path,
    options: ExtractOptions,
    connections: int,
    dry_run: bool = False,
) -> _Round:
    """Plan a round against ``directory``'s version.

    The tree's version is the one an unfinished fetch noted, else its marker's. When that
    is another version, files the new one no longer has are removed first (never two
    versions in one tree); unless the marker vouches for this very version, files already
    there are compared by CRC-32, so those that differ are fetched again.
    """
    marker_file = marker_path(target, options.root, options.part_name or directory.name)
    marker = read_marker(marker_file)
    pending = read_pending(marker_file)
    current = directory.pin.describe()
    tree_version = pending or (marker.version if marker is not None else None)
    vouched = pending is None and marker is not None and marker.version == current
    prepared = prepare_run(
        directory.index(),
        target,
        dataclasses.replace(options, verify=not vouched),
        make_room=not dry_run,
    )
    if not dry_run and tree_version is not None and tree_version != current:
        remove_superseded(target, prepared.members, options.root)
    # Files of the right size whose version nobody vouches for are compared by CRC-32
    # here: a killed run's members, or another version's, cost a local read, not a fetch.
    tasks = [
        task
        for task in prepared.plan.tasks
        if not (task.check_first and file_matches(os.path.join(target, task.path), task.member))
    ]
    ranges = plan_ranges(tasks, directory.members, directory.location.offset, connections)
    return _Round(directory, prepared, tasks, ranges)


def consistent_with(new: RemoteDirectory, old: RemoteDirectory, written: list[str]) -> list[str]:
    """The members written from ``old`` that ``new`` does not hold the same (path, size,
    CRC-32); empty when the run may go on from ``new``."""
    before = {m.name: (m.file_size, m.crc) for m in old.members}
    after = {m.name: (m.file_size, m.crc) for m in new.members}
    return [name for name in written if after.get(name) != before.get(name)]


def fetch_selection(
    remote: Remote,
    cache: DirectoryCache,
    target: Path,
    options: ExtractOptions,
    *,
    dry_run: bool = False,
    progress: ProgressReporter | None = None,
    note: Callable[[str], None] | None = None,
    known: tuple[RemoteDirectory, bool] | None = None,
) -> SelectionResult:
    """Fetch the members ``options.selection`` keeps from the server into ``target``.

    Raises ArchiveError (exit 6) for an unsafe or damaged archive (before fetching, or at
    the damaged member), DiskSpaceError (exit 7), NetworkError (exit 4; RangesIgnored
    when the server does not serve ranges) and IntegrityError (exit 5) when the file
    changed on the server in a way the members written cannot follow. Members written
    before any failure stay, whole; a rerun fetches only the rest.
    """
    started = time.monotonic()
    progress = progress or SilentProgress()
    changes: list[str] = []

    def changed(reason: str) -> None:
        changes.append(reason)
        if note is not None:
            note(reason)

    # ``known``: the directory the caller has just revalidated, and whether the kept copy
    # stood; asking the server again would cost a request for nothing.
    directory, reused = known or current_directory(remote, cache, changed)
    current = _prepare(directory, target, options, remote.connections, dry_run)
    written: list[str] = []
    bytes_written = 0
    for _ in range(MAX_VERSION_CHANGES + 1):
        if dry_run or not current.ranges:
            break
        write_pending(current.prepared.marker_file, directory.pin.describe(), remote.url)
        fetcher = MemberFetcher(remote, directory.pin, directory.name, target, progress)
        progress.start(f"fetch {directory.name}", total=fetched_bytes(current.ranges))
        try:
            fetcher.run(current.ranges, remote.connections)
            break
        except FileChanged as exc:
            changed(exc.reason)
            directory = _after_change(remote, cache, directory, written + fetcher.report.written)
            current = _prepare(directory, target, options, remote.connections)
        finally:
            progress.finish()
            written += fetcher.report.written
            bytes_written += fetcher.report.bytes_written
    else:
        raise NetworkError(
            f"{remote.url} kept changing while members were fetched",
            hint="the file is being replaced on the server; try again later",
        )
    plan = current.prepared.plan
    marker_file = None
    if not dry_run:
        marker_file = _write_marker(current, remote, options, target)
        pending_path(current.prepared.marker_file).unlink(missing_ok=True)
    selected_compressed = sum(
        m.member.compress_size
        for m in current.prepared.members
        if not m.is_dir and options.selection.selects(m.path)
    )
    return SelectionResult(
        part=options.part_name or directory.name,
        url=remote.url,
        target=target,
        archive_size=directory.pin.size,
        archive_members=len(directory.members),
        selected=plan.selected,
        selected_bytes=plan.selected_bytes,
        selected_compressed=selected_compressed,
        to_fetch=len(current.tasks),
        fetch_bytes=fetched_bytes(current.ranges),
        requests_planned=len(current.ranges),
        fetched=len(written),
        bytes_written=bytes_written,
        directory_reused=reused,
        requests=remote.traffic.requests,
        body_bytes=remote.traffic.body_bytes,
        marker=marker_file,
        version=directory.pin.describe(),
        dry_run=dry_run,
        seconds=time.monotonic() - started,
        changes=changes,
    )


def _after_change(
    remote: Remote, cache: DirectoryCache, old: RemoteDirectory, written: list[str]
) -> RemoteDirectory:
    """The new version's directory, when the members written so far are the same in it;
    IntegrityError (exit 5) naming the change otherwise."""
    new = read_remote_directory(remote, old.name)
    cache.save(new)
    differing = consistent_with(new, old, written)
    if differing:
        raise IntegrityError(
            f"{old.name} changed on the server while its members were fetched "
            f"({old.pin.describe()} -> {new.pin.describe()}): {len(differing)} of the "
            f"{len(written)} members written differ in the new version (first: "
            f"{differing[0]!r}); they are the old version's exact bytes and nothing of the "
            "new version was written",
            hint="run the same command again: it fetches the selection from the new version "
            "and replaces the members that changed",
        )
    return new


def _write_marker(
    current: _Round, remote: Remote, options: ExtractOptions, target: Path
) -> Path | None:
    plan = current.prepared.plan
    if plan.selected == 0:
        return None
    marker = ExtractMarker.completed(
        current.directory.name,
        None,
        plan.selected,
        plan.selected_bytes,
        options.selection,
        fetched_from=remote.url,
        version=current.directory.pin.describe(),
    )
    previous = current.prepared.previous_marker
    everything = previous is not None and not any(
        previous.selection.get(k) for k in ("include", "exclude", "classes")
    )
    # A whole tree stays described as whole when this run found every member in place.
    keep = previous is not None and (previous.covers(marker) or (everything and not current.tasks))
    if not keep:
        write_marker(current.prepared.marker_file, marker)
    return current.prepared.marker_file
