"""`sync` (and the Python API's ``sync``): make the local copy right, and do nothing when
it already is.

Made for cron and CI: under the lock, each part is downloaded or resumed, verified and
extracted; a verified part costs no request at all, and `check_remote` costs one HEAD.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from hyperkvasir_cli.core.clock import iso_utc
from hyperkvasir_cli.core.errors import (
    ArchiveError,
    DiskSpaceError,
    HyperkvasirError,
    IntegrityError,
    NetworkError,
    error_json,
)
from hyperkvasir_cli.core.units import format_bytes

if TYPE_CHECKING:
    from hyperkvasir_cli.core.manifest import Part
    from hyperkvasir_cli.ops.download import DownloadOptions
    from hyperkvasir_cli.ops.extract import ExtractRequest
    from hyperkvasir_cli.ops.preview import Preview
    from hyperkvasir_cli.ops.session import Session


@dataclass
class SyncStep:
    """What sync did for one part."""

    part: str
    remote: str = "not checked"
    download: str = "skipped"
    bytes_fetched: int = 0
    extract: dict[str, Any] | None = None
    # Why this part could not be synced (the run went on with the other parts).
    error: HyperkvasirError | None = None

    def as_json(self) -> dict[str, Any]:
        error = self.error
        return {
            "part": self.part,
            "remote": self.remote,
            "download": self.download,
            "bytes_fetched": self.bytes_fetched,
            "extract": self.extract,
            "error": None
            if error is None
            else error_json(error.exit_code, error.message, error.hint),
        }


# A part that fails this way does not stop the others (each is its own download, check or
# extraction); the run ends with the most severe of them: data that is wrong or unsafe
# before a full disk, before a server that could not be reached.
PART_FAILURES = (ArchiveError, IntegrityError, DiskSpaceError, NetworkError)


def most_severe(errors: list[HyperkvasirError]) -> HyperkvasirError:
    """The error a run that met ``errors`` ends with (the first of the most severe)."""
    rank = {kind: len(PART_FAILURES) - i for i, kind in enumerate(PART_FAILURES)}
    return max(errors, key=lambda e: next((r for k, r in rank.items() if isinstance(e, k)), 0))


def parts_to_sync(session: Session, names: list[str] | None, all_parts: bool) -> list[Part]:
    """Named parts, or `--all`, or by default every part this machine has a record of."""
    from hyperkvasir_cli.ops.downloads import default_parts

    if names or all_parts:
        return default_parts(session) if all_parts else session.select_parts(names)
    recorded = set(session.records())
    return [p for p in session.manifest.parts if p.name in recorded]


def refresh_if_changed(
    session: Session, part: Part, options: DownloadOptions, step: SyncStep
) -> bool:
    """With --check-remote: True when the server has a new version we must fetch.

    A pinned manifest checksum that the new version cannot match is an integrity error
    (exit 5) raised before any byte is fetched; the verified copy stays.
    """
    from hyperkvasir_cli.ops.download import candidate_urls
    from hyperkvasir_cli.ops.downloader import make_downloader
    from hyperkvasir_cli.transfer.remote_check import check_remote

    record = session.record(part)
    if record is None or record.sha256 is None:
        return False
    with make_downloader(session).client_factory() as client:
        verdict = check_remote(client, record, candidate_urls(part, options.mirrors))
    if verdict.remote is None:
        raise NetworkError(
            f"{part.name}: could not check the server: {verdict.reason}",
            hint="the local copy is unchanged and intact; rerun when the server answers",
        )
    step.remote = "changed" if verdict.changed else "unchanged"
    if not verdict.changed:
        return False
    remote = verdict.remote
    rejected = record.rejected.get(remote.url)
    if (
        rejected is not None
        and rejected.expects(part.size, part.sha256)
        and rejected.same_version(
            remote.validators.etag, remote.validators.last_modified, remote.size
        )
    ):
        # The new version failed verification before: fetching it again every night
        # would cost the whole archive each time to learn the same thing.
        step.remote = "changed, rejected earlier"
        when = f" on {iso_utc(rejected.at)}" if rejected.at else ""
        raise IntegrityError(
            f"{part.name}: {verdict.reason}, and that version failed verification{when} "
            f"({rejected.reason}); it is not fetched again until the server's copy changes",
            hint=f"your verified copy is kept at {session.layout.archive_path(part)}; to take "
            "the new version, describe it in a manifest (--manifest) with its size and sha256",
        )
    session.info(f"{part.name}: {verdict.reason}")
    new_size = verdict.remote.size
    if part.sha256 and part.size is not None and new_size not in (None, part.size):
        raise IntegrityError(
            f"{part.name}: upstream changed the file ({verdict.reason}), but the manifest pins "
            f"{part.size} B with sha256 {part.sha256}",
            hint=f"your verified copy is kept at {session.layout.archive_path(part)}; to take the "
            "new version, describe it in a manifest (--manifest) with its size and sha256",
        )
    return True


def sync_part(
    session: Session,
    part: Part,
    options: DownloadOptions,
    check: bool,
    extract: ExtractRequest | None,
    step: SyncStep | None = None,
) -> SyncStep:
    """Bring one part up to date, noting what was done in ``step``; the caller holds the
    lock."""
    from hyperkvasir_cli.ops.download import DownloadOptions
    from hyperkvasir_cli.ops.downloader import make_downloader
    from hyperkvasir_cli.ops.extract import extract_part, summary
    from hyperkvasir_cli.ops.status import archive_was_deleted

    step = SyncStep(part.name) if step is None else step
    deleted = archive_was_deleted(session, part)
    changed = check and refresh_if_changed(session, part, options, step)
    if deleted and not changed:
        # Extracted and verified, the archive removed on purpose: fetching it again would
        # undo the space saved (3.9 GB for the labeled images) to extract nothing new.
        step.download = "archive deleted after extraction"
        return step
    download_opts = DownloadOptions(options.mirrors, force=changed, engine=options.engine)
    record = session.record(part, fresh=True)
    try:
        outcome = make_downloader(session).download(part, record, download_opts)
    except IntegrityError as exc:
        if changed:
            raise IntegrityError(
                exc.message,
                hint="upstream changed the file and the new version does not match the "
                f"manifest; your verified copy is kept at {session.layout.archive_path(part)}",
            ) from exc
        raise
    step.download, step.bytes_fetched = outcome.action, outcome.bytes_fetched
    if outcome.action != "skipped":
        session.info(f"{part.name}: {outcome.action}, {format_bytes(outcome.size)} verified")
    if extract is not None and part.archive_kind == "zip":
        result = extract_part(session, part, outcome.path, extract)
        session.info(summary(part, result))
        step.extract = result.as_json()
    if record is not None and record.requested is not None:
        # What an interrupted run was asked to do is done now.
        session.record_store.forget_part_fields(part.name, "requested")
    return step


@dataclass
class SyncReport:
    """Each part synced, in order, and what stopped the rest (when something did): what
    `sync --json` prints."""

    parts: list[SyncStep] = field(default_factory=list)
    error: HyperkvasirError | None = None
    # The parts and options were accepted and the run began (its lock was asked for): an
    # error from here on belongs in this report, one before it is a plain usage error.
    started: bool = False

    @property
    def bytes_fetched(self) -> int:
        return sum(step.bytes_fetched for step in self.parts)

    def summary(self) -> str:
        synced = "1 part" if len(self.parts) == 1 else f"{len(self.parts)} parts"
        return f"sync: {synced} in order, {format_bytes(self.bytes_fetched)} fetched"

    def as_json(self) -> dict[str, Any]:
        error = self.error
        return {
            "ok": error is None,
            "parts": [s.as_json() for s in self.parts],
            "bytes_fetched": self.bytes_fetched,
            "error": None
            if error is None
            else error_json(error.exit_code, error.message, error.hint),
        }


def sync_parts(
    session: Session,
    names: list[str] | None = None,
    *,
    all_parts: bool = False,
    check_remote: bool = False,
    extract: bool = True,
    jobs: int | None = None,
    mirrors: list[str] | None = None,
    wait_lock: float | None = None,
    report: SyncReport | None = None,
) -> SyncReport:
    """Download or resume, verify and (unless ``extract`` is False) extract each part, in
    order, under the lock: the named ones, else with ``all_parts`` the default ones, else
    every part the data folder has a record of. A part whose archive was deleted after its
    extraction is not fetched again unless the server's copy changed. Each part done is
    appended to ``report`` at once (see :func:`hyperkvasir_cli.ops.downloads.download_parts`).
    A part that fails (network, integrity, unsafe archive, disk space) is noted in its
    step and does not stop the others; the most severe of those failures is raised at the
    end (see :func:`most_severe`). Any other failure stops the run at once."""
    from hyperkvasir_cli.ops.downloader import download_options
    from hyperkvasir_cli.ops.extract import ExtractRequest

    report = SyncReport() if report is None else report
    selected = parts_to_sync(session, names, all_parts)
    if not selected:
        session.info("nothing to sync: no part is recorded yet; name parts or pass --all")
    options = download_options(session, mirrors=mirrors)
    request = ExtractRequest(jobs=jobs) if extract else None
    report.started = True
    failed: list[HyperkvasirError] = []
    with session.locked(wait_lock):
        for index, part in enumerate(selected):
            step = SyncStep(part.name)
            try:
                sync_part(session, part, options, check_remote, request, step)
            except PART_FAILURES as exc:
                step.error = exc
                failed.append(exc)
                if index + 1 < len(selected):
                    session.warn(f"{exc.message}; going on with the other parts")
            report.parts.append(step)
    if failed:
        raise most_severe(failed)
    return report


def preview_sync_parts(
    session: Session,
    names: list[str] | None = None,
    *,
    all_parts: bool = False,
    extract: bool = True,
    mirrors: list[str] | None = None,
) -> Preview:
    """`sync --dry-run`: what :func:`sync_parts` would do for the same parts, from what is
    on disk alone (no request, no lock, nothing written)."""
    from hyperkvasir_cli.ops.extract import ExtractRequest
    from hyperkvasir_cli.ops.preview import preview_sync

    selected = parts_to_sync(session, names, all_parts)
    if not selected:
        session.info("nothing to sync: no part is recorded yet; name parts or pass --all")
    request = ExtractRequest() if extract else None
    return preview_sync(session, selected, mirrors=mirrors, extract=request)
