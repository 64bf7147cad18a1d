"""`hyperkvasir sync`: make the local copy right, and do nothing when it already is."""

from __future__ import annotations

from typing import Annotated

import typer

from hyperkvasir_cli.cli.options import (
    AllPartsOption,
    CaBundleOption,
    ConnectionsOption,
    DryRunOption,
    JobsOption,
    JsonOption,
    LimitRateOption,
    MirrorOption,
    PartsArgument,
    WaitLockOption,
)
from hyperkvasir_cli.cli.runtime import Runtime, command
from hyperkvasir_cli.core.errors import HyperkvasirError, as_error

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
    dry_run: DryRunOption = False,
    json_output: JsonOption = False,
) -> None:
    """Download or resume, verify and extract, in one run; nothing to do exits 0 having
    sent no request (cron-safe). Default: the parts recorded in the data folder."""
    from hyperkvasir_cli.ops.sync import SyncReport, sync_parts

    rt.session.override(connections=connections, ca_bundle=ca_bundle, limit_rate=limit_rate)
    if dry_run:
        from hyperkvasir_cli.cli.render_preview import show_preview
        from hyperkvasir_cli.ops.sync import preview_sync_parts

        preview = preview_sync_parts(
            rt.session, parts, all_parts=all_parts, extract=not no_extract, mirrors=mirror
        )
        if check_remote:
            rt.console.info("--dry-run asks no server: --check-remote is not done")
        show_preview(rt, preview, json_output)
        return
    report = SyncReport()
    try:
        sync_parts(
            rt.session,
            parts,
            all_parts=all_parts,
            check_remote=check_remote,
            extract=not no_extract,
            jobs=jobs,
            mirrors=mirror,
            wait_lock=wait_lock,
            report=report,
        )
    except (HyperkvasirError, KeyboardInterrupt) as exc:
        report.error = as_error(exc)  # also Ctrl-C and SIGTERM: the document must not say ok
        raise
    finally:
        if json_output and report.started:
            rt.console.emit_json(report.as_json())
    rt.console.info(report.summary())
