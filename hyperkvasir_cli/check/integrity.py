"""Proving files intact: the result model shared by every check, and archive digests.

Trust runs in a chain: the manifest's sha256 (or the value recorded at first download)
vouches for an archive; the archive's central directory then vouches, by size and CRC-32,
for every member (``member_check``) and every extracted file (``tree_check``).

Checks never modify what they check. A mismatch is a *result*, not an exception, so that
one run names every bad item; :func:`failure_error` turns a report into the error (and
exit code) the command ends with.
"""

from __future__ import annotations

import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Literal

from hyperkvasir_cli.core.errors import ArchiveError, HyperkvasirError, IntegrityError
from hyperkvasir_cli.core.hashing import FileDigest, hash_file
from hyperkvasir_cli.core.manifest import Part
from hyperkvasir_cli.core.progress import ProgressReporter, SilentProgress
from hyperkvasir_cli.core.records import PartRecord
from hyperkvasir_cli.core.units import format_bytes
from hyperkvasir_cli.core.worker_threads import SharedProgress, run_in_threads

ALGORITHMS: tuple[str, ...] = ("md5", "sha1", "sha256", "sha512", "blake2b")

ItemKind = Literal["archive", "member", "extracted", "listed"]
ItemResult = Literal[
    "ok", "failed", "missing", "changed", "unexpected", "unverifiable", "unreadable"
]
Source = Literal["manifest", "recorded", "central-directory", "check-file"]
Facts = dict[str, int | str]

RESULTS: tuple[ItemResult, ...] = (
    "ok",
    "failed",
    "missing",
    "changed",
    "unexpected",
    "unverifiable",
    "unreadable",
)
MISMATCHES: frozenset[str] = frozenset({"failed", "missing", "changed", "unexpected"})


@dataclass(frozen=True)
class CheckItem:
    """One checked thing (an archive, a zip member, an extracted or listed file)."""

    part: str | None
    kind: ItemKind
    path: str
    result: ItemResult
    reason: str
    expected: Facts = field(default_factory=dict)
    found: Facts = field(default_factory=dict)
    source: Source | None = None

    @property
    def is_problem(self) -> bool:
        return self.result in MISMATCHES or self.result == "unreadable"

    @property
    def is_corrupt(self) -> bool:
        """A problem of the archive itself (exit 6, as SPEC says for a bad CRC): anything
        unreadable, and every zip member that fails (its CRC-32 or size differs, its data
        cannot be decompressed, or extract refuses it)."""
        return self.result == "unreadable" or (self.kind == "member" and self.is_problem)

    def as_json(self) -> dict[str, object]:
        return {
            "part": self.part,
            "kind": self.kind,
            "path": self.path,
            "result": self.result,
            "reason": self.reason,
            "expected": dict(self.expected),
            "found": dict(self.found),
            "source": self.source,
        }


@dataclass
class CheckReport:
    """Everything one run checked, in the order it was checked, and notes for the reader."""

    items: list[CheckItem] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    # Parts whose checked tree is not in the default extraction folder: restoring it takes
    # `extract --to` that folder.
    extract_to: dict[str, Path] = field(default_factory=dict)
    # Parts whose archive proved not to be the part's (its size or sha256 differs, or it is
    # no readable zip): their record of verification is withdrawn, so that a plain
    # `download` or `sync` checks the file again and fetches the part anew.
    damaged: list[str] = field(default_factory=list)

    @property
    def problems(self) -> list[CheckItem]:
        return [item for item in self.items if item.is_problem]

    def counts(self) -> dict[str, int]:
        """How many items had each result; every result is present, zero or not."""
        counts: dict[str, int] = dict.fromkeys(RESULTS, 0)
        for item in self.items:
            counts[item.result] += 1
        return counts

    def kinds(self) -> dict[str, int]:
        kinds: dict[str, int] = {}
        for item in self.items:
            kinds[item.kind] = kinds.get(item.kind, 0) + 1
        return kinds

    def by_part(self) -> dict[str, CheckReport]:
        """The items of each part (``""`` for items of no part, such as listed files), in
        the order the parts were checked."""
        found: dict[str, CheckReport] = {}
        for item in self.items:
            found.setdefault(item.part or "", CheckReport()).items.append(item)
        return found


# Kinds of item that come by the thousand (one per file): listed one by one only when
# asked (--verbose); otherwise their failures and a summary per part.
FILE_KINDS = frozenset({"member", "extracted", "listed"})


def is_listed(item: CheckItem, verbose: bool) -> bool:
    """Whether ``item`` gets its own line (and its own entry in --json): always for an
    archive or a problem, for a file that is fine only with ``verbose``."""
    return verbose or item.kind not in FILE_KINDS or item.result != "ok"


