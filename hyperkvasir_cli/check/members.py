"""Deep check of a zip: every member judged as extraction judges it, then read to its end,
its size and CRC-32 compared with what the central directory records.

A member extraction refuses (:func:`zipsafety.find_refusals`: an unsafe path or type, a
repeated path, encryption, an unreadable method, data past the end) is *failed* with the
very reason extraction gives, and is not read. A member whose data decodes but does not
match is *changed*; one that cannot be decoded (a broken local header, corrupt deflate
data) is *unreadable*, as is a zip without a valid central directory. Every one of these
makes the archive corrupt or unsafe: exit 6 (:attr:`integrity.CheckItem.is_corrupt`).
Every member is checked, so one run names every bad member, not just the first.
"""

from __future__ import annotations

import threading
import zipfile
import zlib
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from hyperkvasir_cli.archive.index import read_members
from hyperkvasir_cli.archive.safety import Placement, Refusal, find_refusals, method_name
from hyperkvasir_cli.check.integrity import (
    CheckItem,
    Facts,
    ItemResult,
)
from hyperkvasir_cli.core.errors import ArchiveError, HyperkvasirError
from hyperkvasir_cli.core.progress import ProgressReporter, SilentProgress
from hyperkvasir_cli.core.worker_threads import READ_BUFFER_SIZE, SharedProgress, run_in_threads

# Errors zipfile and zlib raise on damaged data (ValueError: impossible offsets or sizes).
_DAMAGE = (zipfile.BadZipFile, zlib.error, EOFError, ValueError, OSError)


def open_zip(path: Path) -> zipfile.ZipFile:
    """Open a zip and parse its central directory.

    Raises ArchiveError (exit 6) saying what is wrong when the file cannot be read or has
    no valid central directory (a truncated download, or not a zip at all).
    """
    try:
        return zipfile.ZipFile(path)
    except zipfile.BadZipFile as exc:
        raise ArchiveError(
            f"{path.name}: no valid zip central directory ({exc}); "
            f"the file is truncated or is not a zip archive",
            hint="fetch it again with `hyperkvasir download PART --force`",
        ) from exc
    except (OSError, EOFError, ValueError) as exc:
        raise ArchiveError(f"{path.name}: cannot read the zip: {exc}") from exc


def file_members(archive: zipfile.ZipFile) -> list[zipfile.ZipInfo]:
    """The central directory's file entries (directories have no data to check)."""
    return [info for info in archive.infolist() if not info.is_dir()]


def central_directory_facts(info: zipfile.ZipInfo) -> Facts:
    return {"size": info.file_size, "crc32": f"{info.CRC:08x}"}


@dataclass(frozen=True)
class MemberOutcome:
    result: ItemResult
    reason: str
    found: Facts


def read_member(
    archive: zipfile.ZipFile, info: zipfile.ZipInfo, progress: ProgressReporter
) -> MemberOutcome:
    """Decompress one member to its end in fixed-size chunks (memory stays flat)."""
    try:
        handle = archive.open(info)
    except NotImplementedError:
        _advance_rest(progress, info, 0)
        method = method_name(info.compress_type)
        return MemberOutcome("unreadable", f"compression method {method} is not supported", {})
    except RuntimeError as exc:  # zipfile's way of saying "encrypted"
        _advance_rest(progress, info, 0)
        return MemberOutcome("unreadable", f"cannot be read: {exc}", {})
    except _DAMAGE as exc:
        _advance_rest(progress, info, 0)
        return MemberOutcome("unreadable", f"damaged local header: {exc}", {})
    size = 0
    try:
        with handle:
            while chunk := handle.read(READ_BUFFER_SIZE):
                size += len(chunk)
                progress.advance(len(chunk))
    except zipfile.BadZipFile:
        # Once a member is open, zipfile raises BadZipFile only when the CRC-32 of the
        # data it decoded differs from the one recorded for the member.
        _advance_rest(progress, info, size)
        return MemberOutcome(
            "changed",
            f"changed: the CRC-32 of its data differs from the central directory's {info.CRC:08x}",
            {"size": size},
        )
    except _DAMAGE as exc:
        _advance_rest(progress, info, size)
        return MemberOutcome(
            "unreadable", f"the data cannot be decompressed: {exc}", {"size": size}
        )
    if size != info.file_size:
        _advance_rest(progress, info, size)
        return MemberOutcome(
            "changed", f"changed: size expected {info.file_size} B, found {size} B", {"size": size}
        )
    return MemberOutcome("ok", "size and CRC-32 match the central directory", {"size": size})


