"""`hyperkvasir download` and `hyperkvasir resume`."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from hyperkvasir_cli.cli.options import (
    AllPartsOption,
    CaBundleOption,
    ConnectionsOption,
    JsonOption,
    LimitRateOption,
    MirrorOption,
    PartsArgument,
    WaitLockOption,
)
from hyperkvasir_cli.cli.runtime import Runtime, command
from hyperkvasir_cli.core.errors import HyperkvasirError, UsageError, as_error, error_json
from hyperkvasir_cli.core.units import format_bytes, format_duration

if TYPE_CHECKING:
    from hyperkvasir_cli.core.manifest import Part
    from hyperkvasir_cli.ops.download import DownloadOptions, DownloadOutcome, PlannedDownload


ExtractOption = Annotated[
    bool, typer.Option("--extract", "-x", help="Extract each zip part after it is verified.")
]
ForceOption = Annotated[
    bool, typer.Option("--force", "-f", help="Fetch again even if a verified copy exists.")
]
DryRunOption = Annotated[
    bool,
    typer.Option("--dry-run", help="Say what would be fetched and how many bytes; fetch nothing."),
]


def default_parts(rt: Runtime) -> list[Part]:
    """`--all`: every part except archives that only bundle other parts (the full zip,
    never needed beside the four it contains)."""
    return [p for p in rt.manifest.parts if not p.contains]


def _say(rt: Runtime, outcome: DownloadOutcome) -> None:
    if outcome.action == "skipped":
        rt.console.info(f"{outcome.part}: already verified at {outcome.path}; nothing to do")
        return
    rate = outcome.bytes_fetched / outcome.seconds if outcome.seconds > 0 else 0.0
    rt.console.info(
        f"{outcome.part}: {outcome.action}, {format_bytes(outcome.size)} verified "
        f"(sha256 {outcome.sha256[:16]}..., {outcome.sha256_source}); fetched "
        f"{format_bytes(outcome.bytes_fetched)} in {format_duration(outcome.seconds)} "
        f"({format_bytes(rate)}/s) -> {outcome.path}"
    )


def report_plan(rt: Runtime, plans: list[PlannedDownload], json_output: bool) -> None:
    """`--dry-run`: what would be fetched and how many bytes, without a request."""
    known = [p.bytes_to_fetch for p in plans if p.bytes_to_fetch is not None]
    unknown = [p.part for p in plans if p.bytes_to_fetch is None]
    total = sum(known)
    if json_output:
        rt.console.emit_json(
            {
                "dry_run": True,
                "parts": [
                    {
                        "part": p.part,
                        "action": p.action.value,
                        "bytes_to_fetch": p.bytes_to_fetch,
                        "urls": p.urls,
                    }
                    for p in plans
                ],
                "bytes_to_fetch": None if unknown else total,
                "bytes_to_fetch_known": total,
                "unknown_size": unknown,
            }
        )
        return
    for plan in plans:
        amount = (
            "unknown size" if plan.bytes_to_fetch is None else format_bytes(plan.bytes_to_fetch)
        )
        rt.console.out(f"{plan.part}: {plan.action.value}, {amount} from {plan.urls[0]}")
    line = f"total: {format_bytes(total)} ({total} B) to fetch"
    if unknown:
        line = f"total: at least {format_bytes(total)} ({total} B); sizes not published: "
        line += ", ".join(unknown)
    rt.console.out(line)


def run_downloads(
    rt: Runtime,
    parts: list[Part],
    options: DownloadOptions,
    *,
    wait_lock: float | None,
    json_output: bool,
    dry_run: bool,
    extract: bool = False,
) -> list[DownloadOutcome]:
    """Download each part under the lock; report as we go; JSON at the end (also on error)."""
    from hyperkvasir_cli.cli.downloading import make_downloader

    downloader = make_downloader(rt)
    if dry_run:
        records = rt.config_file.parts
        report_plan(
            rt, [downloader.plan(p, records.get(p.name), options) for p in parts], json_output
        )
        return []
    done: list[tuple[DownloadOutcome, dict[str, object] | None]] = []
    try:
        with rt.locked(wait_lock):
            for part in parts:
                record = rt.reload_config().parts.get(part.name)
                outcome = downloader.download(part, record, options)
                _say(rt, outcome)
                extracted = None
                if extract and part.archive_kind == "zip":
                    from hyperkvasir_cli.cli.extracting import extract_downloaded

                    extracted = extract_downloaded(rt, part).as_json()
                done.append((outcome, extracted))
    except (HyperkvasirError, KeyboardInterrupt) as exc:
        if json_output:  # the parts done so far, and what stopped the rest (also Ctrl-C)
            rt.console.emit_json(_document(done, as_error(exc)))
        raise
    if json_output:
        rt.console.emit_json(_document(done, None))
    return [outcome for outcome, _ in done]


def _document(
    done: list[tuple[DownloadOutcome, dict[str, object] | None]], error: HyperkvasirError | None
) -> dict[str, object]:
    return {
        "ok": error is None,
        "parts": [{**outcome.as_json(), "extract": extracted} for outcome, extracted in done],
        "error": None if error is None else error_json(error.exit_code, error.message, error.hint),
    }


@command
def download(
    rt: Runtime,
    parts: PartsArgument = None,
    all_parts: AllPartsOption = False,
    connections: ConnectionsOption = None,
    mirror: MirrorOption = None,
    extract: ExtractOption = False,
    force: ForceOption = False,
    dry_run: DryRunOption = False,
    ca_bundle: CaBundleOption = None,
    limit_rate: LimitRateOption = None,
    wait_lock: WaitLockOption = None,
    json_output: JsonOption = False,
) -> None:
    """Fetch parts into the data folder: resume, verify, record. A verified part is not
    fetched again."""
    from hyperkvasir_cli.cli.downloading import download_options

    rt.override(connections=connections, ca_bundle=ca_bundle, limit_rate=limit_rate)
    if not parts and not all_parts:
        raise UsageError(
            "name the parts to download, or pass --all",
            hint=f"parts: {', '.join(rt.manifest.names)}",
        )
    selected = default_parts(rt) if all_parts else rt.select_parts(parts)
    options = download_options(rt, mirrors=mirror, force=force)
    run_downloads(
        rt,
        selected,
        options,
        wait_lock=wait_lock,
        json_output=json_output,
        dry_run=dry_run,
        extract=extract,
    )


@command
def resume(
    rt: Runtime,
    parts: PartsArgument = None,
    connections: ConnectionsOption = None,
    mirror: MirrorOption = None,
    ca_bundle: CaBundleOption = None,
    limit_rate: LimitRateOption = None,
    wait_lock: WaitLockOption = None,
    json_output: JsonOption = False,
) -> None:
    """Continue interrupted downloads (all of them when no part is named)."""
    from hyperkvasir_cli.cli.downloading import download_options

    rt.override(connections=connections, ca_bundle=ca_bundle, limit_rate=limit_rate)
    candidates = rt.select_parts(parts) if parts else list(rt.manifest.parts)
    pending = [p for p in candidates if rt.layout.partial_path(p).exists()]
    if not pending:
        rt.console.info("nothing to resume")
        if json_output:
            rt.console.emit_json(_document([], None))
        return
    options = download_options(rt, mirrors=mirror)
    run_downloads(rt, pending, options, wait_lock=wait_lock, json_output=json_output, dry_run=False)
