"""Checking dataset parts end to end: each archive, then (on request) its members and its
extracted tree. This is what `hyperkvasir checksum PART...` runs.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from hyperkvasir_cli.config import PartRecord
from hyperkvasir_cli.integrity import (
    ArchiveTarget,
    CheckItem,
    CheckReport,
    archive_expectation,
    relative_display,
    verify_archives,
)
from hyperkvasir_cli.layout import Layout
from hyperkvasir_cli.manifest import Part
from hyperkvasir_cli.member_check import verify_members
from hyperkvasir_cli.progress import ProgressReporter, SilentProgress
from hyperkvasir_cli.tree_check import verify_tree
from hyperkvasir_cli.worker_threads import Background, SharedProgress


@dataclass(frozen=True)
class CheckOptions:
    deep: bool = False  # read every zip member: CRC-32 and size
    extracted: bool = False  # compare the extracted trees with the central directory
    quick: bool = False  # sizes only: no file content is read
    to: Path | None = None  # the extraction target, when not the recorded one
    algorithm: str = "sha256"  # computed besides sha256 (for checksum-file output)
    digest_extracted: bool = False  # also compute ``algorithm`` for every extracted file
    jobs: int = 1


TreeDecision = Literal["check", "missing", "skip"]


def tree_decision(root_exists: bool, recorded: bool, named: bool) -> TreeDecision:
    """Check a tree that exists; a tree that should exist (recorded, or asked for by name
    or by --to) but does not is missing; otherwise the part is simply not extracted."""
    if root_exists:
        return "check"
    return "missing" if recorded or named else "skip"


def extraction_target(layout: Layout, record: PartRecord | None, to: Path | None) -> Path:
    """Where the part was extracted: --to, else the recorded target, else the default."""
    if to is not None:
        return to
    if record is not None and record.extracted_to:
        return Path(record.extracted_to)
    return layout.extract_dir


def verify_parts(
    parts: Sequence[Part],
    layout: Layout,
    records: Mapping[str, PartRecord],
    options: CheckOptions,
    *,
    named: bool = False,
    progress: ProgressReporter | None = None,
) -> CheckReport:
    """Check the archives of ``parts`` (which must exist), then their members and trees.

    Items come in that order: archives, members, extracted files. ``named``: the user
    named these parts, so a tree that is not there is missing, not skipped.
    """
    names = parts[0].name if len(parts) == 1 else f"{len(parts)} parts"
    shared = SharedProgress(progress or SilentProgress(), f"checking {names}")
    targets = [
        ArchiveTarget(
            part.name,
            layout.archive_path(part),
            relative_display(layout.archive_path(part), layout.data_dir),
            archive_expectation(part, records.get(part.name)),
        )
        for part in parts
    ]

    def hash_archives() -> list[CheckItem]:
        algorithms = (options.algorithm,)
        return verify_archives(targets, algorithms, options.jobs, shared, options.quick)

    look_inside = options.deep or options.extracted
    if options.jobs > 1 and look_inside and not options.quick:
        # Hashing an archive keeps one core busy; its members and its extracted tree are
        # independent reads, so they run meanwhile on the others.
        hashing = Background(hash_archives)
        inside = _verify_inside(parts, targets, layout, records, options, named, shared)
        archives = hashing.result()
    else:
        archives = hash_archives()
        inside = _verify_inside(parts, targets, layout, records, options, named, shared)
    return CheckReport(archives + inside.items, inside.notes)


def _verify_inside(
    parts: Sequence[Part],
    targets: Sequence[ArchiveTarget],
    layout: Layout,
    records: Mapping[str, PartRecord],
    options: CheckOptions,
    named: bool,
    progress: ProgressReporter,
) -> CheckReport:
    report = CheckReport()
    if not (options.deep or options.extracted):
        return report
    zips = [
        (part, target) for part, target in zip(parts, targets, strict=True) if part.kind == "zip"
    ]
    report.notes.extend(
        f"{part.name}: not a zip archive; nothing inside to check"
        for part in parts
        if part.archive_kind != "zip"
    )
    if options.deep:
        for part, target in zips:
            report.items.extend(
                verify_members(part.name, target.path, target.display, options.jobs, progress)
            )
    if options.extracted:
        for part, _ in zips:
            _verify_extracted(
                report, part, layout, records.get(part.name), options, named, progress
            )
    return report


def _verify_extracted(
    report: CheckReport,
    part: Part,
    layout: Layout,
    record: PartRecord | None,
    options: CheckOptions,
    named: bool,
    progress: ProgressReporter,
) -> None:
    target = extraction_target(layout, record, options.to)
    root = layout.extracted_root(part, target)
    recorded = record is not None and record.extracted_to is not None
    decision = tree_decision(root.is_dir(), recorded, named or options.to is not None)
    if decision == "skip":
        report.notes.append(f"{part.name}: not extracted ({root} does not exist); skipped")
        return
    if decision == "missing":
        report.items.append(
            CheckItem(
                part.name,
                "extracted",
                relative_display(root, layout.data_dir),
                "missing",
                "missing: the extracted folder does not exist",
            )
        )
        return
    checked = verify_tree(
        part.name,
        part.root,
        layout.archive_path(part),
        target,
        layout.data_dir,
        quick=options.quick,
        algorithm=options.algorithm if options.digest_extracted else None,
        jobs=options.jobs,
        progress=progress,
    )
    report.items.extend(checked.items)
    report.notes.extend(checked.notes)