def failure_error(report: CheckReport, shown: int = 5) -> HyperkvasirError | None:
    """The error a run ends with, naming the first few bad items; None when all is well.

    The highest exit code wins: ArchiveError (exit 6) when anything says the archive itself
    is corrupt or unsafe (:attr:`CheckItem.is_corrupt`), else IntegrityError (exit 5) on
    any mismatch. The hint names what fixes the problems found.
    """
    problems = report.problems
    if not problems:
        return None
    names = ", ".join(f"{item.path} ({item.result})" for item in problems[:shown])
    more = f" and {len(problems) - shown} more" if len(problems) > shown else ""
    message = f"{len(problems)} of {len(report.items)} checked items are not intact: {names}{more}"
    corrupt = [item for item in problems if item.is_corrupt]
    if corrupt:
        return ArchiveError(message, hint=corrupt_hint(report.items, corrupt))
    kinds = {item.kind for item in problems}
    if kinds == {"extracted"}:
        hint = restore_hint(problems, report.extract_to)
    elif kinds == {"listed"}:
        hint = "the files differ from the checksum file: fetch or restore them again"
    else:
        hint = f"fetch the archive again: `hyperkvasir download {_parts(problems)} --force`"
    return IntegrityError(message, hint=hint)


def corrupt_hint(items: Sequence[CheckItem], corrupt: Sequence[CheckItem]) -> str:
    """Fetching a damaged archive again helps, unless it is the very file the manifest
    pins: then the published archive itself is at fault, and a new copy is the same."""
    published = {
        item.part
        for item in items
        if item.kind == "archive"
        and item.result == "ok"
        and item.source == "manifest"
        and "sha256" in item.expected
    }
    refetch = [item for item in corrupt if item.part not in published]
    pinned = [item for item in corrupt if item.part in published]
    steps = []
    if refetch:
        steps.append(
            "the archive is damaged or unsafe (extract stops on it too): fetch it again with "
            f"`hyperkvasir download {_parts(refetch)} --force`"
        )
    if pinned:
        steps.append(
            f"{_parts(pinned)}: the archive matches the manifest's sha256, so the published "
            "file itself is damaged or unsafe (extract stops on it too) and a new copy would "
            "be the same; report it to the publisher"
        )
    return "; ".join(steps)


def _parts(items: Sequence[CheckItem]) -> str:
    return " ".join(sorted({item.part for item in items if item.part})) or "PART"


def restore_hint(problems: Sequence[CheckItem], extract_to: Mapping[str, Path]) -> str:
    """What fixes bad extracted files. Missing files: `extract` writes them again. Changed
    ones: `extract --verify`, as plain `extract` keeps a file of the right size. Unexpected
    ones are not the archive's: nothing restores them, and they can be removed."""
    verify: dict[str, bool] = {}
    unexpected = 0
    for item in problems:
        if item.result == "unexpected":
            unexpected += 1
        elif item.part:
            verify[item.part] = verify.get(item.part, False) or item.result != "missing"
    steps = []
    if verify:
        commands = ", ".join(
            f"`{extract_command(part, extract_to.get(part), needs_verify)}`"
            for part, needs_verify in sorted(verify.items())
        )
        steps.append(f"restore the archive's files with {commands}")
    if unexpected:
        files = "file is" if unexpected == 1 else "files are"
        steps.append(f"{unexpected} unexpected {files} not from the archive and can be removed")
    return "; ".join(steps)


def extract_command(part: str, target: Path | None, verify: bool) -> str:
    command = f"hyperkvasir extract {part}"
    if target is not None:
        command += f" --to {shlex.quote(str(target))}"
    return command + (" --verify" if verify else "")


def relative_display(path: Path, base: Path) -> str:
    """``path`` as output names it: relative to ``base`` (the data folder) when inside it,
    so that `cd <data folder> && sha256sum -c` finds it; absolute otherwise."""
    try:
        return path.relative_to(base).as_posix()
    except ValueError:
        return path.as_posix()


# -- archives ---------------------------------------------------------------------------


@dataclass(frozen=True)
class ArchiveExpectation:
    """What an archive must be: size and sha256, and where those values come from."""

    size: int | None
    sha256: str | None
    source: Literal["manifest", "recorded"] | None

    @property
    def source_text(self) -> str:
        return "the manifest" if self.source == "manifest" else "the record of the first download"


def archive_expectation(part: Part, record: PartRecord | None) -> ArchiveExpectation:
    """The manifest's values first; else those recorded when the archive was first fetched."""
    recorded_sha = record.sha256 if record else None
    recorded_size = record.size if record else None
    if part.sha256:
        return ArchiveExpectation(part.size or recorded_size, part.sha256, "manifest")
    if recorded_sha:
        return ArchiveExpectation(part.size or recorded_size, recorded_sha, "recorded")
    if part.size:
        return ArchiveExpectation(part.size, None, "manifest")
    return ArchiveExpectation(recorded_size, None, "recorded" if recorded_size else None)


