"""`hyperkvasir checksum [PART...]`: prove archives, zip members and extracted files intact."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from hyperkvasir_cli.cli.options import JobsOption, JsonOption, PartsArgument
from hyperkvasir_cli.cli.runtime import Runtime, command
from hyperkvasir_cli.core.errors import ConfigError, LockedError, UsageError

if TYPE_CHECKING:
    from hyperkvasir_cli.check.integrity import CheckReport
    from hyperkvasir_cli.check.parts import CheckOptions
    from hyperkvasir_cli.core.manifest import Part
    from hyperkvasir_cli.core.progress import ProgressReporter


class Algorithm(str, Enum):
    md5 = "md5"
    sha1 = "sha1"
    sha256 = "sha256"
    sha512 = "sha512"
    blake2b = "blake2b"


class OutputFormat(str, Enum):
    plain = "plain"
    md5sum = "md5sum"
    sha1sum = "sha1sum"
    sha256sum = "sha256sum"
    sha512sum = "sha512sum"
    b2sum = "b2sum"


def algorithm_of_format(output_format: str) -> str | None:
    """The digest a checksum-file format is written with (None for plain output)."""
    from hyperkvasir_cli.check.checkfile import SUM_TOOLS

    return {tool: algorithm for algorithm, tool in SUM_TOOLS.items()}.get(output_format)


DeepOption = Annotated[
    bool,
    typer.Option(
        "--deep",
        "-D",
        help="Also read every zip member to its end and check its CRC-32 and size.",
    ),
]
ExtractedOption = Annotated[
    bool,
    typer.Option(
        "--extracted",
        "-e",
        help="Also check every extracted file against the archive's central directory "
        "(size and CRC-32); names missing, changed and unexpected files.",
    ),
]
QuickOption = Annotated[
    bool,
    typer.Option(
        "--quick",
        help="Compare sizes only, reading no content (a fast pre-flight, e.g. in CI).",
    ),
]
ToOption = Annotated[
    Path | None,
    typer.Option(
        "--to",
        help="With --extracted: the folder the parts were extracted into "
        "(default: the recorded one, else the data folder).",
        show_default=False,
    ),
]
AlgorithmOption = Annotated[
    Algorithm | None,
    typer.Option(
        "--algorithm",
        "-A",
        help="Digest to print besides the sha256 check; with --check, the file's algorithm "
        "(default: told by each line).",
        show_default=False,
    ),
]
FormatOption = Annotated[
    OutputFormat,
    typer.Option(
        "--format",
        "-f",
        help="plain: one OK/FAILED line per item; sha256sum, md5sum, ...: lines that "
        "`sha256sum -c` (etc.) accepts when run in the data folder.",
    ),
]
CheckFileOption = Annotated[
    Path | None,
    typer.Option(
        "--check",
        "-C",
        help="Verify the files listed in a sha256sum/md5sum/... or BSD-style checksum file "
        "(paths relative to its folder).",
        show_default=False,
    ),
]


@command
def checksum(
    rt: Runtime,
    parts: PartsArgument = None,
    deep: DeepOption = False,
    extracted: ExtractedOption = False,
    quick: QuickOption = False,
    to: ToOption = None,
    algorithm: AlgorithmOption = None,
    output_format: FormatOption = OutputFormat.plain,
    check: CheckFileOption = None,
    jobs: JobsOption = None,
    json_output: JsonOption = False,
) -> None:
    """Prove archives intact (size and sha256: the manifest's, else the one recorded at
    first download), and with --deep every zip member, with --extracted every extracted
    file. Exit 0 when all is intact, 5 on any mismatch, 6 on an unreadable, corrupt or
    unsafe archive (a zip member that fails); the higher code when both occur."""
    from hyperkvasir_cli.check.checkfile import verify_check_file
    from hyperkvasir_cli.check.integrity import failure_error
    from hyperkvasir_cli.check.parts import CheckOptions

    chosen = resolve_algorithm(algorithm.value if algorithm else None, output_format.value)
    check_option_conflicts(
        parts=bool(parts),
        deep=deep,
        extracted=extracted,
        quick=quick,
        to=to is not None,
        check=check is not None,
        sum_format=output_format is not OutputFormat.plain,
        json_output=json_output,
        digest=algorithm is not None,
    )
    workers = rt.jobs(jobs)
    progress = rt.console.progress()
    if check is not None:
        report = verify_check_file(check, chosen, workers, progress)
    else:
        options = CheckOptions(
            deep=deep,
            extracted=extracted,
            quick=quick,
            to=to.expanduser().absolute() if to else None,
            algorithm=chosen or "sha256",
            digest_extracted=output_format is not OutputFormat.plain or algorithm is not None,
            jobs=workers,
        )
        report = _check_parts(rt, parts or [], options, progress)
        chosen = options.algorithm
    # --algorithm with PARTs: a digest to print besides the sha256 check.
    digest = algorithm.value if algorithm is not None and check is None else None
    _show(rt, report, output_format, chosen, json_output, digest)
    _record_results(rt, report)
    error = failure_error(report)
    if error is not None:
        raise error


def resolve_algorithm(algorithm: str | None, output_format: str) -> str | None:
    """The algorithm in use: --algorithm, else the one a sum format implies; a conflict
    between the two is a usage error."""
    from hyperkvasir_cli.check.checkfile import SUM_TOOLS

    implied = algorithm_of_format(output_format)
    if implied and algorithm and implied != algorithm:
        raise UsageError(
            f"--format {output_format} prints {implied} digests, but --algorithm is {algorithm}",
            hint=f"drop --algorithm, or use --format {SUM_TOOLS[algorithm]}",
        )
    return algorithm or implied


def check_option_conflicts(
    *,
    parts: bool,
    deep: bool,
    extracted: bool,
    quick: bool,
    to: bool,
    check: bool,
    sum_format: bool,
    json_output: bool,
    digest: bool = False,
) -> None:
    """Refuse option combinations that cannot mean anything (exit 2). ``digest``: an
    --algorithm was given."""
    conflicts = [
        (
            check and (parts or deep or extracted or quick or to),
            "--check verifies the listed "
            "files only; it takes no PART, --deep, --extracted, --quick or --to",
        ),
        (check and sum_format, "--check reads a checksum file; --format writes one"),
        (sum_format and json_output, "--format prints a checksum file; --json a JSON document"),
        (quick and deep, "--quick reads no content; --deep reads every member"),
        (quick and (sum_format or (digest and not check)), "--quick computes no digest to print"),
        (to and not extracted, "--to names an extraction target; it needs --extracted"),
    ]
    for conflict, message in conflicts:
        if conflict:
            raise UsageError(
                f"conflicting options: {message}", hint="see `hyperkvasir checksum --help`"
            )


def parts_to_check(rt: Runtime, names: list[str], extracted: bool) -> tuple[list[Part], list[Part]]:
    """The parts to check (each named one must be downloaded), or every part whose archive
    is here; and, second, those whose archive was deleted after extraction (named, with
    ``extracted``; or not named: all of them)."""
    from hyperkvasir_cli.check.parts import archive_deleted

    records = rt.config_file.parts

    def deleted(part: Part) -> bool:
        return archive_deleted(part, rt.layout, records.get(part.name))

    if not names:
        here = [p for p in rt.manifest.parts if rt.layout.archive_path(p).exists()]
        return here, [p for p in rt.manifest.parts if deleted(p)]
    parts = rt.manifest.select(names)
    absent = [p for p in parts if not rt.layout.archive_path(p).exists()]
    gone = [p for p in absent if deleted(p)]
    if gone and not extracted:
        listed = " ".join(p.name for p in gone)
        raise UsageError(
            f"the archive of {listed} was deleted after extraction (extract "
            "--delete-archive): nothing to check",
            hint=f"to check the extracted files, download it again: `hyperkvasir download "
            f"{listed}`, then `hyperkvasir checksum {listed} --extracted`",
        )
    absent = [p for p in absent if p not in gone]
    if absent:
        described = ", ".join(f"{p.name} ({rt.layout.archive_path(p)})" for p in absent)
        resumable = [p.name for p in absent if rt.layout.partial_path(p).exists()]
        hint = f"run `hyperkvasir download {' '.join(p.name for p in absent)}` first"
        if resumable:
            hint = f"finish the download first: `hyperkvasir resume {' '.join(resumable)}`"
        raise UsageError(f"not downloaded, nothing to check: {described}", hint=hint)
    return [p for p in parts if p not in gone], gone


def _check_parts(
    rt: Runtime, names: list[str], options: CheckOptions, progress: ProgressReporter
) -> CheckReport:
    from hyperkvasir_cli.check.integrity import CheckReport
    from hyperkvasir_cli.check.parts import verify_deleted_archives, verify_parts

    parts, deleted = parts_to_check(rt, names, options.extracted)
    report = CheckReport()
    if parts:
        records = rt.config_file.parts
        report = verify_parts(
            parts, rt.layout, records, options, named=bool(names), progress=progress
        )
    if deleted and options.extracted:
        gone = verify_deleted_archives(deleted, rt.layout, rt.config_file.parts, options)
        report.items.extend(gone.items)
        report.extract_to.update(gone.extract_to)
    elif deleted:
        report.notes.extend(
            f"{part.name}: the archive was deleted after extraction (extract "
            "--delete-archive); nothing to check without it (see --extracted)"
            for part in deleted
        )
    if not parts and not report.items:
        report.notes.append(f"nothing to check: no archive in {rt.layout.archives_dir}")
    return report


def _show(
    rt: Runtime,
    report: CheckReport,
    output_format: OutputFormat,
    algorithm: str | None,
    json_output: bool,
    digest: str | None = None,
) -> None:
    from hyperkvasir_cli.cli.render_checks import (
        checksum_file_lines,
        item_line,
        report_json,
        summary_line,
    )

    console = rt.console
    for note in report.notes:
        console.info(note)
    if json_output:
        console.emit_json(report_json(report, algorithm))
    elif output_format is OutputFormat.plain:
        for item in report.items:
            console.out(item_line(item, digest))
        if report.items:
            console.out(summary_line(report))
    else:
        lines = checksum_file_lines(report, algorithm_of_format(output_format.value) or "sha256")
        for line in lines:
            console.out(line)
        for item in report.problems:  # stdout is a checksum file now: problems go to stderr
            console.warn(item_line(item))
        console.info(summary_line(report))
    _warn_unverified(rt, report)


def _warn_unverified(rt: Runtime, report: CheckReport) -> None:
    """Items nothing could vouch for exit 0 (nothing is known to be wrong) but are not ok:
    one warning line says so, whatever the output format."""
    unverified = [item for item in report.items if item.result == "unverifiable"]
    if not unverified:
        return
    count = len(unverified)
    names = ", ".join(item.path for item in unverified[:5])
    more = f" and {count - 5} more" if count > 5 else ""
    item_word = "item" if count == 1 else "items"
    verb = "is" if count == 1 else "are"
    rt.console.warn(
        f"{count} checked {item_word} could not be verified and {verb} not counted as ok: "
        f"{names}{more} (see NOT VERIFIED above, or `unverifiable` in --json)"
    )


def _record_results(rt: Runtime, report: CheckReport) -> None:
    """Record when each archive was verified, and withdraw the record of verification of
    each archive found damaged (``report.damaged``), so that a plain `download` or `sync`
    checks it again, sets it aside and fetches the part anew instead of skipping it.

    The lock is taken briefly, after the check; a held lock only costs the record (a
    warning says so). A record verified again meanwhile (by another run) is left alone.
    """
    from hyperkvasir_cli.check.integrity import verification_fields

    moment = rt.console.clock.now()
    pending = [item for item in report.items if verification_fields(item, None, moment)]
    seen = rt.config_file.parts
    damaged = [
        name
        for name in dict.fromkeys(report.damaged)
        if name in seen and seen[name].verified_at is not None
    ]
    if not pending and not damaged:
        return
    try:
        with rt.locked():
            records = rt.reload_config().parts
            for item in pending:
                fields = verification_fields(item, records.get(item.part or ""), moment)
                if item.part and fields:
                    rt.store.update_part(item.part, **fields)
            for name in damaged:
                record = records.get(name)
                if record is not None and record.verified_at == seen[name].verified_at:
                    rt.store.forget_part_fields(name, "verified_at")
                    rt.console.info(
                        f"{name}: the archive is no longer recorded as verified; "
                        f"`hyperkvasir download {name}` (or `sync`) checks it again, sets it "
                        "aside and fetches it anew"
                    )
    except (LockedError, ConfigError, OSError) as exc:
        where = "" if isinstance(exc, LockedError) else f" in {rt.config_path}"
        why = exc.message if isinstance(exc, LockedError) else str(exc)
        rt.console.warn(f"the results were not recorded{where}: {why}")
        if damaged:
            names = " ".join(damaged)
            rt.console.warn(
                f"{names} stay recorded as verified, so a plain `hyperkvasir download` "
                f"skips them: fetch them again with `hyperkvasir download {names} --force`"
            )