def _advance_rest(progress: ProgressReporter, info: zipfile.ZipInfo, done: int) -> None:
    """A member that stopped short still counts as done in full: the task ends at 100%."""
    if info.file_size > done:
        progress.advance(info.file_size - done)


def verify_members(
    part: str,
    path: Path,
    display: str,
    jobs: int = 1,
    progress: ProgressReporter | None = None,
    root: str | None = None,
) -> list[CheckItem]:
    """Check every member of the zip at ``path``; one item per member, in directory order.

    ``root`` is the part's folder: a member outside it is refused, as extraction does.

    Members extraction refuses give a ``failed`` item each and are not read. A zip without
    a valid central directory gives one ``unreadable`` archive item instead. Members are
    spread over ``jobs`` threads (inflate and CRC-32 release the GIL).
    """
    try:
        with open_zip(path) as archive:
            infos = archive.infolist()
        index = read_members(path)
    except HyperkvasirError as exc:
        return [CheckItem(part, "archive", display, "unreadable", exc.message)]
    if len(index.members) != len(infos):  # both read the one central directory, in order
        why = f"{path.name}: the central directory cannot be read consistently"
        return [CheckItem(part, "archive", display, "unreadable", why)]
    placement = Placement(root=root) if root else None
    refused = refusals_by_name(find_refusals(index.members, index.size, placement))
    # zipfile cuts names at a NUL byte; the directory's own name is the one to show.
    entries = [(member.name, info) for member, info in zip(index.members, infos, strict=True)]
    readable = [info for name, info in entries if name not in refused and not info.is_dir()]
    reporter = SharedProgress(progress or SilentProgress())
    reporter.start(f"reading {len(readable)} members of {path.name}", _total(readable))
    try:
        with zip_per_thread(path) as archive_of_thread:
            outcomes = run_in_threads(
                lambda info: read_member(archive_of_thread(), info, reporter), readable, jobs
            )
    finally:
        reporter.finish()
    read = iter(outcomes)
    items = []
    for name, info in entries:
        if name in refused:
            items.append(refused_item(part, name, info, refused[name]))
        elif not info.is_dir():
            outcome = next(read)
            items.append(
                CheckItem(
                    part=part,
                    kind="member",
                    path=info.filename,
                    result=outcome.result,
                    reason=outcome.reason,
                    expected=central_directory_facts(info),
                    found=outcome.found,
                    source="central-directory",
                )
            )
    return items


def refusals_by_name(refusals: Sequence[Refusal]) -> dict[str, list[Refusal]]:
    """Refusals grouped by member name. Members that share a name share their refusals:
    each of them repeats the other's path."""
    grouped: dict[str, list[Refusal]] = {}
    for refusal in refusals:
        grouped.setdefault(refusal.member, []).append(refusal)
    return grouped


def refused_item(
    part: str, name: str, info: zipfile.ZipInfo, refusals: Sequence[Refusal]
) -> CheckItem:
    """A member extraction refuses, with extraction's own reasons (`unsafe: the member is a
    symbolic link (extract refuses the archive)`)."""
    reasons = "; ".join(f"{r.kind}: the member {r.reason}" for r in refusals)
    return CheckItem(
        part=part,
        kind="member",
        path=printable(name),
        result="failed",
        reason=f"{reasons} (extract refuses the archive)",
        expected=central_directory_facts(info),
        source="central-directory",
    )


def printable(name: str) -> str:
    """A member name safe to print on one line: control characters (a NUL, a newline) as
    Python escapes (``\\x00``); other names unchanged."""
    if all(char.isprintable() for char in name):
        return name
    return "".join(
        char if char.isprintable() else char.encode("unicode_escape").decode("ascii")
        for char in name
    )


@contextmanager
def zip_per_thread(path: Path) -> Iterator[Callable[[], zipfile.ZipFile]]:
    """A function giving each thread its own open zip, all closed at the end.

    A ZipFile must not be shared between threads: it counts its open members without a
    lock, so a race could close the file under another reader.
    """
    local = threading.local()
    opened: list[zipfile.ZipFile] = []
    guard = threading.Lock()

    def archive_of_thread() -> zipfile.ZipFile:
        archive: zipfile.ZipFile | None = getattr(local, "archive", None)
        if archive is None:
            archive = local.archive = open_zip(path)
            with guard:
                opened.append(archive)
        return archive

    try:
        yield archive_of_thread
    finally:
        for archive in opened:
            archive.close()


def _total(members: Sequence[zipfile.ZipInfo]) -> int:
    return sum(info.file_size for info in members)
