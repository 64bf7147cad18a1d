"""`checksum` (and the Python API's ``checksum``): prove archives, zip members and extracted
files intact, then record what was proven.

Checking reads and never writes (:func:`check_parts`, :func:`check_listed_files`);
:func:`record_results` then records when each archive was verified, and withdraws the
verification of an archive found damaged. :func:`checksum` does both.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from hyperkvasir_cli.core.errors import ConfigError, LockedError, UsageError

if TYPE_CHECKING:
    from hyperkvasir_cli.check.integrity import CheckItem, CheckReport
    from hyperkvasir_cli.check.parts import CheckOptions
    from hyperkvasir_cli.core.errors import HyperkvasirError
    from hyperkvasir_cli.core.manifest import Part
    from hyperkvasir_cli.ops.session import Session

# Every kind of item a check reports, each always counted in the JSON summary.
ITEM_KINDS = ("archive", "member", "extracted", "listed")


@dataclass(frozen=True)
class ChecksumResult:
    """What one check found: the report (items in order, notes) and the digest algorithm
    in use (None when a checksum file's lines each told their own)."""

    report: CheckReport
    algorithm: str | None

    @property
    def ok(self) -> bool:
        """Nothing is known to be wrong (items nothing could vouch for aside)."""
        return not self.report.problems

    @property
    def items(self) -> list[CheckItem]:
        return self.report.items

    @property
    def notes(self) -> list[str]:
        return self.report.notes

    def failure(self) -> HyperkvasirError | None:
        """The error the `checksum` command exits with (5 on a mismatch, 6 on a corrupt
        or unsafe archive), naming the first bad items; None when all is well."""
        from hyperkvasir_cli.check.integrity import failure_error

        return failure_error(self.report)

    def as_json(self, verbose: bool = False) -> dict[str, object]:
        """The `--json` document; every key is always present. ``items`` holds the
        archives and every item that is not ok, and with ``verbose`` every file too
        (``items_listed`` says which); ``parts`` counts each part's items."""
        from hyperkvasir_cli.check.integrity import is_listed

        report = self.report

        def counted(part: CheckReport) -> dict[str, object]:
            kinds = dict.fromkeys(ITEM_KINDS, 0) | part.kinds()
            return {"checked": len(part.items), "results": part.counts(), "kinds": kinds}

        return {
            "ok": self.ok,
            "algorithm": self.algorithm,
            "items_listed": "all" if verbose else "archives and problems",
            "items": [item.as_json() for item in report.items if is_listed(item, verbose)],
            "notes": report.notes,
            "parts": {name: counted(part) for name, part in report.by_part().items() if name},
            "summary": counted(report),
        }


def parts_to_check(
    session: Session, names: list[str], extracted: bool
) -> tuple[list[Part], list[Part]]:
    """The parts to check (each named one must be downloaded), or every part whose archive
    is here; and, second, those whose archive was deleted after extraction (named, with
    ``extracted``; or not named: all of them)."""
    from hyperkvasir_cli.check.parts import archive_deleted

    layout = session.layout
    records = session.records()

    def deleted(part: Part) -> bool:
        return archive_deleted(part, layout, records.get(part.name))

    if not names:
        here = [p for p in session.manifest.parts if layout.archive_path(p).exists()]
        return here, [p for p in session.manifest.parts if deleted(p)]
    parts = session.manifest.select(names)
    absent = [p for p in parts if not layout.archive_path(p).exists()]
    gone = [p for p in absent if deleted(p)]
    if gone and not extracted:
        listed = " ".join(p.name for p in gone)
        fetched = [p.name for p in gone if getattr(records.get(p.name), "fetched_from", None)]
        if fetched:
            raise UsageError(
                f"{' '.join(fetched)}: only members fetched by range are here, not the "
                "archive: nothing to check but the extracted files",
                hint=f"`hyperkvasir checksum {' '.join(fetched)} --extracted` checks them "
                "against the central directory kept from the server",
            )
        raise UsageError(
            f"the archive of {listed} was deleted after extraction (extract "
            "--delete-archive): nothing to check",
            hint=f"to check the extracted files, download it again: `hyperkvasir download "
            f"{listed}`, then `hyperkvasir checksum {listed} --extracted`",
        )
    absent = [p for p in absent if p not in gone]
    if absent:
        described = ", ".join(f"{p.name} ({layout.archive_path(p)})" for p in absent)
        resumable = [p.name for p in absent if layout.partial_path(p).exists()]
        hint = f"run `hyperkvasir download {' '.join(p.name for p in absent)}` first"
        if resumable:
            hint = f"finish the download first: `hyperkvasir resume {' '.join(resumable)}`"
        raise UsageError(f"not downloaded, nothing to check: {described}", hint=hint)
    return [p for p in parts if p not in gone], gone


def check_parts(session: Session, names: list[str], options: CheckOptions) -> ChecksumResult:
    """Check the named parts (none: every part downloaded here) as ``options`` say; a
    named part that is not downloaded is a usage error (exit 2). Nothing is written."""
    from hyperkvasir_cli.check.integrity import CheckReport
    from hyperkvasir_cli.check.parts import verify_deleted_archives, verify_parts

    parts, deleted = parts_to_check(session, names, options.extracted)
    report = CheckReport()
    layout = session.layout
    if parts:
        report = verify_parts(
            parts,
            layout,
            session.records(),
            options,
            named=bool(names),
            progress=session.task_progress(),
        )
    if deleted and options.extracted:
        gone = verify_deleted_archives(deleted, layout, session.records(), options)
        report.items.extend(gone.items)
        report.extract_to.update(gone.extract_to)
    elif deleted:
        report.notes.extend(
            f"{part.name}: the archive was deleted after extraction (extract "
            "--delete-archive); nothing to check without it (see --extracted)"
            for part in deleted
        )
    if not parts and not report.items:
        report.notes.append(f"nothing to check: no archive in {layout.archives_dir}")
    return ChecksumResult(report, options.algorithm)


def check_listed_files(
    session: Session, check_file: Path, algorithm: str | None, jobs: int | None = None
) -> ChecksumResult:
    """`checksum --check FILE`: every file a sha256sum/md5sum/... or BSD-style file lists,
    relative to that file's folder. Nothing is written."""
    from hyperkvasir_cli.check.checkfile import verify_check_file

    report = verify_check_file(check_file, algorithm, session.jobs(jobs), session.task_progress())
    return ChecksumResult(report, algorithm)


def record_results(session: Session, result: ChecksumResult) -> None:
    """Record when each archive was verified, and withdraw the record of verification of
    each archive found damaged (``report.damaged``), so that a plain `download` or `sync`
    checks it again, sets it aside and fetches the part anew instead of skipping it.

    The lock is taken briefly, after the check; a held lock only costs the record (a
    warning says so). A record verified again meanwhile (by another run) is left alone.
    """
    from hyperkvasir_cli.check.integrity import verification_fields

    report = result.report
    moment = session.clock.now()
    pending = [item for item in report.items if verification_fields(item, None, moment)]
    seen = session.records()
    damaged = [
        name
        for name in dict.fromkeys(report.damaged)
        if name in seen and seen[name].verified_at is not None
    ]
    if not pending and not damaged:
        return
    try:
        with session.locked():
            records = session.records(fresh=True)
            for item in pending:
                fields = verification_fields(item, records.get(item.part or ""), moment)
                if item.part and fields:
                    session.record_store.update_part(item.part, **fields)
            for name in damaged:
                record = records.get(name)
                if record is not None and record.verified_at == seen[name].verified_at:
                    session.record_store.forget_part_fields(name, "verified_at")
                    session.info(
                        f"{name}: the archive is no longer recorded as verified; "
                        f"`hyperkvasir download {name}` (or `sync`) checks it again, sets it "
                        "aside and fetches it anew"
                    )
    except (LockedError, ConfigError, OSError) as exc:
        where = "" if isinstance(exc, LockedError) else f" in {session.config_path}"
        why = exc.message if isinstance(exc, LockedError) else str(exc)
        session.warn(f"the results were not recorded{where}: {why}")
        if damaged:
            names = " ".join(damaged)
            session.warn(
                f"{names} stay recorded as verified, so a plain `hyperkvasir download` "
                f"skips them: fetch them again with `hyperkvasir download {names} --force`"
            )


def checksum(session: Session, names: list[str], options: CheckOptions) -> ChecksumResult:
    """Check (:func:`check_parts`), then record what was found (:func:`record_results`).
    A mismatch is in the result (``ok`` False, :meth:`ChecksumResult.failure`), not raised."""
    result = check_parts(session, names, options)
    record_results(session, result)
    return result
