"""Downloading parts under the data folder's lock (`download`, `resume`, the Python API's
``download``): which parts, what a dry run would fetch, and the run itself, with an
optional extraction of each zip part once verified.

One part's download (decide, fetch, verify, record) is :mod:`hyperkvasir_cli.ops.download`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from hyperkvasir_cli.core.errors import HyperkvasirError, UsageError, error_json
from hyperkvasir_cli.core.units import format_bytes, format_duration
from hyperkvasir_cli.ops.requests import extraction_asked, note_requests

if TYPE_CHECKING:
    from hyperkvasir_cli.core.manifest import Part
    from hyperkvasir_cli.ops.download import DownloadOptions, DownloadOutcome, PlannedDownload
    from hyperkvasir_cli.ops.session import Session


def default_parts(session: Session) -> list[Part]:
    """`--all`: every part except archives that only bundle other parts (the full zip,
    never needed beside the four it contains)."""
    return [p for p in session.manifest.parts if not p.contains]


def parts_to_download(session: Session, names: list[str] | None, all_parts: bool) -> list[Part]:
    """The named parts, or with ``all_parts`` the default ones; neither is a usage error
    listing the parts."""
    if not names and not all_parts:
        raise UsageError(
            "name the parts to download, or pass --all",
            hint=f"parts: {', '.join(session.manifest.names)}",
        )
    return default_parts(session) if all_parts else session.select_parts(names)


def parts_to_resume(session: Session, names: list[str] | None) -> list[Part]:
    """The named parts (every part, if none is named) that have a partial download, or a
    request that a run started and never finished (killed before it began that part)."""
    candidates = session.select_parts(names) if names else list(session.manifest.parts)
    records = session.records()
    return [
        p
        for p in candidates
        if session.layout.partial_path(p).exists()
        or (p.name in records and records[p.name].requested is not None)
    ]


@dataclass(frozen=True)
class DownloadPlan:
    """What a dry run would fetch, and how many bytes (`download --dry-run`)."""

    parts: list[PlannedDownload]

    @property
    def bytes_known(self) -> int:
        return sum(p.bytes_to_fetch for p in self.parts if p.bytes_to_fetch is not None)

    @property
    def unknown_size(self) -> list[str]:
        """Parts whose size nothing publishes."""
        return [p.part for p in self.parts if p.bytes_to_fetch is None]

    def as_json(self) -> dict[str, object]:
        return {
            "dry_run": True,
            "parts": [
                {
                    "part": p.part,
                    "action": p.action.value,
                    "bytes_to_fetch": p.bytes_to_fetch,
                    "urls": p.urls,
                }
                for p in self.parts
            ],
            "bytes_to_fetch": None if self.unknown_size else self.bytes_known,
            "bytes_to_fetch_known": self.bytes_known,
            "unknown_size": self.unknown_size,
        }


def plan_downloads(session: Session, parts: list[Part], options: DownloadOptions) -> DownloadPlan:
    """What :func:`download_parts` would do, from what is on disk alone: no request, no
    lock, nothing written."""
    from hyperkvasir_cli.ops.downloader import make_downloader

    downloader = make_downloader(session)
    records = session.records()
    return DownloadPlan([downloader.plan(p, records.get(p.name), options) for p in parts])


@dataclass(frozen=True)
class PartDownloaded:
    outcome: DownloadOutcome
    extract: dict[str, object] | None = None  # the extraction's JSON, with extract=True


@dataclass
class DownloadReport:
    """The parts downloaded so far, in order, and what stopped the rest (when something
    did): what `download --json` prints."""

    parts: list[PartDownloaded] = field(default_factory=list)
    error: HyperkvasirError | None = None

    @property
    def outcomes(self) -> list[DownloadOutcome]:
        return [done.outcome for done in self.parts]

    def as_json(self) -> dict[str, object]:
        error = self.error
        return {
            "ok": error is None,
            "parts": [{**done.outcome.as_json(), "extract": done.extract} for done in self.parts],
            "error": None
            if error is None
            else error_json(error.exit_code, error.message, error.hint),
        }


def outcome_line(outcome: DownloadOutcome) -> str:
    """One line for the log: what was done to the part, how much, how fast, where."""
    if outcome.action == "skipped":
        return f"{outcome.part}: already verified at {outcome.path}; nothing to do"
    rate = outcome.bytes_fetched / outcome.seconds if outcome.seconds > 0 else 0.0
    return (
        f"{outcome.part}: {outcome.action}, {format_bytes(outcome.size)} verified "
        f"(sha256 {outcome.sha256[:16]}..., {outcome.sha256_source}); fetched "
        f"{format_bytes(outcome.bytes_fetched)} in {format_duration(outcome.seconds)} "
        f"({format_bytes(rate)}/s) -> {outcome.path}"
    )


def download_parts(
    session: Session,
    parts: list[Part],
    options: DownloadOptions,
    *,
    wait_lock: float | None = None,
    extract: bool = False,
    report: DownloadReport | None = None,
    command: str = "download",
) -> DownloadReport:
    """Download each part in order under the data folder's lock; with ``extract``, extract
    each zip part once it is verified. What was asked is recorded first (see
    :func:`note_requests`) and forgotten once each part is done; `resume` (``command``)
    keeps an earlier request and extracts when it asked for that. Each part finished is
    appended to ``report`` (a new one when None) at once, so a caller that passes its own
    still holds the parts done when a later one fails; the error raised is the first
    failure's (Ctrl-C included)."""
    from hyperkvasir_cli.ops.downloader import make_downloader

    report = DownloadReport() if report is None else report
    downloader = make_downloader(session)
    with session.locked(wait_lock):
        note_requests(session, parts, command, extract, keep=command == "resume")
        for part in parts:
            asked = extraction_asked(session, part, extract)
            outcome = downloader.download(part, session.record(part, fresh=True), options)
            session.info(outcome_line(outcome))
            extracted = None
            if asked:
                from hyperkvasir_cli.ops.extract import extract_downloaded

                extracted = extract_downloaded(session, part).as_json()
            session.record_store.forget_part_fields(part.name, "requested")
            report.parts.append(PartDownloaded(outcome, extracted))
    return report
