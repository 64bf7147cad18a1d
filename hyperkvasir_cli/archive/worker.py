"""Writing members to their final names, whole or not at all.

Each member is written to ``.<name>.<random>.hkx-tmp`` in its own folder (a long name cut
short, so that the temporary name fits wherever the final one does), checked (size
and CRC-32, by :func:`zipstream.member_chunks`), given the zip's modification time, and
only then renamed. Whatever happens (an error, a stop request, Ctrl-C), the temporary file
is removed and no file under a final name is ever partial. A killed process can leave a
temporary file behind; the next run removes it.
"""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
import zlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from hyperkvasir_cli.archive.index import ZipMember
from hyperkvasir_cli.archive.plan import MemberTask
from hyperkvasir_cli.archive.safety import TEMP_TAG_LENGTH, temp_name_for
from hyperkvasir_cli.archive.stream import CHUNK_SIZE, member_chunks
from hyperkvasir_cli.core.errors import DiskSpaceError, HyperkvasirError, UsageError

_CREATE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)
_READ_FLAGS = os.O_RDONLY | getattr(os, "O_BINARY", 0)


class StopRequested(Exception):
    """The run is being stopped; the member being written was discarded."""


@dataclass
class BatchOutcome:
    extracted: int = 0
    verified: int = 0  # present with the right size and CRC-32, left as it was
    bytes_written: int = 0
    stopped: bool = False


def temp_name(final_name: str) -> str:
    return temp_name_for(final_name, secrets.token_hex(TEMP_TAG_LENGTH // 2))


def file_in_the_way(path: str) -> str | None:
    """``path`` or the nearest of its parents that exists but is not a folder."""
    current = os.path.abspath(path)
    while True:
        if os.path.lexists(current) and not os.path.isdir(current):
            return current
        parent = os.path.dirname(current)
        if parent == current:
            return None
        current = parent


def write_error(exc: OSError, path: str) -> HyperkvasirError:
    """A clear error for a write that failed: full disk (exit 7); a file where a folder is
    needed, a folder where the file goes, a name too long; or anything else."""
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return DiskSpaceError(
            f"the disk filled up while writing {path}; the file was not kept",
            hint="free some space and run the command again; it continues where it stopped",
        )
    if exc.errno in (errno.EEXIST, errno.ENOTDIR):
        blocker = file_in_the_way(path)
        what = f"{blocker} is a file" if blocker else f"a file ({exc.strerror or exc})"
        return UsageError(
            f"cannot write {path}: {what} where a folder is needed",
            hint=f"move or delete {blocker or 'that file'} (it is not from this archive), or "
            "extract with --to into another folder",
        )
    if exc.errno in (errno.EISDIR, errno.ENOTEMPTY) and os.path.isdir(path):
        return UsageError(
            f"cannot write {path}: a folder is where the file goes",
            hint=f"move or delete the folder {path} (it is not from this archive), or "
            "extract with --to into another folder",
        )
    if exc.errno == errno.ENAMETOOLONG:
        return UsageError(
            f"cannot write {path}: the name or path is too long for the file system "
            f"({exc.strerror or exc})",
            hint="extract with --to into a folder with a shorter path, or leave the member "
            "out with --exclude",
        )
    return UsageError(
        f"cannot write {path}: {exc.strerror or exc}",
        hint="check that the target folder is writable (or choose another with --to)",
    )


def file_matches(path: str, member: ZipMember) -> bool:
    """True when the file at ``path`` has the member's size and CRC-32."""
    try:
        fd = os.open(path, _READ_FLAGS)
    except OSError:
        return False
    try:
        if os.fstat(fd).st_size != member.file_size:
            return False
        crc = 0
        while chunk := os.read(fd, CHUNK_SIZE):
            crc = zlib.crc32(chunk, crc)
        return crc == member.crc
    finally:
        os.close(fd)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def write_member(
    archive_fd: int,
    archive_name: str,
    task: MemberTask,
    destination: str,
    should_stop: Callable[[], bool],
) -> int:
    """Extract one member to ``destination`` through a temporary file; the bytes written.

    On any failure the temporary file is removed and ``destination`` is untouched.
    """
    chunks = member_chunks(archive_fd, task.member, archive_name)
    return write_checked(chunks, task.member, destination, should_stop)


def write_checked(
    chunks: Iterable[bytes],
    member: ZipMember,
    destination: str,
    should_stop: Callable[[], bool] = lambda: False,
) -> int:
    """Write ``chunks`` (the member's bytes, checked by the time the last one is taken, as
    :func:`stream.checked_chunks` does) to ``destination`` through a temporary name in its
    folder, give it the member's modification time and only then rename it; the bytes
    written. On any failure or a stop request the temporary file is removed and
    ``destination`` is untouched."""
    folder, name = os.path.split(destination)
    temp = os.path.join(folder, temp_name(name))
    try:
        fd = os.open(temp, _CREATE_FLAGS, 0o666)
    except OSError as exc:
        raise write_error(exc, destination) from exc
    try:
        try:
            for piece in chunks:
                _write_all(fd, piece)
                if should_stop():
                    raise StopRequested
            if member.mtime is not None and os.utime in os.supports_fd:
                os.utime(fd, (member.mtime, member.mtime))
        finally:
            os.close(fd)
        os.replace(temp, destination)
    except OSError as exc:
        _discard(temp)
        raise write_error(exc, destination) from exc
    except BaseException:
        _discard(temp)
        raise
    return member.file_size


def _discard(temp: str) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(temp)


def extract_batch(
    archive: Path,
    target: Path,
    tasks: Sequence[MemberTask],
    should_stop: Callable[[], bool] = lambda: False,
) -> BatchOutcome:
    """Extract ``tasks`` from ``archive`` into ``target`` (folders must exist already).

    Members finished before an error or a stop request stay in place, complete. Raises
    :class:`HyperkvasirError` for a damaged member or a failed write; a stop request ends
    the batch early with ``stopped`` set.
    """
    outcome = BatchOutcome()
    archive_fd = os.open(archive, _READ_FLAGS)
    try:
        for task in tasks:
            if should_stop():
                outcome.stopped = True
                break
            destination = os.path.join(target, task.path)
            if task.check_first and file_matches(destination, task.member):
                outcome.verified += 1
                continue
            outcome.bytes_written += write_member(
                archive_fd, archive.name, task, destination, should_stop
            )
            outcome.extracted += 1
    except StopRequested:
        outcome.stopped = True
    finally:
        os.close(archive_fd)
    return outcome
