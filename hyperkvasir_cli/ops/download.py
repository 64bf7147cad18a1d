"""Downloading one part: decide, fetch from the first URL that serves the right file,
verify, record. A URL whose finished file fails the manifest's size or sha256 has it set
aside (`<file>.bad-<time>`), and the next URL starts from zero; exit 5 only when no URL
serves the file. For a zip part whose manifest publishes no sha256, the first-seen sha256 is
recorded only for a readable zip: anything else (an HTML error page, a truncated transfer)
is set aside the same way.

The guarantees: a verified part is never fetched again (no request is sent); bytes already
fetched are never lost (the `.part` and its sidecar survive every failure, Ctrl-C and
kill -9); two versions of the file are never spliced (see resume.py); the final name
appears only after size and sha256 were verified, by an atomic rename.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum
from pathlib import Path

import httpx

from hyperkvasir_cli.check.verify import (
    NOT_A_ZIP,
    Mismatch,
    record_matches_file,
    set_aside_if_bad,
    set_aside_if_not_zip,
)
from hyperkvasir_cli.core.atomic import fsync_directory
from hyperkvasir_cli.core.clock import Clock, iso_utc
from hyperkvasir_cli.core.diskspace import ensure_room_for_file
from hyperkvasir_cli.core.errors import DiskSpaceError, IntegrityError, NetworkError
from hyperkvasir_cli.core.hashing import sha256_file
from hyperkvasir_cli.core.layout import Layout
from hyperkvasir_cli.core.manifest import Part
from hyperkvasir_cli.core.progress import ProgressReporter
from hyperkvasir_cli.core.records import PartRecord, RecordStore, RejectedVersion
from hyperkvasir_cli.ops.download_failures import failure_error
from hyperkvasir_cli.transfer.engine import EngineOptions, FetchResult, TransferEngine
from hyperkvasir_cli.transfer.partial import PartialFile
from hyperkvasir_cli.transfer.range_request import UrlFailed

# Rounds over the URLs that could not be reached at all (DNS, refused, no route): enough
# to ride out a blip, few enough that a machine without network hears it within seconds.
UNREACHABLE_ROUNDS = 3


class Action(Enum):
    NOTHING = "nothing"  # verified earlier and unchanged on disk
    CHECK_EXISTING = "check-existing"  # a file is at the final path but was never verified
    RESUME = "resume"
    FETCH = "fetch"


def plan_download(
    *, final_exists: bool, verified: bool, partial_exists: bool, force: bool
) -> Action:
    """What to do for one part, from what is on disk alone (no network)."""
    if force:
        return Action.FETCH
    if final_exists:
        return Action.NOTHING if verified else Action.CHECK_EXISTING
    return Action.RESUME if partial_exists else Action.FETCH


def records_first_seen_zip(part: Part) -> bool:
    """A zip part with no published sha256: what is recorded must be a readable zip."""
    return part.archive_kind == "zip" and part.sha256 is None


def candidate_urls(part: Part, mirrors: list[str]) -> list[str]:
    """Extra mirrors first (base URLs: the file name is appended), then the manifest's."""
    urls = []
    for base in mirrors:
        urls.append(base if base.endswith("/" + part.file) else base.rstrip("/") + "/" + part.file)
    urls += part.urls
    return list(dict.fromkeys(urls))


@dataclass
class DownloadOptions:
    mirrors: list[str] = field(default_factory=list)
    force: bool = False
    engine: EngineOptions = field(default_factory=EngineOptions)


@dataclass(frozen=True)
class DownloadOutcome:
    part: str
    action: str  # skipped | downloaded | resumed | restarted | checked
    path: Path
    size: int
    sha256: str
    sha256_source: str  # manifest | recorded
    url: str | None
    bytes_fetched: int
    resumed_from: int
    restarts: int
    connections: int
    seconds: float

    def as_json(self) -> dict[str, object]:
        return {
            "part": self.part,
            "action": self.action,
            "path": str(self.path),
            "size": self.size,
            "sha256": self.sha256,
            "sha256_source": self.sha256_source,
            "url": self.url,
            "bytes_fetched": self.bytes_fetched,
            "resumed_from": self.resumed_from,
            "restarts": self.restarts,
            "connections": self.connections,
            "seconds": round(self.seconds, 3),
        }


