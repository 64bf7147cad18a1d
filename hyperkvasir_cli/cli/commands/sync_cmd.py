"""`hyperkvasir sync`: make the local copy right, and do nothing when it already is.

Made for cron and CI: under the lock, each part is downloaded or resumed, verified and
extracted; a verified part costs no request at all, and `--check-remote` costs one HEAD.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any

import typer

from hyperkvasir_cli.cli.options import (
    AllPartsOption,
    CaBundleOption,
    ConnectionsOption,
    JobsOption,
    JsonOption,
    LimitRateOption,
    MirrorOption,
    PartsArgument,
    WaitLockOption,
)
from hyperkvasir_cli.cli.runtime import Runtime, command
from hyperkvasir_cli.core.errors import (
    HyperkvasirError,
    IntegrityError,
    NetworkError,
    as_error,
    error_json,
)
from hyperkvasir_cli.core.units import format_size

if TYPE_CHECKING:
    from hyperkvasir_cli.cli.extracting import ExtractRequest
    from hyperkvasir_cli.core.manifest import Part
    from hyperkvasir_cli.ops.download import DownloadOptions


CheckRemoteOption = Annotated[
    bool,
    typer.Option(
        "--check-remote",
        "-r",
        help="Ask the server (one HEAD) whether the file changed since it was downloaded; "
        "if so, fetch the new version beside the old and swap after verification.",
    ),
]
NoExtractOption = Annotated[
    bool, typer.Option("--no-extract", help="Download and verify only; do not extract.")
]


@dataclass
class SyncStep:
    part: str
    remote: str = "not checked"
    download: str = "skipped"
    bytes_fetched: int = 0
    extract: dict[str, Any] | None = None

    def as_json(self) -> dict[str, Any]:
        return {
            "part": self.part,
            "remote": self.remote,
            "download": self.download,
            "bytes_fetched": self.bytes_fetched,
            "extract": self.extract,
        }


def parts_to_sync(rt: Runtime, names: list[str] | None, all_parts: bool) -> list[Part]:
    """Named parts, or `--all`, or by default every part this machine has a record of."""
    from hyperkvasir_cli.cli.commands.download_cmd import default_parts

    if names or all_parts:
        return default_parts(rt) if all_parts else rt.select_parts(names)
    recorded = set(rt.config_file.parts)
    return [p for p in rt.manifest.parts if p.name in recorded]


def archive_was_deleted(rt: Runtime, part: Part) -> bool:
    """Extracted, then the archive removed on purpose (`extract --delete-archive`)."""
    record = rt.config_file.parts.get(part.name)
    return (
        record is not None
        and record.archive is None
        and record.extracted_to is not None
        and not rt.layout.archive_path(part).exists()
    )


def refresh_if_changed(rt: Runtime, part: Part, options: DownloadOptions, step: SyncStep) -> bool:
    """With --check-remote: True when the server has a new version we must fetch.

    A pinned manifest checksum that the new version cannot match is an integrity error
    (exit 5) raised before any byte is fetched; the verified copy stays.
    """
    from hyperkvasir_cli.cli.downloading import make_downloader
    from hyperkvasir_cli.ops.download import candidate_urls
    from hyperkvasir_cli.transfer.remote_check import check_remote

    record = rt.config_file.parts.get(part.name)
    if record is None or record.sha256 is None:
        return False
    with make_downloader(rt).client_factory() as client:
        verdict = check_remote(client, record, candidate_urls(part, options.mirrors))
    if verdict.remote is None:
        raise NetworkError(
            f"{part.name}: could not check the server: {verdict.reason}",
            hint="the local copy is unchanged and intact; rerun when the server answers",
        )
    step.remote = "changed" if verdict.changed else "unchanged"
    if not verdict.changed:
        return False
    rt.console.info(f"{part.name}: {verdict.reason}")
    new_size = verdict.remote.size
    if part.sha256 and part.size is not None and new_size not in (None, part.size):
        raise IntegrityError(
            f"{part.name}: upstream changed the file ({verdict.reason}), but the manifest pins "
            f"{part.size} B with sha256 {part.sha256}",
            hint=f"your verified copy is kept at {rt.layout.archive_path(part)}; to take the "
            "new version, describe it in a manifest (--manifest) with its size and sha256",
        )
    return True


def sync_part(
    rt: Runtime, part: Part, options: DownloadOptions, check: bool, extract: ExtractRequest | None
) -> SyncStep:
    from hyperkvasir_cli.cli.downloading import make_downloader
    from hyperkvasir_cli.cli.extracting import extract_part, summary
    from hyperkvasir_cli.ops.download import DownloadOptions

    step = SyncStep(part.name)
    deleted = archive_was_deleted(rt, part)
    changed = check and refresh_if_changed(rt, part, options, step)
    if deleted and not changed:
        # Extracted and verified, the archive removed on purpose: fetching it again would
        # undo the space saved (3.9 GB for the labeled images) to extract nothing new.
        step.download = "archive deleted after extraction"
        return step
    download_opts = DownloadOptions(options.mirrors, force=changed, engine=options.engine)
    record = rt.reload_config().parts.get(part.name)
    try:
        outcome = make_downloader(rt).download(part, record, download_opts)
    except IntegrityError as exc:
        if changed:
            raise IntegrityError(
                exc.message,
                hint="upstream changed the file and the new version does not match the "
                f"manifest; your verified copy is kept at {rt.layout.archive_path(part)}",
            ) from exc
        raise
    step.download, step.bytes_fetched = outcome.action, outcome.bytes_fetched
    if outcome.action != "skipped":
        rt.console.info(f"{part.name}: {outcome.action}, {outcome.size} B verified")
    if extract is not None and part.archive_kind == "zip":
        result = extract_part(rt, part, outcome.path, extract)
        rt.console.info(summary(part, result))
        step.extract = result.as_json()
    return step


@command
def sync(
    rt: Runtime,
    parts: PartsArgument = None,
    all_parts: AllPartsOption = False,
    check_remote: CheckRemoteOption = False,
    no_extract: NoExtractOption = False,
    connections: ConnectionsOption = None,
    mirror: MirrorOption = None,
    ca_bundle: CaBundleOption = None,
    limit_rate: LimitRateOption = None,
    jobs: JobsOption = None,
    wait_lock: WaitLockOption = None,
    json_output: JsonOption = False,
) -> None:
    """Download or resume, verify and extract, in one run; nothing to do exits 0 having
    sent no request (cron-safe). Default: the parts recorded in the config."""
    from hyperkvasir_cli.cli.downloading import download_options
    from hyperkvasir_cli.cli.extracting import ExtractRequest

    rt.override(connections=connections, ca_bundle=ca_bundle, limit_rate=limit_rate)
    selected = parts_to_sync(rt, parts, all_parts)
    steps: list[SyncStep] = []
    if not selected:
        rt.console.info("nothing to sync: no part is recorded yet; name parts or pass --all")
    options = download_options(rt, mirrors=mirror)
    extract = None if no_extract else ExtractRequest(jobs=jobs)
    error: HyperkvasirError | None = None
    try:
        with rt.locked(wait_lock):
            for part in selected:
                steps.append(sync_part(rt, part, options, check_remote, extract))
    except (HyperkvasirError, KeyboardInterrupt) as exc:
        error = as_error(exc)  # also Ctrl-C and SIGTERM: the document must not say ok
        raise
    finally:
        if json_output:
            rt.console.emit_json(
                {
                    "ok": error is None,
                    "parts": [s.as_json() for s in steps],
                    "bytes_fetched": sum(s.bytes_fetched for s in steps),
                    "error": None
                    if error is None
                    else error_json(error.exit_code, error.message, error.hint),
                }
            )
    fetched = sum(s.bytes_fetched for s in steps)
    synced = "1 part" if len(steps) == 1 else f"{len(steps)} parts"
    rt.console.info(f"sync: {synced} in order, {format_size(fetched)} fetched")
