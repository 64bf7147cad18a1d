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
- a component of its path is a name hyperkvasir keeps for itself (temporary files,
  completion markers);
- it lies outside the part's folder (the manifest's ``root``), or where hyperkvasir keeps
  its own files in the target (the archives folder, the lock, the config file): see
  :class:`Placement`. Platform junk (``__MACOSX/``, ``.DS_Store``) is never extracted, so
  it is exempt.

Whether a selected member's name and path fit the file system (``NAME_MAX``,
``PATH_MAX``) is judged up front too (:func:`length_refusals`), from the limits the caller
passes. Sizes beyond what the directory declares are stopped while streaming
(:mod:`zipstream`).
"""

from __future__ import annotations

import functools
import os
import re
import stat
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, NamedTuple

from hyperkvasir_cli.archive.index import ZipMember
from hyperkvasir_cli.archive.selection import is_platform_junk
from hyperkvasir_cli.core.errors import ArchiveError

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
# A temporary name keeps at most this many bytes of the final name, so that it fits
# wherever the final name does (on any file system whose NAME_MAX is at least 82).
TEMP_STEM_BYTES = 64
TEMP_TAG_LENGTH = 8  # hex digits that make a temporary name unique
# The most bytes a temporary name takes: "." stem "." tag suffix.
TEMP_NAME_BYTES = 1 + TEMP_STEM_BYTES + 1 + TEMP_TAG_LENGTH + len(TEMP_SUFFIX)
NAME_MAX = 255  # the usual limits, when the file system does not say
PATH_MAX = 4096

_ENCRYPTED_FLAG = 0x01
_DRIVE = re.compile(r"^[A-Za-z]:")
_TYPE_NAMES = {
    stat.S_IFLNK: "a symbolic link",
    stat.S_IFCHR: "a character device",
    stat.S_IFBLK: "a block device",
    stat.S_IFIFO: "a FIFO",
    stat.S_IFSOCK: "a socket",
}

Kind = Literal[
    "unsafe",
    "outside-root",
    "reserved",
    "encrypted",
    "unsupported",
    "corrupt",
    "name-too-long",
    "path-too-long",
]
_UNSAFE_KINDS: frozenset[Kind] = frozenset({"unsafe", "outside-root", "reserved"})


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


@dataclass(frozen=True)
class Placement:
    """Where the members of one archive may go, relative to the target ("/" separators).

    ``root``: the part's folder (the manifest's ``root``); when set, every member must lie
    under ``<root>/`` or be that folder's own entry. ``folders``: (path, description) of
    folders hyperkvasir keeps in the target (the archives folder); nothing may be written
    in them. ``prefixes``: (path, description) of files hyperkvasir keeps there; nothing
    may be written at a path that begins with one (so ``x.zip`` also covers ``x.zip.part``
    and ``x.zip.part.json``, the lock also its ``.info``). Reserved places are compared
    without regard to case, as case-insensitive file systems would.
    """

    root: str | None = None
    folders: tuple[tuple[str, str], ...] = ()
    prefixes: tuple[tuple[str, str], ...] = ()

    def __post_init__(self) -> None:
        root = (self.root or "").replace("\\", "/").strip("/")
        object.__setattr__(self, "root", root or None)

    @functools.cached_property
    def folded(self) -> tuple[tuple[tuple[str, str, str], ...], tuple[tuple[str, str, str], ...]]:
        """(casefolded, as given, description) of the folders and of the prefixes that a
        member may reach at all: with a root, only those under it, or above it."""
        under = f"{self.root}/".casefold() if self.root else ""

        def reachable(places: tuple[tuple[str, str], ...]) -> tuple[tuple[str, str, str], ...]:
            folded = ((path.casefold(), path, what) for path, what in places)
            return tuple(p for p in folded if p[0].startswith(under) or under.startswith(p[0]))

        return reachable(self.folders), reachable(self.prefixes)


@dataclass(frozen=True)
class PathLimits:
    """The file system's limits, in bytes: one name (``NAME_MAX``), and a whole path with
    its terminating NUL (``PATH_MAX``)."""

    name_max: int = NAME_MAX
    path_max: int = PATH_MAX


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


def has_reserved_name(path: str) -> bool:
    """True when a component of ``path`` is named like hyperkvasir's temporary files or
    completion markers (a folder of that name would block them as surely as a file)."""
    if TEMP_SUFFIX not in path and MARKER_PREFIX not in path:
        return False  # nearly every path: no split needed
    return any(c.endswith(TEMP_SUFFIX) or c.startswith(MARKER_PREFIX) for c in path.split("/"))


def reserved_problem(path: str, is_dir: bool, placement: Placement) -> Refusal | None:
    """Why a member at ``path`` would land on hyperkvasir's own files, or None. A file is
    refused at, below or above (as a folder it would block) a reserved place; a folder at
    or below one. The Refusal's member is left empty for the caller to fill in."""
    folders, prefixes = placement.folded
    if not (folders or prefixes):
        return None
    key = path.casefold()
    for reserved, folder, what in folders:
        if (
            key == reserved
            or key.startswith(reserved + "/")
            or (not is_dir and reserved.startswith(key + "/"))
        ):
            return Refusal("", f"would be written into {what} ({folder}/)", "reserved")
    for reserved, prefix, what in prefixes:
        if key.startswith(reserved) or (not is_dir and reserved.startswith(key + "/")):
            return Refusal("", f"would be written over {what} ({prefix})", "reserved")
    return None


