"""A horizontal bar chart of counts, as PNG (Pillow) or SVG (written by hand).

Each bar may carry its published count as a tick; bars that differ from it are drawn in
another colour. Linear scale on purpose: the dataset's imbalance is the thing to see.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from xml.sax.saxutils import escape

from hyperkvasir_cli.core.atomic import atomic_write_bytes
from hyperkvasir_cli.core.errors import UsageError

ROW = 20  # pixels per bar
LABEL_WIDTH = 230
BAR_AREA = 420
COUNT_WIDTH = 90
TOP = 48
MARGIN = 10
WIDTH = MARGIN + LABEL_WIDTH + BAR_AREA + COUNT_WIDTH + MARGIN
COLOUR = "#4878a8"
DIFFERS = "#d9822b"
TICK = "#202020"
PLOT_FORMATS = (".png", ".svg")


@dataclass(frozen=True)
class Bar:
    label: str
    count: int
    published: int | None = None

    @property
    def differs(self) -> bool:
        return self.published is not None and self.published != self.count


def _scale(bars: Sequence[Bar]) -> float:
    largest = max([b.count for b in bars] + [b.published or 0 for b in bars] + [1])
    return BAR_AREA / largest


def _label_x(item: Bar, x0: float, scale: float) -> float:
    """Counts go right of the bar and of the published tick, whichever reaches further."""
    return round(x0 + max(item.count, item.published or 0) * scale + 6, 2)


LEGEND = "bars: images found; tick: published count; orange: differs from published"


def _height(bars: Sequence[Bar]) -> int:
    return TOP + ROW * len(bars) + MARGIN


def render_svg(title: str, bars: Sequence[Bar]) -> str:
    """The chart as a standalone SVG document."""
    scale, x0 = _scale(bars), MARGIN + LABEL_WIDTH
    height = _height(bars)
    lines = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" '
        f'viewBox="0 0 {WIDTH} {height}" font-family="sans-serif" font-size="12">',
        f'<rect width="{WIDTH}" height="{height}" fill="white"/>',
        f'<text x="{MARGIN}" y="{TOP - 22}" font-size="14">{escape(title)}</text>',
        f'<text x="{MARGIN}" y="{TOP - 6}" font-size="10" fill="#606060">{LEGEND}</text>',
    ]
    for row, item in enumerate(bars):
        y = TOP + row * ROW
        width = round(item.count * scale, 2)
        colour = DIFFERS if item.differs else COLOUR
        lines += [
            f'<text x="{x0 - 6}" y="{y + 14}" text-anchor="end">{escape(item.label)}</text>',
            f'<rect x="{x0}" y="{y + 3}" width="{width}" height="{ROW - 6}" fill="{colour}"/>',
            f'<text x="{_label_x(item, x0, scale)}" y="{y + 14}">{item.count:,}</text>',
        ]
        if item.published is not None:
            tick = round(x0 + item.published * scale, 2)
            lines.append(
                f'<line x1="{tick}" y1="{y + 1}" x2="{tick}" y2="{y + ROW - 1}" '
                f'stroke="{TICK}" stroke-width="2"><title>published {item.published:,}</title>'
                "</line>"
            )
    lines.append("</svg>")
    return "\n".join(lines) + "\n"


def render_png(title: str, bars: Sequence[Bar]) -> bytes:
    """The chart as PNG bytes, drawn with Pillow's ImageDraw and its default font."""
    from PIL import Image, ImageDraw, ImageFont

    scale, x0 = _scale(bars), MARGIN + LABEL_WIDTH
    image = Image.new("RGB", (WIDTH, _height(bars)), "white")
    draw = ImageDraw.Draw(image)
    font = ImageFont.load_default()
    draw.text((MARGIN, TOP - 32), title, fill="black", font=font)
    draw.text((MARGIN, TOP - 16), LEGEND, fill="#606060", font=font)
    for row, item in enumerate(bars):
        y = TOP + row * ROW
        right = x0 + item.count * scale
        draw.text((x0 - 6, y + ROW // 2), item.label, fill="black", font=font, anchor="rm")
        if item.count:
            colour = DIFFERS if item.differs else COLOUR
            draw.rectangle((x0, y + 3, max(x0 + 1, right), y + ROW - 4), fill=colour)
        count_at = (_label_x(item, x0, scale), y + ROW // 2)
        draw.text(count_at, f"{item.count:,}", fill="black", font=font, anchor="lm")
        if item.published is not None:
            tick = x0 + item.published * scale
            draw.line((tick, y + 1, tick, y + ROW - 2), fill=TICK, width=2)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def check_plot_path(path: Path) -> None:
    """UsageError (exit 2) unless ``path`` ends in .png or .svg: checked before any work."""
    suffix = path.suffix.lower()
    if suffix in PLOT_FORMATS:
        return
    if f".{path.name.lower()}" in PLOT_FORMATS:
        # `--plot png`: the format was given where the file name goes.
        raise UsageError(
            f"--plot {path}: --plot takes the file to write, not a format: expected a file "
            f"name ending in .png or .svg, such as classes.{path.name.lower()}",
            hint=f"for example --plot classes.{path.name.lower()} (the format follows the name)",
        )
    found = f"it ends in {suffix!r}" if suffix else "it has no extension"
    raise UsageError(
        f"--plot {path}: expected a file name ending in .png or .svg, but {found}",
        hint="for example --plot classes.png or --plot classes.svg",
    )


def write_plot(path: Path, title: str, bars: Sequence[Bar]) -> None:
    """Write the chart to ``path``, PNG or SVG by its extension (atomically).

    UsageError (exit 2) for any other extension; nothing is written then.
    """
    check_plot_path(path)
    suffix = path.suffix.lower()
    data = render_png(title, bars) if suffix == ".png" else render_svg(title, bars).encode()
    atomic_write_bytes(path, data)
