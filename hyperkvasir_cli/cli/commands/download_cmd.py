"""`hyperkvasir download` and `hyperkvasir resume`."""

from __future__ import annotations

from pathlib import Path
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
    SelectClassOption,
    SelectExcludeOption,
    SelectIncludeOption,
    WaitLockOption,
    path_value,
)
from hyperkvasir_cli.cli.runtime import Runtime, command
from hyperkvasir_cli.core.errors import HyperkvasirError, UsageError, as_error
from hyperkvasir_cli.core.units import format_bytes

if TYPE_CHECKING:
    from hyperkvasir_cli.core.manifest import Part
    from hyperkvasir_cli.ops.download import DownloadOptions
    from hyperkvasir_cli.ops.downloads import DownloadPlan


ExtractOption = Annotated[
    bool, typer.Option("--extract", "-x", help="Extract each zip part after it is verified.")
]
ForceOption = Annotated[
    bool, typer.Option("--force", "-f", help="Fetch again even if a verified copy exists.")
]
ToOption = Annotated[
    Path | None,
    typer.Option(
        "--to",
        "-t",
        metavar="DIR",
        help="With a selection: write the members into DIR (DIR/<member path>) instead of "
        "the data folder.",
        show_default=False,
        parser=path_value,
    ),
]
DryRunOption = Annotated[
    bool,
    typer.Option("--dry-run", help="Say what would be fetched and how many bytes; fetch nothing."),
]


def report_plan(rt: Runtime, plan: DownloadPlan, json_output: bool) -> None:
    """`--dry-run`: what would be fetched and how many bytes, without a request."""
    if json_output:
        rt.console.emit_json(plan.as_json())
        return
    for planned in plan.parts:
        amount = (
            "unknown size"
            if planned.bytes_to_fetch is None
            else format_bytes(planned.bytes_to_fetch)
        )
        rt.console.out(f"{planned.part}: {planned.action.value}, {amount} from {planned.urls[0]}")
    total = plan.bytes_known
    line = f"total: {format_bytes(total)} to fetch"
    if plan.unknown_size:
        line = f"total: at least {format_bytes(total)}; sizes not published: "
        line += ", ".join(plan.unknown_size)
    rt.console.out(line)


def run_downloads(
    rt: Runtime,
    parts: list[Part],
    options: DownloadOptions,
    *,
    wait_lock: float | None,
    json_output: bool,
    extract: bool = False,
    command: str = "download",
) -> None:
    """Download under the lock; the JSON document at the end, also on error (the parts
    done so far, and what stopped the rest, Ctrl-C included)."""
    from hyperkvasir_cli.ops.downloads import DownloadReport, download_parts

    report = DownloadReport()
    try:
        download_parts(
            rt.session,
            parts,
            options,
            wait_lock=wait_lock,
            extract=extract,
            report=report,
            command=command,
        )
    except (HyperkvasirError, KeyboardInterrupt) as exc:
        if json_output:
            report.error = as_error(exc)
            rt.console.emit_json(report.as_json())
        raise
    if json_output:
        rt.console.emit_json(report.as_json())


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
    classes: SelectClassOption = None,
    include: SelectIncludeOption = None,
    exclude: SelectExcludeOption = None,
    to: ToOption = None,
) -> None:
    """Fetch parts into the data folder: resume, verify, record. A verified part is not
    fetched again.

    With --class, --include or --exclude: fetch only those members of one zip part, by
    range, straight into the extracted tree (CRC-checked, resumable)."""
    from hyperkvasir_cli.ops.downloader import download_options
    from hyperkvasir_cli.ops.downloads import parts_to_download, plan_downloads

    session = rt.session
    session.override(connections=connections, ca_bundle=ca_bundle, limit_rate=limit_rate)
    if classes or include or exclude:
        check_selective(parts, all_parts, extract, force)
        assert parts is not None
        run_selective(rt, parts[0], (classes, include, exclude), mirror, to, dry_run, json_output)
        return
    if to is not None:
        raise UsageError(
            "--to goes with a selection (--class, --include, --exclude)",
            hint="a whole archive goes to the archives folder; `hyperkvasir extract PART "
            "--to DIR` unpacks it elsewhere",
        )
    selected = parts_to_download(session, parts, all_parts)
    options = download_options(session, mirrors=mirror, force=force)
    if dry_run:
        report_plan(rt, plan_downloads(session, selected, options), json_output)
        return
    run_downloads(
        rt, selected, options, wait_lock=wait_lock, json_output=json_output, extract=extract
    )


Selection = tuple[list[str] | None, list[str] | None, list[str] | None]


def check_selective(parts: list[str] | None, all_parts: bool, extract: bool, force: bool) -> None:
    """Refuse what a selective download cannot do, before any request."""
    if all_parts or len(parts or []) != 1:
        raise UsageError(
            "--class, --include and --exclude select members of one zip part: name exactly one",
            hint="for example `hyperkvasir download labeled-images --class polyps`",
        )
    if extract or force:
        option = "--extract" if extract else "--force"
        raise UsageError(
            f"{option} does not go with --class, --include or --exclude",
            hint="selected members are written straight into the extracted tree, checked; "
            "files already there and intact are kept",
        )


def run_selective(
    rt: Runtime,
    part: str,
    selection: Selection,
    mirror: list[str] | None,
    to: Path | None,
    dry_run: bool,
    json_output: bool,
) -> None:
    """Fetch the selected members of ``part`` (or say what would be fetched)."""
    from hyperkvasir_cli.ops.members import selection_summary, selective_download

    classes, include, exclude = selection
    result = selective_download(
        rt.session,
        part,
        classes=classes or (),
        include=include or (),
        exclude=exclude or (),
        mirrors=mirror or (),
        to=to,
        dry_run=dry_run,
    )
    if json_output:
        rt.console.emit_json(result.as_json())
    elif dry_run:
        rt.console.out(selection_summary(result))
    if not dry_run:
        rt.console.info(selection_summary(result))


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
    """Continue interrupted downloads (all of them when no part is named), and extract
    those whose interrupted run was asked to (`download --extract`)."""
    from hyperkvasir_cli.ops.downloader import download_options
    from hyperkvasir_cli.ops.downloads import DownloadReport, parts_to_resume

    session = rt.session
    session.override(connections=connections, ca_bundle=ca_bundle, limit_rate=limit_rate)
    pending = parts_to_resume(session, parts)
    if not pending:
        rt.console.info("nothing to resume")
        if json_output:
            rt.console.emit_json(DownloadReport().as_json())
        return
    options = download_options(session, mirrors=mirror)
    run_downloads(
        rt, pending, options, wait_lock=wait_lock, json_output=json_output, command="resume"
    )