def placement_problem(safe: SafeMember, placement: Placement) -> Refusal | None:
    """Why ``safe`` may not go where its path leads: outside the part's folder, or onto
    hyperkvasir's own files. Platform junk is never extracted, so never refused here."""
    root, path = placement.root, safe.path
    refusal: Refusal | None
    # The root's own folder entry (and, for a root like ``a/b``, its parents') is fine.
    if root and not (
        path.startswith(root + "/") or (safe.is_dir and f"{root}/".startswith(f"{path}/"))
    ):
        refusal = Refusal(
            safe.member.name, f"lies outside the part's folder {root}/", "outside-root"
        )
    else:
        refusal = reserved_problem(path, safe.is_dir, placement)
        if refusal is not None:
            refusal = Refusal(safe.member.name, refusal.reason, refusal.kind)
    # Junk is looked for only among the refused: nearly every member passes above.
    return None if refusal is None or is_platform_junk(path) else refusal


def judge(member: ZipMember, placement: Placement | None = None) -> SafeMember | Refusal:
    """The member with its normalised path, or the first reason to refuse it on its own."""
    path = ordinary_path(member.name)
    problem = path_problem(member.name) if path is None else None
    problem = problem or type_problem(member)
    if problem:
        return Refusal(member.name, problem, "unsafe")
    safe = SafeMember.of(member, relative_path(member.name) if path is None else path)
    if has_reserved_name(safe.path):
        return Refusal(member.name, "uses a name reserved for hyperkvasir's own files", "unsafe")
    refusal = placement_problem(safe, placement) if placement is not None else None
    if refusal is not None or member.is_dir:
        return refusal or safe
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
    members: Sequence[ZipMember], archive_size: int, placement: Placement | None = None
) -> tuple[list[SafeMember], list[Refusal]]:
    """Every member judged; the refusals come in central directory order of the members."""
    verdicts = [judge(m, placement) for m in members]
    refusals = [v for v in verdicts if isinstance(v, Refusal)]
    if refusals:
        return [], refusals
    safe = [v for v in verdicts if isinstance(v, SafeMember)]
    return safe, layout_refusals(members, archive_size) + collision_refusals(safe)


def find_refusals(
    members: Sequence[ZipMember], archive_size: int, placement: Placement | None = None
) -> list[Refusal]:
    """Every reason to refuse the archive (none: it may be extracted)."""
    return judge_archive(members, archive_size, placement)[1]


def temp_name_for(final_name: str, tag: str) -> str:
    """The name a member is written under before it is renamed to ``final_name``:
    ``.<final name, cut to TEMP_STEM_BYTES>.<tag>.hkx-tmp``."""
    stem = final_name[:TEMP_STEM_BYTES]
    while len(os.fsencode(stem)) > TEMP_STEM_BYTES:
        stem = stem[:-1]
    return f".{stem}.{tag}{TEMP_SUFFIX}"


