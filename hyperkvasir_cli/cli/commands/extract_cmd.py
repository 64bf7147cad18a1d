"""`hyperkvasir extract PART...`: unpack safely, skip what is intact, select, in parallel."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from hyperkvasir_cli.cli.options import (
    DryRunOption,
    JobsOption,
    JsonOption,
    PartsArgument,
    WaitLockOption,
    complete_class_names,
    path_value,
)
from hyperkvasir_cli.cli.render_preview import show_preview
from hyperkvasir_cli.cli.runtime import Runtime, command

ToOption = Annotated[
    Path | None,
    typer.Option(
        "--to",
        "-t",
        metavar="DIR",
        help="Extract into DIR (members land in DIR/<member path>) instead of the data folder.",
        show_default=False,
        parser=path_value,
    ),
]
IncludeOption = Annotated[
    list[str] | None,
    typer.Option(
        "--include",
        "-i",
        metavar="GLOB",
        help="Extract only members whose path matches GLOB (fnmatch, `*` matches `/` too); "
        "repeatable.",
        show_default=False,
    ),
]
ExcludeOption = Annotated[
    list[str] | None,
    typer.Option(
        "--exclude",
        "-x",
        metavar="GLOB",
        help="Skip members whose path matches GLOB; repeatable.",
        show_default=False,
    ),
]
ClassOption = Annotated[
    list[str] | None,
    typer.Option(
        "--class",
        "-k",
        metavar="NAME",
        help="Extract only this class of labeled images or videos, in any spelling "
        "(polyp, polyps, ...); repeatable.",
        show_default=False,
        autocompletion=complete_class_names,
    ),
]
VerifyOption = Annotated[
    bool,
    typer.Option("--verify", help="Check files already extracted by CRC-32, not only by size."),
]
ForceOption = Annotated[
    bool, typer.Option("--force", "-f", help="Extract every selected member again.")
]
DeleteArchiveOption = Annotated[
    bool,
    typer.Option(
        "--delete-archive",
        help="Delete the archive after a complete extraction whose every file was checked "
        "(implies --verify).",
    ),
]


@command
def extract(
    rt: Runtime,
    parts: PartsArgument = None,
    to: ToOption = None,
    include: IncludeOption = None,
    exclude: ExcludeOption = None,
    classes: ClassOption = None,
    jobs: JobsOption = None,
    verify: VerifyOption = False,
    force: ForceOption = False,
    delete_archive: DeleteArchiveOption = False,
    wait_lock: WaitLockOption = None,
    dry_run: DryRunOption = False,
    json_output: JsonOption = False,
) -> None:
    """Unpack downloaded parts safely, skipping what is already extracted and intact."""
    # Imported here so that other commands (and --help) start without the engine.
    from hyperkvasir_cli.ops.extract import extract_requested, requested_parts

    chosen, request = requested_parts(
        rt.session,
        parts or [],
        to=to,
        include=include or (),
        exclude=exclude or (),
        classes=classes or (),
        jobs=jobs,
        verify=verify,
        force=force,
        delete_archive=delete_archive,
    )
    if dry_run:
        from hyperkvasir_cli.ops.preview import preview_extract_parts

        show_preview(rt, preview_extract_parts(rt.session, chosen, request), json_output)
        return
    report = extract_requested(rt.session, chosen, request, wait_lock)
    if json_output:
        rt.console.emit_json(report.as_json())
