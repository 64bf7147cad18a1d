"""``hyper-kvasir-video-metadata.csv``: frames, frame rate, length and size of each video.

The published file is `;`-separated UTF-8 with LF line ends and the header
``file-name;finding;width;height;number-of-frames;fps;length;kilobytes`` (the repository's
script names the second column ``main-finding``; both are read). ``file-name`` is the
video's file name (``<uuid>.avi``, a few ``.mpg`` and some hand-named files such as
``Polypp 5.avi``); ``finding`` is free text, not the finding folder; ``fps`` and ``length``
(seconds) are whole numbers, ``length`` = frames // fps; ``kilobytes`` = bytes >> 10.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from hyperkvasir_cli.dataset.tables.text import (
    malformed,
    open_text,
    parse_float,
    parse_int,
    semicolon_rows,
    text_lines,
)

HEADER = (
    "file-name",
    "finding",
    "width",
    "height",
    "number-of-frames",
    "fps",
    "length",
    "kilobytes",
)
SCRIPT_HEADER = ("file-name", "main-finding", *HEADER[2:])


@dataclass(frozen=True, slots=True)
class VideoMetadataRow:
    file_name: str
    finding: str  # free text as written
    width: int
    height: int
    frames: int
    fps: float
    length: int  # whole seconds, as published
    kilobytes: int  # bytes >> 10

    @property
    def seconds(self) -> float | None:
        """Frames over frame rate, to the millisecond (``length`` is rounded down)."""
        return round(self.frames / self.fps, 3) if self.fps else None


def parse_video_metadata(
    lines: Iterable[tuple[int, str]], source: str, part: str | None = None
) -> Iterator[tuple[int, VideoMetadataRow]]:
    """``(line number, row)`` for each row, from numbered lines (header first); ArchiveError
    (exit 6) for a wrong header, a wrong field count or a field that is not a number."""
    for number, fields in semicolon_rows(lines, source, (HEADER, SCRIPT_HEADER), part):
        yield number, _row(fields, source, number, part)


def _row(fields: list[str], source: str, number: int, part: str | None) -> VideoMetadataRow:
    name, finding = fields[0].strip(), fields[1]
    if not name:
        raise malformed(source, number, "the file name is empty", part)
    whole = {}
    for column, text in zip(
        ("width", "height", "number-of-frames", "length", "kilobytes"),
        (fields[2], fields[3], fields[4], fields[6], fields[7]),
        strict=True,
    ):
        value = parse_int(text)
        if value is None or value < 0:
            raise malformed(
                source, number, f"{column}: expected a whole number, found {text!r}", part
            )
        whole[column] = value
    fps = parse_float(fields[5])
    if fps is None or fps < 0:
        raise malformed(source, number, f"fps: expected a number, found {fields[5]!r}", part)
    return VideoMetadataRow(
        file_name=name,
        finding=finding,
        width=whole["width"],
        height=whole["height"],
        frames=whole["number-of-frames"],
        fps=fps,
        length=whole["length"],
        kilobytes=whole["kilobytes"],
    )


def read_video_metadata(path: Path, part: str | None = None) -> dict[str, VideoMetadataRow]:
    """Every row by file name (373 rows: a small file); a file name listed twice raises."""
    found: dict[str, VideoMetadataRow] = {}
    with open_text(path) as handle:
        numbered = text_lines(handle, str(path), part)
        for number, row in parse_video_metadata(numbered, str(path), part):
            if row.file_name in found:
                raise malformed(str(path), number, f"{row.file_name} is listed twice", part)
            found[row.file_name] = row
    return found