@dataclass(frozen=True)
class ArchiveTarget:
    """An archive to check: ``display`` is how it is named in output (data-folder relative)."""

    part: str
    path: Path
    display: str
    expected: ArchiveExpectation


def judge_archive(
    expected: ArchiveExpectation, found: FileDigest, sizes_only: bool = False
) -> tuple[ItemResult, str]:
    """Compare what was found with what was expected; the result and the reason why."""
    where = expected.source_text
    mismatches = []
    if expected.size is not None and found.size != expected.size:
        mismatches.append(
            f"size differs from {where}: expected {expected.size} B, "
            f"found {bytes_and_size(found.size)}"
        )
    sha256 = found.digests.get("sha256")
    if expected.sha256 and sha256 and sha256 != expected.sha256:
        mismatches.append(
            f"sha256 differs from {where}: expected {expected.sha256}, found {sha256}"
        )
    if mismatches:
        return "failed", "; ".join(mismatches)
    if sizes_only:
        if expected.size is None:
            return "unverifiable", "no size to compare with (none in the manifest, none recorded)"
        return "ok", f"size matches {expected.source_text}; the content was not read (--quick)"
    if expected.sha256 is None:
        size_note = "size matches; " if expected.size is not None else ""
        return "unverifiable", (
            f"{size_note}no sha256 to compare with (none in the manifest, none recorded); "
            f"found sha256 {sha256}"
        )
    if expected.source == "manifest":
        return "ok", "sha256 matches the manifest"
    return "ok", (
        "sha256 matches the value recorded at first download (unpublished: this proves only "
        "that the file has not changed since it was fetched)"
    )


def bytes_and_size(size: int) -> str:
    """``5000 B (4.9 KiB)``; just ``9 B`` when the readable form says nothing more."""
    exact = f"{size} B"
    readable = format_bytes(size)
    return exact if readable == exact else f"{exact} ({readable})"


def archive_item(target: ArchiveTarget, found: FileDigest, sizes_only: bool = False) -> CheckItem:
    result, reason = judge_archive(target.expected, found, sizes_only)
    expected: Facts = {}
    if target.expected.size is not None:
        expected["size"] = target.expected.size
    if target.expected.sha256 and not sizes_only:
        expected["sha256"] = target.expected.sha256
    return CheckItem(
        part=target.part,
        kind="archive",
        path=target.display,
        result=result,
        reason=reason,
        expected=expected,
        found={"size": found.size, **found.digests},
        source=target.expected.source,
    )


def unreadable_archive(target: ArchiveTarget, error: OSError) -> CheckItem:
    return CheckItem(
        part=target.part,
        kind="archive",
        path=target.display,
        result="unreadable",
        reason=f"cannot read the archive: {error.strerror or error}",
        source=target.expected.source,
    )


def verify_archives(
    targets: Sequence[ArchiveTarget],
    algorithms: Sequence[str] = ("sha256",),
    jobs: int = 1,
    progress: ProgressReporter | None = None,
    sizes_only: bool = False,
) -> list[CheckItem]:
    """Check every archive's size and sha256 (plus ``algorithms``), several at a time.

    ``sizes_only`` compares sizes without reading. Returns one item per target, in order.
    """
    if sizes_only:
        return [_size_only_item(target) for target in targets]
    wanted = ["sha256", *(a for a in algorithms if a != "sha256")]
    reporter = SharedProgress(progress or SilentProgress())
    total = sum(size_or_zero(t.path) for t in targets)
    plural = "s" if len(targets) != 1 else ""
    reporter.start(f"hashing {len(targets)} archive{plural}", total)

    def check(target: ArchiveTarget) -> CheckItem:
        try:
            return archive_item(target, hash_file(target.path, wanted, reporter))
        except OSError as exc:
            return unreadable_archive(target, exc)

    try:
        return run_in_threads(check, targets, jobs)
    finally:
        reporter.finish()


def _size_only_item(target: ArchiveTarget) -> CheckItem:
    try:
        size = target.path.stat().st_size
    except OSError as exc:
        return unreadable_archive(target, exc)
    return archive_item(target, FileDigest(size, {}), sizes_only=True)


def size_or_zero(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


def verification_fields(
    item: CheckItem, record: PartRecord | None, moment: datetime
) -> dict[str, object] | None:
    """What to record for an archive item: ``verified_at`` when its sha256 matched, plus
    size and sha256 when the record lacks them; None when there is nothing to record."""
    if item.kind != "archive" or item.result != "ok" or "sha256" not in item.expected:
        return None
    fields: dict[str, object] = {"verified_at": moment}
    if record is None or record.sha256 is None:
        fields.update(sha256=item.found["sha256"], sha256_source=item.source)
    if record is None or record.size is None:
        fields["size"] = item.found["size"]
    return fields
