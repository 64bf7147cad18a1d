"""Statistics as text for people and reports: sections of rows, markdown, CSV, bars.

Pure functions over the results of :mod:`stats`. The command layer draws the same
:class:`Section` objects as terminal tables; markdown and CSV are rendered here.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from typing import TYPE_CHECKING

from hyperkvasir_cli.cli.render_parts import (
    PartReport,
    Section,
    bar,
    key_values,
    number,
    plural,
    signed,
)
from hyperkvasir_cli.core.units import format_bytes, format_duration
from hyperkvasir_cli.dataset.stats.base import ImageSizes, PartStats
from hyperkvasir_cli.dataset.stats.compute import LabeledStats
from hyperkvasir_cli.dataset.stats.segmentation import SegmentedStats
from hyperkvasir_cli.dataset.stats.videos import VideoStats

if TYPE_CHECKING:
    from hyperkvasir_cli.ops.table_stats import TableStats

TOP_SIZES = 12  # image sizes listed one by one; the rest are summed up


def heading(stats: PartStats) -> str:
    o = stats.overview
    published = f" ({o.published_files:,} published)" if o.published_files is not None else ""
    return (
        f"{o.part} ({o.source.kind} {o.source.display_path}): {o.files:,} data files"
        f"{published}, {format_bytes(o.bytes)}"
    )


def part_report(stats: PartStats | TableStats) -> PartReport:
    from hyperkvasir_cli.cli import render_tables

    if not hasattr(stats, "overview"):
        return render_tables.table_report(stats)
    if isinstance(stats, LabeledStats):
        sections = labeled_sections(stats)
    elif isinstance(stats, SegmentedStats):
        sections = segmented_sections(stats)
    elif isinstance(stats, VideoStats):
        sections = video_sections(stats)
        if stats.metadata is not None:
            sections += render_tables.video_metadata_sections(stats.metadata)
    else:
        sections = []
    images = getattr(stats, "images", None)
    if isinstance(images, ImageSizes):
        sections.append(size_section(images))
    checked = getattr(stats, "image_metadata", None)
    if checked is not None:
        sections += render_tables.image_metadata_sections(checked)
    return PartReport(heading(stats), sections, stats.differences())


def labeled_sections(stats: LabeledStats) -> list[Section]:
    largest = max((c.count for c in stats.classes), default=0)
    classes = Section(
        "classes",
        ("class", "organ", "category", "images", "published", "diff", "share"),
        [
            (
                c.name,
                c.organ or "",
                c.category or "",
                number(c.count),
                number(c.published),
                signed(c.difference),
                bar(c.count, largest),
            )
            for c in stats.classes
        ],
        frozenset({"images", "published", "diff"}),
        [bool(c.difference) for c in stats.classes],
        detail=frozenset({"organ", "category"}),
        groups=[group_label(c.organ, c.category) for c in stats.classes],
    )
    groups = []
    for title, counts in (("organs", stats.organs), ("categories", stats.categories)):
        rows = [
            (name, number(g.count), number(g.published), signed(_diff(g.count, g.published)))
            for name, g in counts.items()
        ]
        flagged = [bool(_diff(g.count, g.published)) for g in counts.values()]
        numeric = frozenset({"images", "published", "diff"})
        columns = (title[:-1] if title == "organs" else "category", "images", "published")
        groups.append(Section(title, (*columns, "diff"), rows, numeric, flagged))
    return [classes, *groups]


def group_label(organ: str | None, category: str | None) -> str:
    """``lower GI: pathological findings``: short enough for the class column."""
    if organ is None or category is None:
        return "other"
    return f"{organ.split('-')[0]} GI: {category.replace('-', ' ')}"


def _diff(count: int, published: int | None) -> int | None:
    return None if published is None else count - published


def segmented_sections(stats: SegmentedStats) -> list[Section]:
    pairing, boxes, area = stats.pairing, stats.boxes, stats.mask_area
    summary = [
        ("image/mask pairs", number(len(pairing.pairs))),
        ("images without a mask", number(len(pairing.images_without_mask))),
        ("masks without an image", number(len(pairing.masks_without_image))),
    ]
    if boxes.file is None:
        summary.append(("bounding boxes", "no bounding-boxes.json"))
    elif boxes.problem:
        summary.append(("bounding boxes", f"unreadable: {boxes.problem}"))
    else:
        summary.append(("bounding boxes", number(boxes.total)))
        summary += [
            (f"images with {plural(int(n), 'box', 'boxes')}", number(c))
            for n, c in (boxes.per_image or {}).items()
        ]
        summary.append(("images without a box entry", number(len(boxes.images_without_entry))))
    if area.mean is not None:
        spread = f"min {area.minimum:.3f}, mean {area.mean:.3f}, median {area.median:.3f}"
        summary.append(("polyp area of masks", f"{spread}, max {area.maximum:.3f}"))
    if area.unreadable:
        summary.append(("unreadable masks", number(len(area.unreadable))))
    return [key_values("segmentation", summary)]


def video_sections(stats: VideoStats) -> list[Section]:
    findings = Section(
        "findings",
        ("finding", "organ", "category", "videos", "size", "duration", "unknown"),
        [
            (
                f.finding,
                f.organ,
                f.category,
                number(f.count),
                format_bytes(f.bytes),
                format_duration(f.seconds) if f.count > f.unknown_duration else "unknown",
                number(f.unknown_duration),
            )
            for f in stats.findings
        ],
        frozenset({"videos", "size", "duration", "unknown"}),
        detail=frozenset({"organ", "category"}),
        groups=[group_label(f.organ, f.category) for f in stats.findings],
    )
    organs = Section(
        "organs",
        ("organ", "videos", "size"),
        [(o, number(v["count"]), format_bytes(v["bytes"])) for o, v in stats.organs.items()],
        frozenset({"videos", "size"}),
    )
    known = len(stats.videos) - stats.unknown_duration
    sources = sorted({v.info_source for v in stats.videos if v.info_source != "none"})
    said_by = " and ".join("AVI header" if s == "header" else "video metadata" for s in sources)
    total = key_values(
        "duration",
        [
            (
                f"known ({said_by or 'AVI header'})",
                f"{plural(known, 'video', 'videos')}, {format_duration(stats.seconds)}",
            ),
            ("unknown (other containers)", plural(stats.unknown_duration, "video", "videos")),
        ],
    )
    return [findings, organs, total]


def size_section(images: ImageSizes) -> Section:
    items = list(images.sizes.items())
    shown, others = items[:TOP_SIZES], items[TOP_SIZES:]
    if others:
        shown.append((f"{len(others)} other sizes", sum(n for _, n in others)))
    if images.unreadable:
        shown.append(("unreadable", len(images.unreadable)))
    largest = max((n for _, n in shown), default=0)
    rows = [(size, number(n), bar(n, largest)) for size, n in shown]
    return Section(
        "image sizes (width x height)", ("size", "images", "share"), rows, frozenset({"images"})
    )


def render_markdown(reports: Sequence[PartReport]) -> str:
    """Markdown for reports: a heading per part, a table per section, differences listed."""
    lines: list[str] = []
    for report in reports:
        lines += [f"## {report.heading}", ""]
        for section in report.sections:
            lines += [f"### {section.title}", ""]
            header = [c or " " for c in section.columns]
            lines.append("| " + " | ".join(header) + " |")
            aligns = ["---:" if c in section.numeric else "---" for c in section.columns]
            lines.append("| " + " | ".join(aligns) + " |")
            lines += ["| " + " | ".join(_md(cell) for cell in row) + " |" for row in section.rows]
            lines.append("")
        lines += [f"- differs: {note}" for note in report.notes] or [
            "- matches the published counts"
        ]
        lines.append("")
    return "\n".join(lines)


def _md(cell: str) -> str:
    return cell.replace("|", "\\|")


CSV_COLUMNS = (
    "part",
    "section",
    "name",
    "organ",
    "category",
    "count",
    "published",
    "difference",
    "bytes",
)
CsvRow = tuple[str, str, str | None, str | None, int, int | None, int | None, int | None]


def _row(
    section: str,
    name: str,
    count: int,
    published: int | None = None,
    *,
    organ: str | None = None,
    category: str | None = None,
    size: int | None = None,
) -> CsvRow:
    return (section, name, organ, category, count, published, _diff(count, published), size)


def _labeled_rows(stats: LabeledStats) -> list[CsvRow]:
    rows = [
        _row(
            "class", c.name, c.count, c.published, organ=c.organ, category=c.category, size=c.bytes
        )
        for c in stats.classes
    ]
    for section, groups in (("organ", stats.organs), ("category", stats.categories)):
        rows += [_row(section, name, g.count, g.published) for name, g in groups.items()]
    rows.append(_row("unknown", "outside the 23 classes", len(stats.unknown), 0))
    return rows


def _segmented_rows(stats: SegmentedStats) -> list[CsvRow]:
    pairing = stats.pairing
    rows = [
        _row("pairs", "image/mask pairs", len(pairing.pairs)),
        _row("unmatched", "images without a mask", len(pairing.images_without_mask), 0),
        _row("unmatched", "masks without an image", len(pairing.masks_without_image), 0),
    ]
    per_image = stats.boxes.per_image or {}
    return rows + [_row("boxes-per-image", boxes, n) for boxes, n in per_image.items()]


def _video_rows(stats: VideoStats) -> list[CsvRow]:
    rows = [
        _row("finding", f.finding, f.count, organ=f.organ, category=f.category, size=f.bytes)
        for f in stats.findings
    ]
    return rows + [_row("organ", k, v["count"], size=v["bytes"]) for k, v in stats.organs.items()]


def count_rows(stats: PartStats | TableStats) -> list[tuple[object, ...]]:
    """Every count of ``stats`` as one CSV row (see :data:`CSV_COLUMNS`)."""
    if not hasattr(stats, "overview"):
        from hyperkvasir_cli.cli.render_tables import table_count_rows

        return list(table_count_rows(stats))
    o = stats.overview
    rows = [_row("total", "data files", o.files, o.published_files, size=o.bytes)]
    if isinstance(stats, LabeledStats):
        rows += _labeled_rows(stats)
    elif isinstance(stats, SegmentedStats):
        rows += _segmented_rows(stats)
    elif isinstance(stats, VideoStats):
        rows += _video_rows(stats)
    images = getattr(stats, "images", None)
    if isinstance(images, ImageSizes):
        rows += [_row("image-size", size, n) for size, n in images.sizes.items()]
    return [(o.part, *row) for row in rows]


def render_csv(all_stats: Sequence[PartStats | TableStats]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for stats in all_stats:
        writer.writerows(["" if v is None else v for v in row] for row in count_rows(stats))
    return buffer.getvalue()