def _longest_path(target_bytes: int, safe: SafeMember) -> int:
    """Bytes of the longest path written for ``safe`` (its own, or its temporary name's),
    without the NUL."""
    longest = target_bytes + 1 + len(os.fsencode(safe.path))
    if not safe.is_dir:
        folder, _, base = safe.path.rpartition("/")
        temp = len(os.fsencode(temp_name_for(base, "0" * TEMP_TAG_LENGTH)))
        longest = max(
            longest, target_bytes + 1 + (len(os.fsencode(folder)) + 1 if folder else 0) + temp
        )
    return longest


def length_refusals(
    members: Sequence[SafeMember], target_bytes: int, limits: PathLimits
) -> list[Refusal]:
    """Members whose name or path the file system cannot hold: a component longer than
    ``limits.name_max`` bytes (encoded), or a path (from the target's ``target_bytes``
    on, temporary name included) that reaches ``limits.path_max``."""
    refusals = []
    # An upper bound of the path's bytes (no character takes more than 4; ASCII takes 1)
    # that fits both limits spares counting: nearly every path is short and ASCII.
    path_room = limits.path_max - target_bytes - 2 - TEMP_NAME_BYTES
    for safe in members:
        bound = len(safe.path) * (1 if safe.path.isascii() else 4)
        if bound <= limits.name_max and bound < path_room:
            continue
        long_names = [c for c in safe.path.split("/") if len(os.fsencode(c)) > limits.name_max]
        if long_names:
            name = long_names[0]
            shown = name if len(name) <= 40 else f"{name[:37]}..."
            refusals.append(
                Refusal(
                    safe.member.name,
                    f"has a name of {len(os.fsencode(name))} bytes ({shown!r}), more than "
                    f"the {limits.name_max} bytes the file system allows for one name",
                    "name-too-long",
                )
            )
            continue
        longest = _longest_path(target_bytes, safe)
        if longest >= limits.path_max:
            refusals.append(
                Refusal(
                    safe.member.name,
                    f"would need a path of {longest} bytes in the target folder, more than "
                    f"the file system allows (PATH_MAX {limits.path_max} bytes, with the "
                    "terminating NUL)",
                    "path-too-long",
                )
            )
    return refusals


_HINTS: dict[Kind, str] = {
    "unsafe": "the archive is damaged or was tampered with; get it again from a trusted "
    "source and check it with `hyperkvasir checksum`",
    "outside-root": "every member of this part must lie under its folder (the manifest's "
    "`root`): this is another archive under the part's file name, or a tampered one; check "
    "it with `hyperkvasir checksum`, or fix `root` in your manifest",
    "reserved": "the archive would overwrite files hyperkvasir keeps (archives, lock, "
    "config); it was tampered with, or extract it with --to into another folder",
    "encrypted": "hyperkvasir does not extract encrypted archives; decrypt it with the tool "
    "that made it",
    "unsupported": "unpack it with a tool that reads that method (7-Zip, bsdtar)",
    "corrupt": "the archive is damaged or truncated; check it with `hyperkvasir checksum` and "
    "download it again",
    "name-too-long": "this file system cannot hold that name: extract onto one that allows "
    "longer names, or leave the member out with --exclude",
    "path-too-long": "extract with --to into a folder with a shorter path, or leave the "
    "member out with --exclude",
}


def refusal_error(archive_name: str, refusals: Sequence[Refusal]) -> ArchiveError:
    first = refusals[0]
    others = len(refusals) - 1
    more = f" ({others} more {'member' if others == 1 else 'members'} refused)" if others else ""
    verb = "is unsafe to extract" if first.kind in _UNSAFE_KINDS else "cannot be extracted"
    return ArchiveError(
        f"{archive_name} {verb}: member {first.member!r} {first.reason}{more}; nothing was written",
        hint=_HINTS[first.kind],
    )


def safe_members(
    members: Sequence[ZipMember],
    *,
    archive_name: str,
    archive_size: int,
    placement: Placement | None = None,
) -> list[SafeMember]:
    """Every member with its relative path, when the whole archive may be extracted.

    Raises :class:`ArchiveError` (exit 6) naming the first refused member, its reason and
    how many more were refused.
    """
    safe, refusals = judge_archive(members, archive_size, placement)
    if refusals:
        raise refusal_error(archive_name, refusals)
    return safe


def is_inside(folder: str, path: str) -> bool:
    """True when ``path`` is ``folder`` or below it (both absolute and already resolved)."""
    return os.path.commonpath([folder, path]) == os.path.normpath(folder)
