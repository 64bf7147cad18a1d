"""The files of one part, from an extracted tree or straight from its zip.

Both sources give the same records: the path relative to the extraction target (which is
the zip member path, e.g. ``labeled-images/lower-gi-tract/.../<uuid>.jpg``) and the size in
bytes, sorted by path. A tree is listed with ``os.scandir``; an archive by its central
directory alone. Either can open a file's bytes as a stream, and :func:`read_files` spreads
such reads over worker processes.
"""

from __future__ import annotations

import gc
import os
import zipfile
import zlib
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Literal, TypeVar

from hyperkvasir_cli.archive.selection import is_platform_junk
from hyperkvasir_cli.core.errors import ArchiveError, UsageError
from hyperkvasir_cli.core.layout import Layout
from hyperkvasir_cli.core.manifest import Part
from hyperkvasir_cli.core.progress import ProgressReporter, SilentProgress
from hyperkvasir_cli.core.records import PartRecord

if TYPE_CHECKING:
    from hyperkvasir_cli.archive.index import ZipMember

READ_CHUNK = 256  # files per task handed to a worker process

SourceKind = Literal["tree", "archive", "remote"]
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class FileRecord:
    path: str  # relative to the extraction target, `/`-separated
    size: int


@dataclass(frozen=True)
class DataSource:
    """One part's files: ``tree`` = an extraction target holding ``<root>/...``; ``archive``
    = the part's zip. Instances are plain values, so worker processes can receive them."""

    kind: SourceKind
    location: Path
    root: str
    # ``remote``: the server's copy, as (Remote, RemoteDirectory) of hyperkvasir_cli.remote;
    # ``location`` is then the kept directory. Such a source is read in this process only.
    remote: Any = field(default=None, compare=False, repr=False)

    @property
    def display_path(self) -> Path | str:
        if self.kind == "remote":
            return str(self.remote[0].url)
        return self.location / self.root if self.kind == "tree" else self.location

    def list_files(self) -> list[FileRecord]:
        """Every file of the part, sorted by path; platform junk and hidden files (such as
        the extract marker) are left out. ArchiveError (exit 6) when the zip cannot be read."""
        if self.kind == "remote":
            records = _list_members(self, self.remote[1].members)
        else:
            records = _list_tree(self) if self.kind == "tree" else _list_archive(self)
        return sorted(records, key=lambda r: r.path)

    def reader(self) -> AbstractContextManager[FileReader]:
        """A reader that opens files by record path; the zip stays open while it is held."""
        if self.kind == "remote":
            return _remote_reader(self)
        return _tree_reader(self) if self.kind == "tree" else _archive_reader(self)


class FileReader:
    """Opens the files of one source; use as returned by :meth:`DataSource.reader`."""

    def __init__(self, opener: Callable[[str], IO[bytes]]) -> None:
        self._opener = opener

    def open(self, path: str) -> IO[bytes]:
        return self._opener(path)


def _wanted(path: str) -> bool:
    # The dataset has no hidden files; `extract` keeps its completion marker and its
    # temporary files hidden, so neither is ever counted.
    return not is_platform_junk(path) and not path.rsplit("/", 1)[-1].startswith(".")


def _list_tree(source: DataSource) -> list[FileRecord]:
    records: list[FileRecord] = []
    pending = [(source.location / source.root, source.root)]
    while pending:
        folder, relative = pending.pop()
        with os.scandir(folder) as entries:
            for entry in entries:
                path = f"{relative}/{entry.name}"
                if entry.is_dir(follow_symlinks=False):
                    pending.append((Path(entry.path), path))
                elif entry.is_file() and _wanted(path):
                    records.append(FileRecord(path, entry.stat().st_size))
    return records


def _open_zip(path: Path) -> zipfile.ZipFile:
    try:
        return zipfile.ZipFile(path)
    except (zipfile.BadZipFile, zlib.error, EOFError) as exc:
        raise ArchiveError(
            f"{path} is not a readable zip: {exc}",
            hint="run `hyperkvasir checksum` on it; download it again if it is damaged",
        ) from exc


def _list_archive(source: DataSource) -> list[FileRecord]:
    prefix = f"{source.root}/"
    with _open_zip(source.location) as archive:
        return [
            FileRecord(info.filename, info.file_size)
            for info in archive.infolist()
            if info.filename.startswith(prefix) and not info.is_dir() and _wanted(info.filename)
        ]


def _list_members(source: DataSource, members: Sequence[ZipMember]) -> list[FileRecord]:
    prefix = f"{source.root}/"
    return [
        FileRecord(m.name, m.file_size)
        for m in members
        if m.name.startswith(prefix) and not m.is_dir and _wanted(m.name)
    ]


@contextmanager
def _remote_reader(source: DataSource) -> Iterator[FileReader]:
    from hyperkvasir_cli.remote.reader import MemberOpener

    remote, directory = source.remote
    yield FileReader(MemberOpener(remote, directory).open)


@contextmanager
def _tree_reader(source: DataSource) -> Iterator[FileReader]:
    base = source.location
    yield FileReader(lambda path: open(base / path, "rb"))  # noqa: SIM115 (the caller closes it)


@contextmanager
def _archive_reader(source: DataSource) -> Iterator[FileReader]:
    with _open_zip(source.location) as archive:
        yield FileReader(lambda path: archive.open(path))


