"""Members on demand as workflows: `ls`, `stats --remote` and `download --class/--include/
--exclude` (and the Python API's ``ls`` and ``download(classes=...)``).

The server's copy is reached through :func:`remote_directory`: the part's URLs in order
(extra mirrors first), the directory kept in the archives folder and revalidated with one
conditional request. Listing reads only that; a selective download fetches the chosen
members into the extracted tree (:func:`hyperkvasir_cli.remote.members.fetch_selection`)
under the data folder's lock and records the selection, URL and version in the config.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

from hyperkvasir_cli.archive.selection import Selection
from hyperkvasir_cli.core.errors import NetworkError, UsageError
from hyperkvasir_cli.core.units import format_bytes, format_duration
from hyperkvasir_cli.ops.session import Session

if TYPE_CHECKING:
    from hyperkvasir_cli.archive.index import ZipMember
    from hyperkvasir_cli.core.manifest import Part
    from hyperkvasir_cli.dataset.sources import DataSource
    from hyperkvasir_cli.remote.directory import Remote, RemoteDirectory
    from hyperkvasir_cli.remote.members import SelectionResult


def plural(count: int, noun: str) -> str:
    return f"{count:,} {noun}" if count == 1 else f"{count:,} {noun}s"


def zip_part(session: Session, name: str) -> Part:
    """The named part, which must be a zip (members are a zip's)."""
    part = session.manifest.part(name)  # a group's name is refused: one part is needed
    if part.archive_kind != "zip":
        raise UsageError(
            f"{part.name} is not a zip but a {part.archive_kind} file: it has no members",
            hint=f"fetch it whole: `hyperkvasir download {part.name}`",
        )
    return part


def open_remote(session: Session, part: Part, url: str) -> Remote:
    """A :class:`Remote` for ``url`` with the settings in effect (connections, timeouts,
    CA bundle, retries, proxies from the environment)."""
    from hyperkvasir_cli.remote.directory import Remote, Traffic
    from hyperkvasir_cli.transfer.http_client import build_client
    from hyperkvasir_cli.transfer.retry import RetryPolicy

    settings = session.settings
    client = build_client(
        connect_timeout=settings.connect_timeout,
        stall_timeout=settings.stall_timeout,
        ca_bundle=settings.ca_bundle,
        max_connections=max(settings.connections, 1) + 2,
        environ=session.environ,
    )
    policy = RetryPolicy(retries=settings.retries)
    return Remote(
        client, url, part.name, session.clock, policy, Traffic(), max(1, settings.connections)
    )


def remote_directory(
    session: Session, part: Part, mirrors: Sequence[str] = ()
) -> tuple[Remote, RemoteDirectory, bool]:
    """The server's directory of ``part`` (kept copy revalidated, else read by range),
    the :class:`Remote` it came from, and whether the kept copy stood. URLs are tried in
    order; the last failure is raised when none serves (exit 4, or 6 for no zip)."""
    from hyperkvasir_cli.ops.download import candidate_urls
    from hyperkvasir_cli.remote.cache import DirectoryCache, current_directory

    cache = DirectoryCache(session.layout.archives_dir, part.file)
    failures: list[NetworkError] = []
    urls = candidate_urls(part, [*mirrors, *session.settings.mirrors])
    for number, url in enumerate(urls, 1):
        remote = open_remote(session, part, url)
        try:
            directory, reused = current_directory(remote, cache, session.info)
            return remote, directory, reused
        except NetworkError as exc:
            remote.client.close()
            failures.append(exc)
            if number < len(urls):  # the last failure is the error itself
                session.info(f"{part.name}: {exc.message}; trying the next URL")
    if not failures:
        raise UsageError(f"{part.name} has no URL to read", hint="add one with --mirror")
    raise failures[-1]


class ListedMember(NamedTuple):
    """One listed member (a tuple: 100,000 of them are cheap)."""

    path: str
    size: int
    compressed_size: int
    crc: int
    present: bool = False

    def as_json(self) -> dict[str, object]:
        return {
            "path": self.path,
            "size": self.size,
            "compressed_size": self.compressed_size,
            "crc32": f"{self.crc:08x}",
            "present": self.present,
        }


@dataclass(frozen=True)
class MemberListing:
    """What `ls` prints: the selected file members of one part and where they came from."""

    part: str
    source: str  # "archive" or "remote"
    location: str  # the archive's path or the URL
    tree: Path  # where "present" was looked for
    members: list[ListedMember]
    archive_members: int
    directory_reused: bool | None = None
    requests: int = 0
    bytes_received: int = 0
    notes: list[str] = field(default_factory=list)

    @property
    def size(self) -> int:
        return sum(m.size for m in self.members)

    @property
    def compressed_size(self) -> int:
        return sum(m.compressed_size for m in self.members)

    @property
    def present(self) -> int:
        return sum(1 for m in self.members if m.present)

    def as_json(self) -> dict[str, object]:
        return {**self.summary_json(), "members": [m.as_json() for m in self.members]}

    def summary_json(self) -> dict[str, object]:
        """:meth:`as_json` without the members (which a command writes one by one)."""
        return {
            "part": self.part,
            "source": self.source,
            "location": self.location,
            "tree": str(self.tree),
            "count": len(self.members),
            "size": self.size,
            "compressed_size": self.compressed_size,
            "present": self.present,
            "archive_members": self.archive_members,
            "directory_reused": self.directory_reused,
            "requests": self.requests,
            "bytes_received": self.bytes_received,
        }

    def summary(self) -> str:
        files = "member" if len(self.members) == 1 else "members"
        line = (
            f"{self.part}: {len(self.members):,} {files}, {format_bytes(self.size)} "
            f"({format_bytes(self.compressed_size)} in the archive), {self.present:,} present "
            f"in {self.tree}"
        )
        if self.source == "remote":
            cost = "the kept directory still stands" if self.directory_reused else "read by range"
            line += (
                f"; from {self.location} ({cost}: {plural(self.requests, 'request')}, "
                f"{format_bytes(self.bytes_received)})"
            )
        return line


def tree_target(session: Session, to: Path | None = None) -> Path:
    """Where the part's extracted tree is (or goes), as `extract` has it: ``to``, else the
    data folder's (the `extract_dir` setting)."""
    return Path(os.path.abspath((to or session.layout.extract_dir).expanduser()))


class _Counted:
    """An iterator of members that counts what it has given."""

    def __init__(self, members: Iterator[ZipMember]) -> None:
        self._members = members
        self.count = 0

    def __iter__(self) -> Iterator[ZipMember]:
        for member in self._members:
            self.count += 1
            yield member


def _listed(members: Iterable[ZipMember], selection: Selection, target: Path) -> list[ListedMember]:
    from hyperkvasir_cli.archive.safety import ordinary_path, relative_path

    listed = []
    for member in members:
        if member.is_dir:
            continue
        path = ordinary_path(member.name) or relative_path(member.name)
        if selection.selects(path):
            listed.append(ListedMember(path, member.file_size, member.compress_size, member.crc))
    # Presence from one listing of each folder: 100,000 members, a few scandir calls.
    sizes = _file_sizes(target, {m.path.rpartition("/")[0] for m in listed})
    return [m._replace(present=True) if sizes.get(m.path) == m.size else m for m in listed]


def _file_sizes(target: Path, folders: set[str]) -> dict[str, int]:
    """Size of every regular file directly in ``folders`` under ``target`` (each folder
    listed once: 100,000 members cost a few listings, not 100,000 stat calls)."""
    sizes: dict[str, int] = {}
    for folder in folders:
        try:
            entries = list(os.scandir(target / folder))
        except OSError:
            continue
        for entry in entries:
            with contextlib.suppress(OSError):
                if entry.is_file(follow_symlinks=False):
                    name = f"{folder}/{entry.name}" if folder else entry.name
                    sizes[name] = entry.stat(follow_symlinks=False).st_size
    return sizes


def list_members(
    session: Session,
    name: str,
    *,
    remote: bool = False,
    include: Sequence[str] = (),
    exclude: Sequence[str] = (),
    classes: Sequence[str] = (),
    mirrors: Sequence[str] = (),
    to: Path | None = None,
) -> MemberListing:
    """`ls`: the part's file members that the selection keeps, with size, compressed size,
    CRC-32 and whether the extracted tree holds a file of that size. From the downloaded
    archive, or with ``remote`` from the server's copy (its directory only). A missing
    archive without ``remote`` is a usage error (exit 2) with a hint."""
    part = zip_part(session, name)
    selection = Selection.build(include, exclude, classes)
    target = tree_target(session, to)
    if not remote:
        from hyperkvasir_cli.archive.index import read_members

        archive = session.layout.archive_path(part)
        if not archive.is_file():
            raise UsageError(
                f"{part.name} is not downloaded ({archive} missing): nothing to list",
                hint=f"list the server's copy without downloading it: `hyperkvasir ls "
                f"{part.name} --remote`",
            )
        members = read_members(archive).members
        listed = _listed(members, selection, target)
        return MemberListing(part.name, "archive", str(archive), target, listed, len(members))
    client, directory, reused = remote_directory(session, part, mirrors)
    client.client.close()
    counted = _Counted(directory.iter_members())
    # One record at a time: 100,000 members are never held whole beside their listing.
    listed = _listed(counted, selection, target)
    del directory
    return MemberListing(
        part.name,
        "remote",
        client.url,
        target,
        listed,
        counted.count,
        directory_reused=reused,
        requests=client.traffic.requests,
        bytes_received=client.traffic.body_bytes,
    )


def selective_download(
    session: Session,
    name: str,
    *,
    include: Sequence[str] = (),
    exclude: Sequence[str] = (),
    classes: Sequence[str] = (),
    mirrors: Sequence[str] = (),
    to: Path | None = None,
    dry_run: bool = False,
    wait_lock: float | None = None,
) -> SelectionResult:
    """`download PART --class/--include/--exclude`: fetch only the selected members into
    the extracted tree, by range, under the data folder's lock; record the selection,
    URL and version in the config. See :func:`remote.members.fetch_selection` for what
    is guaranteed on failure. A dry run takes no lock and writes nothing but the kept
    directory."""
    from hyperkvasir_cli.ops.extract import own_files
    from hyperkvasir_cli.remote.cache import DirectoryCache
    from hyperkvasir_cli.remote.members import fetch_selection

    part = zip_part(session, name)
    selection = Selection.build(include, exclude, classes)
    if selection.is_everything:
        raise UsageError("a selective download needs --class, --include or --exclude")
    target = tree_target(session, to)
    from hyperkvasir_cli.archive.extract import ExtractOptions

    options = ExtractOptions(
        root=part.root, selection=selection, part_name=part.name, own_files=own_files(session)
    )
    cache = DirectoryCache(session.layout.archives_dir, part.file)
    if dry_run:
        remote, directory, reused = remote_directory(session, part, mirrors)
        try:
            return fetch_selection(
                remote,
                cache,
                target,
                options,
                dry_run=True,
                note=session.info,
                known=(directory, reused),
            )
        finally:
            remote.client.close()
    with session.locked(wait_lock):
        remote, directory, reused = remote_directory(session, part, mirrors)
        try:
            result = fetch_selection(
                remote,
                cache,
                target,
                options,
                progress=session.task_progress(),
                note=session.info,
                known=(directory, reused),
            )
        finally:
            remote.client.close()
        record_selection(session, part, target, selection, result)
    if result.selected == 0:
        raise UsageError(
            f"--include, --exclude or --class matched no member of {part.name}",
            hint="globs match the whole member path, e.g. '*/polyps/*'; `hyperkvasir ls "
            f"{part.name} --remote` lists them",
        )
    return result


def record_selection(
    session: Session, part: Part, target: Path, selection: Selection, result: SelectionResult
) -> None:
    """Record where the selection went, which one it was, and the version it came from;
    a selection into another folder than the data folder's tree is a copy, recorded beside
    the tree (see :func:`~hyperkvasir_cli.ops.extract.record_extraction`)."""
    if result.marker is None:
        return
    from hyperkvasir_cli.ops.extract import record_extraction

    # Into another folder than the data folder's tree: a copy, recorded beside the tree.
    record_extraction(
        session,
        part,
        target,
        {
            "extracted_at": datetime.now(timezone.utc),
            "extracted_selection": selection.as_json(),
            "fetched_from": result.url,
            "fetched_version": result.version,
        },
    )


def selection_summary(result: SelectionResult) -> str:
    """One line for stderr: what was fetched, or what a dry run would fetch."""
    share = f"{100 * result.share:.1f}% of the archive"
    if result.dry_run:
        return (
            f"{result.part}: would fetch {result.to_fetch:,} of {result.selected:,} selected "
            f"members ({format_bytes(result.fetch_bytes)} in "
            f"{plural(result.requests_planned, 'request')}, {share}) from {result.url}"
        )
    if result.fetched == 0:
        return (
            f"{result.part}: nothing to do; all {result.selected:,} selected members are in "
            f"{result.target} ({plural(result.requests, 'request')})"
        )
    return (
        f"{result.part}: fetched {plural(result.fetched, 'member')} "
        f"({format_bytes(result.bytes_written)}) into {result.target} in "
        f"{format_duration(result.seconds)}; "
        f"{result.selected - result.fetched:,} already there; "
        f"{plural(result.requests, 'request')}, {format_bytes(result.body_bytes)} received "
        f"({share})"
    )


def selection_warning(part: Part, source: DataSource) -> str | None:
    """When ``source`` is an extracted tree that holds only a selection (its marker says
    so): a line saying that what is read covers that selection only."""
    if source.kind != "tree":
        return None
    from hyperkvasir_cli.archive.marker import marker_path, read_marker

    marker = read_marker(marker_path(source.location, part.root, part.name))
    if marker is None or not any(marker.selection.values()):
        return None
    chosen = "; ".join(f"{key}: {', '.join(v)}" for key, v in marker.selection.items() if v)
    return (
        f"{part.name}: the tree in {source.location} holds only a selection ({chosen}); "
        "what follows covers those files only"
    )
