"""`hyperkvasir checksum [PART...]`: prove archives, zip members and extracted files intact."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from hyperkvasir_cli.cli.options import JobsOption, JsonOption, PartsArgument, path_value
from hyperkvasir_cli.cli.runtime import Runtime, command
from hyperkvasir_cli.core.errors import UsageError

if TYPE_CHECKING:
    from hyperkvasir_cli.check.integrity import CheckReport
    from hyperkvasir_cli.ops.checksum import ChecksumResult


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
        parser=path_value,
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
        help="plain: a line per archive and per failure, one per part for the files (all with "
        "--verbose); sha256sum, md5sum, ...: lines that "
        "`sha256sum -c` (etc.) accepts when run in the data folder.",
    ),
]
VerboseOption = Annotated[
    bool,
    typer.Option(
        "--verbose",
        "-v",
        help="List every file checked (members, extracted or listed files), not only "
        "failures and one summary line per part; with --json, every file's item too.",
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
        parser=path_value,
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
    verbose: VerboseOption = False,
    json_output: JsonOption = False,
) -> None:
    """Prove archives intact (size and sha256: the manifest's, else the one recorded at
    first download), and with --deep every zip member, with --extracted every extracted
    file. Exit 0 when all is intact, 5 on any mismatch, 6 on an unreadable, corrupt or
    unsafe archive (a zip member that fails); the higher code when both occur."""
    from hyperkvasir_cli.check.parts import CheckOptions
    from hyperkvasir_cli.ops.checksum import check_listed_files, check_parts, record_results

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
    session = rt.session
    workers = session.jobs(jobs)
    if check is not None:
        result = check_listed_files(session, check, chosen, workers)
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
        result = check_parts(session, parts or [], options)
    # --algorithm with PARTs: a digest to print besides the sha256 check.
    digest = algorithm.value if algorithm is not None and check is None else None
    _show(rt, result, output_format, json_output, digest, verbose)
    record_results(session, result)
    error = result.failure()
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


def _show(
    rt: Runtime,
    result: ChecksumResult,
    output_format: OutputFormat,
    json_output: bool,
    digest: str | None = None,
    verbose: bool = False,
) -> None:
    """Archives and problems one line each, and the files checked one by one in a line per
    part (every file with ``verbose``); with --quiet, the problems only."""
    from hyperkvasir_cli.check.integrity import is_listed
    from hyperkvasir_cli.cli.render_checks import (
        checksum_file_lines,
        item_line,
        part_lines,
        summary_line,
    )

    console = rt.console
    report = result.report
    for note in report.notes:
        console.info(note)
    if json_output:
        console.emit_json(result.as_json(verbose))
    elif output_format is OutputFormat.plain:
        for item in report.items:
            if is_listed(item, verbose) and not (console.quiet and not item.is_problem):
                console.out(item_line(item, digest))
        if report.items and not console.quiet:
            for line in [] if verbose else part_lines(report):
                console.out(line)
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
