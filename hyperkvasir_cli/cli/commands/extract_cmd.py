"""`hyperkvasir extract PART...`: unpack safely, skip what is intact, select, in parallel."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from hyperkvasir_cli.archive.selection import Selection
from hyperkvasir_cli.cli.options import (
    JobsOption,
    JsonOption,
    PartsArgument,
    WaitLockOption,
    complete_class_names,
)
from hyperkvasir_cli.cli.runtime import Runtime, command
from hyperkvasir_cli.core.errors import UsageError

ToOption = Annotated[
    Path | None,
    typer.Option(
        "--to",
        "-t",
        metavar="DIR",
        help="Extract into DIR (members land in DIR/<member path>) instead of the data folder.",
        show_default=False,
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
    json_output: JsonOption = False,
) -> None:
    """Unpack downloaded parts safely, skipping what is already extracted and intact."""
    # Imported here so that other commands (and --help) start without the engine.
    from hyperkvasir_cli.cli.extracting import ExtractRequest, check_request, extract_part, summary
    from hyperkvasir_cli.cli.fetching import ensure_archive, ensure_verified

    if not parts:
        raise UsageError("name the parts to extract", hint=f"parts: {', '.join(rt.manifest.names)}")
    request = ExtractRequest(
        target=to,
        selection=Selection.build(include or (), exclude or (), classes or ()),
        jobs=jobs,
        verify=verify,
        force=force,
        delete_archive=delete_archive,
    )
    selected_parts = rt.select_parts(parts)
    check_request(selected_parts, request)
    # Missing archives are downloaded first; that takes the lock on its own.
    archives = [ensure_archive(rt, part) for part in selected_parts]
    reports = []
    results = []
    with rt.locked(wait_lock):
        # Every archive is proven the part's before the first is extracted (exit 5).
        for part, archive in zip(selected_parts, archives, strict=True):
            ensure_verified(rt, part, archive)
        for part, archive in zip(selected_parts, archives, strict=True):
            result = extract_part(rt, part, archive, request)
            rt.console.info(summary(part, result))
            results.append(result)
            reports.append(
                {"part": part.name, **result.as_json(), "archive_deleted": delete_archive}
            )
    # An archive without files says so itself; only a selection that missed files is wrong.
    nothing_selected = all(r.selected == 0 for r in results)
    if (
        not request.selection.is_everything
        and nothing_selected
        and any(r.archive_files != 0 for r in results)
    ):
        raise UsageError(
            "--include, --exclude or --class matched no member of "
            + ", ".join(p.name for p in selected_parts),
            hint="globs match the whole member path, e.g. '*/polyps/*' or 'labeled-images/*'",
        )
    if json_output:
        rt.console.emit_json({"parts": reports})
