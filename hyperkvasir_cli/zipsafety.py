"""Whether every member of a zip may be extracted, decided from the central directory alone.

Everything here is a pure function of member metadata, so a whole archive is judged
before a single byte is written. A member is refused when:

- its path could leave the target: a NUL byte, an empty name, an absolute path (``/x``,
  ``\\\\server\\share``), a drive letter (``C:``) or a ``..`` component. Backslashes count
  as separators (Windows archivers write them), ``.`` and empty components are dropped;
- it is not a regular file or a folder: a symbolic link, a device, a FIFO or a socket
  (the Unix type in the high bits of ``external_attr``);
- it is encrypted, or compressed with a method other than stored, deflate, bzip2, lzma;
- its data cannot be where the directory says: past the end of the archive, or
  overlapping another member's data (the trick of non-recursive zip bombs);
- its path repeats another member's, or a file and a folder share a path. Extracting
  either would make the result depend on member order, so the archive is refused instead;
- its name is one hyperkvasir keeps for itself (temporary files, completion markers).

Sizes beyond what the directory declares are stopped while streaming (:mod:`zipstream`).
"""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, NamedTuple

from hyperkvasir_cli.errors import ArchiveError
from hyperkvasir_cli.zipindex import ZipMember

STORED, DEFLATED, BZIP2, LZMA = 0, 8, 12, 14
READABLE_METHODS: dict[int, str] = {
    STORED: "stored",
    DEFLATED: "deflate",
    BZIP2: "bzip2",
    LZMA: "lzma",
}
KNOWN_METHODS: dict[int, str] = {
    **READABLE_METHODS,
    1: "shrink",
    2: "reduce-1",
    3: "reduce-2",
    4: "reduce-3",
    5: "reduce-4",
    6: "implode",
    9: "deflate64",
    10: "PKWARE DCL implode",
    18: "IBM TERSE",
    19: "IBM LZ77",
    20: "zstd (old id)",
    93: "zstd",
    94: "mp3",
    95: "xz",
    96: "jpeg",
    97: "wavpack",
    98: "ppmd",
    99: "WinZip AES",
}
TEMP_SUFFIX = ".hkx-tmp"
MARKER_PREFIX = ".hyperkvasir-extract"
LOCAL_HEADER_SIZE = 30

_ENCRYPTED_FLAG = 0x01
_DRIVE = re.compile(r"^[A-Za-z]:")
_TYPE_NAMES = {
    stat.S_IFLNK: "a symbolic link",
    stat.S_IFCHR: "a character device",
    stat.S_IFBLK: "a block device",
    stat.S_IFIFO: "a FIFO",
    stat.S_IFSOCK: "a socket",
}

Kind = Literal["unsafe", "encrypted", "unsupported", "corrupt"]


@dataclass(frozen=True)
class Refusal:
    member: str
    reason: str
    kind: Kind


class SafeMember(NamedTuple):
    """A member judged safe: its path relative to the target (``/`` separators), and the
    folder it needs (its parent for a file, itself for a folder; "" is the target)."""

    member: ZipMember
    path: str
    folder: str

    @property
    def is_dir(self) -> bool:
        return self.member.is_dir

    @classmethod
    def of(cls, member: ZipMember, path: str) -> SafeMember:
        return cls(member, path, path if member.is_dir else path.rpartition("/")[0])


def method_name(method: int) -> str:
    return f"{KNOWN_METHODS.get(method, 'unknown')} ({method})"


def path_problem(name: str) -> str | None:
    """Why ``name`` cannot be a path under the target, or None when it can."""
    if "\x00" in name:
        return "has a NUL byte in its name"
    unified = name.replace("\\", "/")
    if unified.startswith("/"):
        return "has an absolute path"
    if _DRIVE.match(unified):
        return "starts with a drive letter"
    parts = unified.split("/")
    if ".." in parts:
        return "has '..' in its path, which leads out of the target folder"
    if not [p for p in parts if p not in ("", ".")]:
        return "has an empty name"
    return None


def relative_path(name: str) -> str:
    """The normalised relative path of a name that passed :func:`path_problem`."""
    parts = name.replace("\\", "/").split("/")
    path = "/".join(p for p in parts if p not in ("", "."))
    # Most names are already normal: keep the one string (this is per member, 100,000s).
    return name if path == name else path


def type_problem(member: ZipMember) -> str | None:
    """Why the member's Unix file type cannot be extracted, or None for files and folders."""
    file_type = stat.S_IFMT(member.unix_mode)
    if file_type in (0, stat.S_IFREG, stat.S_IFDIR):
        return None
    return f"is {_TYPE_NAMES.get(file_type, f'of unknown file type {file_type:o}')}"


def content_problem(member: ZipMember) -> Refusal | None:
    """Encryption, compression method and size consistency of a file member."""
    if member.flag_bits & _ENCRYPTED_FLAG or member.compress_type == 99:
        return Refusal(member.name, "is encrypted", "encrypted")
    if member.compress_type not in READABLE_METHODS:
        readable = ", ".join(READABLE_METHODS.values())
        return Refusal(
            member.name,
            f"uses compression method {method_name(member.compress_type)}, which hyperkvasir "
            f"cannot read (it reads {readable})",
            "unsupported",
        )
    if member.compress_type == STORED and member.compress_size != member.file_size:
        return Refusal(
            member.name,
            f"is stored uncompressed but declares {member.compress_size} B of data for "
            f"{member.file_size} B",
            "corrupt",
        )
    return None