# Errors that make one file unreadable without making the run fail. zipfile raises
# RuntimeError for an encrypted member and NotImplementedError for an unknown method.
UNREADABLE = (
    OSError,
    KeyError,
    EOFError,
    zipfile.BadZipFile,
    zlib.error,
    ValueError,
    RuntimeError,
    NotImplementedError,
)


def _read_with(reader: FileReader, path: str, read: Callable[[IO[bytes]], T]) -> T | None:
    try:
        with reader.open(path) as stream:
            return read(stream)
    except UNREADABLE:
        return None


# Each worker process opens the source once (a zip's central directory can take a second
# to parse) and keeps it open for every task it runs, until the process exits.
_worker_source: AbstractContextManager[FileReader] | None = None
_worker_reader: FileReader | None = None


def _start_worker(source: DataSource) -> None:
    global _worker_source, _worker_reader
    # Keep the context manager itself: once it is garbage, the zip it holds is closed.
    _worker_source = source.reader()
    _worker_reader = _worker_source.__enter__()


def _read_chunk(paths: Sequence[str], read: Callable[[IO[bytes]], T]) -> list[T | None]:
    assert _worker_reader is not None, "worker started without its source"
    return [_read_with(_worker_reader, path, read) for path in paths]


def chunk_size(files: int, jobs: int) -> int:
    """Files per task: about four tasks per worker, so that workers finish together, but
    at most :data:`READ_CHUNK` so that progress keeps moving."""
    return max(1, min(READ_CHUNK, -(-files // (jobs * 4))))


def read_files(
    source: DataSource,
    paths: Sequence[str],
    read: Callable[[IO[bytes]], T],
    *,
    jobs: int = 1,
    progress: ProgressReporter | None = None,
    label: str = "reading",
) -> list[T | None]:
    """``read(stream)`` for each path, in order; None where the file could not be read.

    ``read`` must be a module-level function (it is sent to worker processes) and should
    read only what it needs. With ``jobs`` > 1 the paths are spread over that many
    processes; the results are the same either way.
    """
    progress = progress or SilentProgress()
    progress.start(label, len(paths))
    try:
        if jobs <= 1 or len(paths) <= 1:
            with source.reader() as reader:
                results = []
                for path in paths:
                    results.append(_read_with(reader, path, read))
                    progress.advance(1)
                return results
        size = chunk_size(len(paths), jobs)
        chunks = [paths[i : i + size] for i in range(0, len(paths), size)]
        done: list[list[T | None]] = [[] for _ in chunks]
        # This process reads every jobs-th chunk itself while jobs - 1 workers read the
        # rest: the same parallelism with one process fewer to hold in memory. Forked
        # workers share this process's memory until they write to it; the garbage
        # collector walking every inherited object would copy it all into each worker.
        gc.freeze()
        try:
            with (
                ProcessPoolExecutor(
                    jobs - 1, initializer=_start_worker, initargs=(source,)
                ) as pool,
                source.reader() as reader,
            ):
                futures = {
                    index: pool.submit(_read_chunk, chunk, read)
                    for index, chunk in enumerate(chunks)
                    if index % jobs
                }
                for index in range(0, len(chunks), jobs):
                    done[index] = [_read_with(reader, path, read) for path in chunks[index]]
                    progress.advance(len(chunks[index]))
                for index, future in futures.items():
                    done[index] = future.result()
                    progress.advance(len(chunks[index]))
        finally:
            gc.unfreeze()
        results = [result for chunk_results in done for result in chunk_results]
        return results
    finally:
        progress.finish()


def tree_candidates(layout: Layout, record: PartRecord | None) -> list[Path]:
    """Extraction targets to look in: the one recorded by `extract`, then the default."""
    targets = [Path(record.extracted_to)] if record and record.extracted_to else []
    if layout.extract_dir not in targets:
        targets.append(layout.extract_dir)
    return targets


def choose_source_kind(
    tree_exists: bool, archive_exists: bool, from_archive: bool
) -> SourceKind | None:
    """The tree unless the archive is asked for or is all there is; None when neither is."""
    if from_archive:
        return "archive" if archive_exists else None
    if tree_exists:
        return "tree"
    return "archive" if archive_exists else None


def locate_source(
    part: Part, layout: Layout, record: PartRecord | None, *, from_archive: bool = False
) -> DataSource:
    """Where to read ``part`` from. UsageError (exit 2) with a hint when it is not here."""
    root = part.root or part.name
    tree = next((t for t in tree_candidates(layout, record) if (t / root).is_dir()), None)
    archive = layout.archive_path(part)
    kind = choose_source_kind(tree is not None, archive.is_file(), from_archive)
    if kind == "tree" and tree is not None:
        return DataSource("tree", tree, root)
    if kind == "archive":
        return DataSource("archive", archive, root)
    if from_archive:
        raise UsageError(
            f"{part.name}: --from-archive needs {archive}, which is missing",
            hint=f"run `hyperkvasir download {part.name}`, or drop --from-archive",
        )
    looked = ", ".join(str(t / root) for t in tree_candidates(layout, record))
    raise UsageError(
        f"{part.name} is neither extracted ({looked} missing) nor downloaded ({archive} missing)",
        hint=f"run `hyperkvasir download {part.name} --extract`, or point --data-dir at "
        "the folder that holds it",
    )