@dataclass(frozen=True)
class Fetched:
    """A finished, verified `.part`: the engine's result, the URL that served it, how
    many bad files earlier URLs served (set aside) on the way, and every byte received
    in this run (those of the copies set aside included)."""

    result: FetchResult
    url: str
    set_aside: int
    bytes_fetched: int


@dataclass(frozen=True)
class PlannedDownload:
    part: str
    action: Action
    bytes_to_fetch: int | None
    urls: list[str]


class PartDownloader:
    """Downloads parts into a layout and records them in the data folder's records."""

    def __init__(
        self,
        layout: Layout,
        store: RecordStore,
        client_factory: Callable[[], httpx.Client],
        clock: Clock,
        progress: ProgressReporter,
    ) -> None:
        self.layout, self.store = layout, store
        self.client_factory, self.clock, self.progress = client_factory, clock, progress

    def plan(
        self, part: Part, record: PartRecord | None, options: DownloadOptions
    ) -> PlannedDownload:
        final = self.layout.archive_path(part)
        partial = PartialFile(self.layout.partial_path(part), self.layout.sidecar_path(part))
        action = plan_download(
            final_exists=final.exists(),
            verified=record_matches_file(record, final),
            partial_exists=partial.exists(),
            force=options.force,
        )
        size = part.size or (record.size if record else None)
        sidecar = partial.load() if action is Action.RESUME else None
        if action in (Action.NOTHING, Action.CHECK_EXISTING):
            to_fetch: int | None = 0
        elif sidecar is not None and (sidecar.size or size) is not None:
            to_fetch = (sidecar.size or size or 0) - sidecar.downloaded
        else:
            to_fetch = size
        return PlannedDownload(part.name, action, to_fetch, candidate_urls(part, options.mirrors))

    def download(
        self, part: Part, record: PartRecord | None, options: DownloadOptions
    ) -> DownloadOutcome:
        started = self.clock.monotonic()
        final = self.layout.archive_path(part)
        planned = self.plan(part, record, options)
        if planned.action is Action.NOTHING:
            assert record is not None and record.sha256 is not None and record.size is not None
            return DownloadOutcome(
                part.name,
                "skipped",
                final,
                record.size,
                record.sha256,
                record.sha256_source or "recorded",
                record.url,
                0,
                0,
                0,
                0,
                0.0,
            )
        if planned.action is Action.CHECK_EXISTING:
            checked = self._check_existing(part, record, final, started)
            if checked is not None:
                return checked
        self.layout.archives_dir.mkdir(parents=True, exist_ok=True)
        partial = PartialFile(self.layout.partial_path(part), self.layout.sidecar_path(part))
        if options.force:
            partial.discard()
        existing = partial.load()
        resumed_from = existing.downloaded if existing else 0
        known_size = part.size or (existing.size if existing else None)
        if known_size is not None:
            # The blocks a partial holds (all of them when it was preallocated) are room
            # it already has: a run stopped by a full disk can continue.
            ensure_room_for_file(partial.data_path, known_size, part.file)
        # Only the manifest's size is a requirement; a partial's size is checked against
        # the server by the resume rules, and a changed file may have another size.
        try:
            fetched = self._fetch_from_mirrors(
                part,
                partial,
                part.size,
                planned.urls,
                options.engine,
                {} if options.force or record is None else record.rejected,
            )
        except DiskSpaceError:
            # The size was learned from the server only after the `.part` and its sidecar
            # were made: exit 7 leaves nothing written. A partial holding bytes stays.
            if resumed_from == 0:
                _discard_if_empty(partial)
            raise
        return self._finish(part, partial, final, fetched, resumed_from, started)

    def _check_existing(
        self, part: Part, record: PartRecord | None, final: Path, started: float
    ) -> DownloadOutcome | None:
        """A file at the final path that is not recorded as verified (put there by hand, or
        found damaged by `checksum`, which withdraws the record): adopt it if it verifies,
        else set it aside (never deleted) and return None, so that the part is fetched."""
        self.progress.note(
            f"{part.name}: {final} exists but is not recorded as verified; checking it"
        )
        size = final.stat().st_size
        digest = sha256_file(final, self.progress, label=f"checking {part.file}")
        expected_sha = part.sha256 or (record.sha256 if record else None)
        moment = self.clock.now()
        bad: Mismatch | None = set_aside_if_bad(
            final,
            size=size,
            sha256=digest,
            expected_size=part.size,
            expected_sha256=expected_sha,
            moment=moment,
        )
        what = ""
        if bad is not None:
            what = f"is not the part's archive (expected {bad.expected})"
        elif records_first_seen_zip(part):
            # A recorded sha256 vouches only for what was first seen: it must be a zip.
            bad = set_aside_if_not_zip(
                final, size=size, sha256=digest, content_type=None, moment=moment
            )
            what = "is not a zip archive"
        if bad is not None:
            self.progress.note(f"{part.name}: {final} {what}: {bad.describe()}; fetching it again")
            return None
        source = part.sha256_source
        self.store.record_verified(part.name, final, size, digest, source, self.clock.now())
        return DownloadOutcome(
            part.name,
            "checked",
            final,
            size,
            digest,
            source,
            None,
            0,
            0,
            0,
            0,
            self.clock.monotonic() - started,
        )

    def _fetch_from_mirrors(
        self,
        part: Part,
        partial: PartialFile,
        expected_size: int | None,
        urls: list[str],
        engine_options: EngineOptions,
        rejected: Mapping[str, RejectedVersion],
    ) -> Fetched:
        """Try each URL in order; unreachable ones get further rounds with backoff.

        A URL whose finished file does not match the manifest's size or sha256 (a broken
        mirror) has its file set aside, the version it served is remembered as rejected,
        and the next URL starts from zero. A URL that still serves a version rejected
        earlier (``rejected``, one HEAD tells) is passed over without fetching it.
        """
        policy = engine_options.policy
        zip_check = records_first_seen_zip(part)
        failures: dict[str, UrlFailed] = {}
        live = list(urls)
        rounds = 0
        set_aside = 0
        with self.client_factory() as client:
            engine = TransferEngine(
                client,
                partial,
                expected_size=expected_size,
                options=engine_options,
                clock=self.clock,
                progress=self.progress,
                label=part.file,
                ensure_space=lambda total: ensure_room_for_file(
                    partial.data_path, total, part.file
                ),
            )
            while live:
                rounds += 1
                for index, url in enumerate(live):
                    known_bad = self._still_rejected(client, part, url, rejected.get(url))
                    if known_bad is not None:
                        failures[url] = known_bad
                        self.progress.note(f"{part.file}: {url} {known_bad.reason}")
                        continue
                    try:
                        result = engine.fetch(url)
                    except UrlFailed as failure:
                        failures[url] = failure
                        self.progress.note(f"{part.file}: {url}: {failure.reason}")
                        continue
                    moment = self.clock.now()
                    bad = set_aside_if_bad(
                        partial.data_path,
                        size=result.size,
                        sha256=result.sha256,
                        expected_size=part.size,
                        expected_sha256=part.sha256,
                        moment=moment,
                        content_type=result.content_type,
                    )
                    kind, served = "bad-content", "a file that does not match the manifest"
                    if bad is None and zip_check:
                        bad = set_aside_if_not_zip(
                            partial.data_path,
                            size=result.size,
                            sha256=result.sha256,
                            content_type=result.content_type,
                            moment=moment,
                        )
                        kind, served = "not-zip", NOT_A_ZIP
                    if bad is None:
                        return Fetched(result, url, set_aside, engine.bytes_received)
                    if bad.web_page:
                        kind, served = "web-page", "a web page (HTML) instead of the file"
                    else:
                        self._reject(part, url, result, bad, moment)
                    # Nothing can resume from the sidecar of a file that is not the one.
                    partial.discard()
                    set_aside += 1
                    failures[url] = UrlFailed(kind, f"served {served}: {bad.describe()}")
                    then = "; trying the next URL from zero" if live[index + 1 :] else ""
                    self.progress.note(
                        f"{part.file}: {url} served {served} "
                        f"(expected {bad.expected}): {bad.describe()}{then}"
                    )
                live = [u for u in live if failures[u].kind in ("unreachable", "proxy")]
                if not live or rounds > min(policy.retries, UNREACHABLE_ROUNDS):
                    break
                self.clock.sleep(policy.delay(rounds))
        raise self._give_up(part, partial, failures)

    def _still_rejected(
        self, client: httpx.Client, part: Part, url: str, version: RejectedVersion | None
    ) -> UrlFailed | None:
        """A failure for ``url`` when it still serves ``version``, rejected earlier against
        what the manifest expects now; None when it may be fetched (also when the HEAD
        fails: the fetch then says why)."""
        if version is None or not version.expects(part.size, part.sha256):
            return None
        from hyperkvasir_cli.transfer.remote_check import head

        try:
            remote = head(client, url)
        except httpx.HTTPError:
            return None
        if remote is None or not version.same_version(
            remote.validators.etag, remote.validators.last_modified, remote.size
        ):
            return None
        when = f" on {iso_utc(version.at)}" if version.at else ""
        return UrlFailed(
            "rejected",
            f"still serves the version that failed verification{when} "
            f"({version.reason}); not fetched again until it changes",
        )

    def _reject(
        self, part: Part, url: str, result: FetchResult, bad: Mismatch, moment: datetime
    ) -> None:
        """Remember the version ``url`` served that failed verification."""
        sidecar = result.sidecar
        self.store.reject_version(
            part.name,
            url,
            RejectedVersion(
                etag=sidecar.etag,
                last_modified=sidecar.last_modified,
                size=result.size,
                sha256=result.sha256,
                expected_size=part.size,
                expected_sha256=part.sha256,
                reason=bad.cause,
                at=moment,
            ),
        )

    def _give_up(
        self, part: Part, partial: PartialFile, failures: dict[str, UrlFailed]
    ) -> NetworkError | IntegrityError:
        sidecar = partial.load()
        kept = sidecar.downloaded if sidecar else 0
        if kept == 0:
            partial.discard()
        return failure_error(part, failures, kept, partial.data_path)

    def _finish(
        self,
        part: Part,
        partial: PartialFile,
        final: Path,
        fetched: Fetched,
        partial_before: int,
        started: float,
    ) -> DownloadOutcome:
        """Put the verified file in place and record it; ``partial_before`` is how many
        bytes a partial held when the run began."""
        result, url = fetched.result, fetched.url
        os.replace(partial.data_path, final)
        fsync_directory(final.parent)
        partial.discard_sidecar()
        source = part.sha256_source
        if source == "recorded":
            self.progress.note(
                f"{part.name}: the publisher gives no checksum; recorded sha256 {result.sha256}: "
                "later checks prove only that the file has not changed since this download"
            )
        sidecar = result.sidecar
        self.store.record_verified(
            part.name,
            final,
            result.size,
            result.sha256,
            source,
            self.clock.now(),
            url=url,
            etag=sidecar.etag,
            last_modified=sidecar.last_modified,
        )
        # What happened to the partial: continued, or given up for a fresh copy (the
        # server's file changed, or its URL served bad content).
        if result.resumed_from:
            action = "resumed"
        elif partial_before:
            action = "restarted"
        else:
            action = "downloaded"
        return DownloadOutcome(
            part.name,
            action,
            final,
            result.size,
            result.sha256,
            source,
            url,
            fetched.bytes_fetched,
            result.resumed_from,
            result.restarts + fetched.set_aside,
            result.connections_used,
            self.clock.monotonic() - started,
        )


def _discard_if_empty(partial: PartialFile) -> None:
    """Remove a `.part` and its sidecar that hold no byte (made by this run)."""
    sidecar = partial.load()
    try:
        on_disk = partial.data_path.stat().st_size
    except FileNotFoundError:
        on_disk = 0
    held = sidecar.downloaded if sidecar is not None else on_disk
    if held == 0 and (sidecar is not None or on_disk == 0):
        partial.discard()