# A name made only of ordinary components (no NUL, backslash or colon; none empty, "." or
# "..") and at most one trailing "/": it passes path_problem and is its own relative path
# (less that "/"). Nearly every member's name is such; the general functions handle the
# rest. A property test holds the two ways to the same answers.
_COMPONENT = r"(?!\.\.?(?:/|\Z))[^/\\\x00:]+"
_ORDINARY_PATH = re.compile(rf"(?:{_COMPONENT}/)*{_COMPONENT}/?")


def ordinary_path(name: str) -> str | None:
    """The relative path of an ordinary name (see above); None for any other name."""
    if _ORDINARY_PATH.fullmatch(name) is None:
        return None
    return name[:-1] if name.endswith("/") else name


def judge(member: ZipMember) -> SafeMember | Refusal:
    """The member with its normalised path, or the first reason to refuse it on its own."""
    path = ordinary_path(member.name)
    problem = path_problem(member.name) if path is None else None
    problem = problem or type_problem(member)
    if problem:
        return Refusal(member.name, problem, "unsafe")
    safe = SafeMember.of(member, relative_path(member.name) if path is None else path)
    if member.is_dir:
        return safe
    base = safe.path.rpartition("/")[2]
    if base.endswith(TEMP_SUFFIX) or base.startswith(MARKER_PREFIX):
        return Refusal(member.name, "uses a name reserved for hyperkvasir's own files", "unsafe")
    return content_problem(member) or safe


def layout_refusals(members: Sequence[ZipMember], archive_size: int) -> list[Refusal]:
    """Members whose data lies past the end of the archive or over another member's."""
    refusals = []
    files = sorted((m for m in members if not m.is_dir), key=lambda m: m.header_offset)
    for index, member in enumerate(files):
        end = member.header_offset + LOCAL_HEADER_SIZE + member.compress_size
        if end > archive_size:
            refusals.append(
                Refusal(
                    member.name,
                    f"has data up to byte {end}, past the end of the archive ({archive_size} B)",
                    "corrupt",
                )
            )
        elif index + 1 < len(files) and end > files[index + 1].header_offset:
            refusals.append(
                Refusal(
                    member.name,
                    f"overlaps the data of member {files[index + 1].name!r}",
                    "corrupt",
                )
            )
    return refusals


def collision_refusals(members: Sequence[SafeMember]) -> list[Refusal]:
    """Repeated file paths, and paths that are a file in one member and a folder in another."""
    files: set[str] = set()
    folders: set[str] = set()
    refusals = []
    for safe in members:
        if not safe.is_dir:
            if safe.path in files:
                refusals.append(
                    Refusal(safe.member.name, "repeats another member's path", "unsafe")
                )
            files.add(safe.path)
        folder = safe.folder
        while folder and folder not in folders:
            folders.add(folder)
            folder = folder.rpartition("/")[0]
    for safe in members:
        if not safe.is_dir and safe.path in folders:
            refusals.append(
                Refusal(safe.member.name, "is a file where other members need a folder", "unsafe")
            )
    return refusals


def judge_archive(
    members: Sequence[ZipMember], archive_size: int
) -> tuple[list[SafeMember], list[Refusal]]:
    """Every member judged; the refusals come in central directory order of the members."""
    verdicts = [judge(m) for m in members]
    refusals = [v for v in verdicts if isinstance(v, Refusal)]
    if refusals:
        return [], refusals
    safe = [v for v in verdicts if isinstance(v, SafeMember)]
    return safe, layout_refusals(members, archive_size) + collision_refusals(safe)


def find_refusals(members: Sequence[ZipMember], archive_size: int) -> list[Refusal]:
    """Every reason to refuse the archive (none: it may be extracted)."""
    return judge_archive(members, archive_size)[1]


_HINTS: dict[Kind, str] = {
    "unsafe": "the archive is damaged or was tampered with; get it again from a trusted "
    "source and check it with `hyperkvasir checksum`",
    "encrypted": "hyperkvasir does not extract encrypted archives; decrypt it with the tool "
    "that made it",
    "unsupported": "unpack it with a tool that reads that method (7-Zip, bsdtar)",
    "corrupt": "the archive is damaged or truncated; check it with `hyperkvasir checksum` and "
    "download it again",
}


def refusal_error(archive_name: str, refusals: Sequence[Refusal]) -> ArchiveError:
    first = refusals[0]
    more = f" ({len(refusals) - 1} more members refused)" if len(refusals) > 1 else ""
    verb = "is unsafe to extract" if first.kind == "unsafe" else "cannot be extracted"
    return ArchiveError(
        f"{archive_name} {verb}: member {first.member!r} {first.reason}{more}; nothing was written",
        hint=_HINTS[first.kind],
    )


def safe_members(
    members: Sequence[ZipMember], *, archive_name: str, archive_size: int
) -> list[SafeMember]:
    """Every member with its relative path, when the whole archive may be extracted.

    Raises :class:`ArchiveError` (exit 6) naming the first refused member, its reason and
    how many more were refused.
    """
    safe, refusals = judge_archive(members, archive_size)
    if refusals:
        raise refusal_error(archive_name, refusals)
    return safe


def is_inside(folder: str, path: str) -> bool:
    """True when ``path`` is ``folder`` or below it (both absolute and already resolved)."""
    return os.path.commonpath([folder, path]) == os.path.normpath(folder)
