"""`hyperkvasir stats [PART...]`: what is here, class by class, beside what was published."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from hyperkvasir_cli.cli.options import JobsOption, JsonOption, PartsArgument, path_value
from hyperkvasir_cli.cli.runtime import Runtime, command
from hyperkvasir_cli.core.errors import UsageError

if TYPE_CHECKING:
    from rich.table import Table

    from hyperkvasir_cli.cli.render_parts import Section
    from hyperkvasir_cli.ops.stats import Counted, StatsReport


class StatsFormat(str, Enum):
    table = "table"
    csv = "csv"
    markdown = "markdown"


FromArchiveOption = Annotated[
    bool,
    typer.Option(
        "--from-archive",
        "-A",
        help="Read the downloaded zip's directory instead of the extracted tree.",
    ),
]
ImagesOption = Annotated[
    bool,
    typer.Option("--images", "-i", help="Also read every image's header for its width x height."),
]
FormatOption = Annotated[
    StatsFormat,
    typer.Option("--format", "-F", help="table for people; csv (every count a row); markdown."),
]
StrictOption = Annotated[
    bool,
    typer.Option("--strict", "-s", help="Exit 5 when any count differs from the published one."),
]
VideoHeadersOption = Annotated[
    bool,
    typer.Option(
        "--video-headers",
        "-H",
        help="Read every AVI's header even where the video metadata has the video, and "
        "compare the two.",
    ),
]
RemoteOption = Annotated[
    bool,
    typer.Option(
        "--remote",
        "-r",
        help="Count the server's copy from its central directory, fetched by range (no "
        "archive needed).",
    ),
]
PlotOption = Annotated[
    Path | None,
    typer.Option(
        "--plot",
        "-p",
        help="Draw the labeled images' class distribution to FILE (.png or .svg).",
        show_default=False,
        parser=path_value,
    ),
]


@command
def stats(
    rt: Runtime,
    parts: PartsArgument = None,
    from_archive: FromArchiveOption = False,
    remote: RemoteOption = False,
    images: ImagesOption = False,
    output_format: FormatOption = StatsFormat.table,
    json_output: JsonOption = False,
    strict: StrictOption = False,
    plot: PlotOption = None,
    jobs: JobsOption = None,
    video_headers: VideoHeadersOption = False,
) -> None:
    """Count each part's files per class, organ and category beside the published counts.

    With no PART, every data part that is extracted or downloaded here. Reads the
    extracted tree, or the zip with --from-archive (the same numbers, without extracting),
    or the server's copy with --remote (the same numbers again, without downloading).
    With the video metadata downloaded, the videos' frames and durations come from it (no
    video is opened) and where the two disagree is shown; with --images, the image
    metadata's sizes are compared with the images. unlabeled-features counts the ARFF's
    attributes, instances and clusters; unlabeled-predictions (or one model's part) the
    images each model put in each class, and where the models agree. Differences are
    flagged and exit 0; with --strict they exit 5. --json prints one document: the part's
    own when one PART is named, else {"parts": [...]}.
    """
    from hyperkvasir_cli.dataset.plot import check_plot_path
    from hyperkvasir_cli.ops.stats import count_parts

    if json_output and output_format is not StatsFormat.table:
        raise UsageError("pass --json or --format, not both")
    if plot is not None:
        check_plot_path(plot)
    report = count_parts(
        rt.session,
        parts or [],
        from_archive=from_archive,
        images=images,
        jobs=jobs,
        video_headers=video_headers,
        remote=remote,
    )
    _print(rt, report, json_output, output_format)
    if plot is not None:
        _plot(rt, plot, report.parts)
    error = report.difference_error() if strict else None
    if error is not None:
        raise error
    warning = report.difference_warning()
    if warning is not None:
        rt.console.warn(warning)


def _print(rt: Runtime, report: StatsReport, json_output: bool, output_format: StatsFormat) -> None:
    from hyperkvasir_cli.cli.render_stats import part_report, render_csv, render_markdown

    results = report.parts
    if json_output:
        rt.console.emit_json(report.as_json())
    elif output_format is StatsFormat.csv:
        rt.console.stdout.write(render_csv(results))
    elif output_format is StatsFormat.markdown:
        rt.console.stdout.write(render_markdown([part_report(r) for r in results]))
    else:
        _print_tables(rt, results)


def _verdict(matches: object) -> str:
    if matches is None:
        return "nothing published to compare with"
    return "matches the published counts" if matches else "differs from the published counts:"


def _print_tables(rt: Runtime, results: list[Counted]) -> None:
    from hyperkvasir_cli.cli.render_stats import part_report
    from hyperkvasir_cli.ops.stats import counted_name

    for result in results:
        report = part_report(result)
        rt.console.out(report.heading)
        for section in report.sections:
            rt.console.render(_table(section))
        matches = result.as_json()["matches_published"]
        rt.console.out(f"{counted_name(result)}: {_verdict(matches)}")
        for note in report.notes:
            rt.console.out(f"  {note}")
        rt.console.out()


def _table(section: Section) -> Table:
    """The section as a terminal table: detail columns left out, groups as headings."""
    from rich import box
    from rich.table import Table

    shown = [i for i, c in enumerate(section.columns) if c not in section.detail]
    table = Table(
        title=section.title,
        title_justify="left",
        box=box.SIMPLE_HEAD,
        show_edge=False,
        pad_edge=False,
        collapse_padding=True,
    )
    for i in shown:
        name = section.columns[i]
        table.add_column(name, justify="right" if name in section.numeric else "left", no_wrap=True)
    flags = list(section.flagged) or [False] * len(section.rows)
    groups = list(section.groups) or [""] * len(section.rows)
    previous = ""
    for row, flagged, group in zip(section.rows, flags, groups, strict=True):
        if group != previous:
            table.add_row(group, style="bold", end_section=False)
            previous = group
        cells = [row[i] for i in shown]
        table.add_row(*cells, style="bold red" if flagged else None)
    return table


def _plot(rt: Runtime, path: Path, results: list[Counted]) -> None:
    from hyperkvasir_cli.dataset.plot import Bar, write_plot
    from hyperkvasir_cli.dataset.stats.compute import LabeledStats

    labeled = next((r for r in results if isinstance(r, LabeledStats)), None)
    if labeled is None:
        raise UsageError(
            "--plot draws the labeled images' classes, and labeled-images is not counted",
            hint="run `hyperkvasir stats labeled-images --plot FILE`",
        )
    bars = [Bar(c.name, c.count, c.published) for c in labeled.classes]
    write_plot(path, f"{labeled.overview.part}: images per class", bars)
    rt.console.info(f"wrote {path}")
