"""The published video metadata beside the video files: what each says, where they differ.

A video and a metadata row belong together when the row's ``file-name`` is the video's
file name. What the metadata gives (frames, frame rate, size) then stands in for the
container header, so no video is opened; videos without a row fall back to their header.
Where both are known they are compared: the file's size (``kilobytes`` = bytes >> 10)
always, and, when the headers were read as well, frames, frame rate, width and height
(the metadata's rate is a whole number, so a header's 29.97 agrees with 29 or 30).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from hyperkvasir_cli.dataset.stats.metadata_check import MetadataDisagreement, mismatch_lines
from hyperkvasir_cli.dataset.tables.video_metadata import VideoMetadataRow
from hyperkvasir_cli.dataset.videoinfo import VideoInfo


@dataclass(frozen=True)
class VideoMetadata:
    """The published metadata to use: the file read (for reports) and its rows by name."""

    file: str
    rows: Mapping[str, VideoMetadataRow]


def info_from_metadata(row: VideoMetadataRow, path: str) -> VideoInfo:
    """What the metadata row says about the video at ``path``, as a header would say it."""
    container = "avi" if path.lower().endswith(".avi") else "unknown"
    return VideoInfo(
        container,  # type: ignore[arg-type]  # one of the two literals
        frames=row.frames,
        fps=row.fps or None,
        seconds=row.seconds,
        width=row.width or None,
        height=row.height or None,
    )


@dataclass(frozen=True)
class VideoMetadataCheck:
    """How the metadata file and the videos here agree."""

    file: str  # the metadata file read
    rows: int
    matched: int  # videos with a row
    headers_compared: bool  # frames, fps, width and height were compared with the headers
    videos_without_row: list[str]  # paths, sorted
    rows_without_video: list[str]  # file names, sorted
    disagreements: list[MetadataDisagreement]  # by path, then field

    def differences(self) -> list[str]:
        return mismatch_lines(
            "videos",
            "a video",
            len(self.videos_without_row),
            len(self.rows_without_video),
            self.disagreements,
        )

    def as_json(self) -> dict[str, object]:
        return {
            "file": self.file,
            "rows": self.rows,
            "matched": self.matched,
            "headers_compared": self.headers_compared,
            "videos_without_row": self.videos_without_row,
            "rows_without_video": self.rows_without_video,
            "disagreements": [d.as_json() for d in self.disagreements],
        }


@dataclass(frozen=True)
class VideoFile:
    """A video here: its path, size, and its header's information when it was read."""

    path: str
    size: int
    header: VideoInfo | None = None


def file_name(path: str) -> str:
    return path.rsplit("/", 1)[-1]


def check_video_metadata(
    file: str, rows: Mapping[str, VideoMetadataRow], videos: Iterable[VideoFile]
) -> VideoMetadataCheck:
    """Compare every video with its row (see the module docstring); pure."""
    videos = sorted(videos, key=lambda v: v.path)
    names_here = {file_name(v.path) for v in videos}
    without_row = [v.path for v in videos if file_name(v.path) not in rows]
    disagreements: list[MetadataDisagreement] = []
    headers_compared = any(v.header is not None for v in videos)
    for video in videos:
        row = rows.get(file_name(video.path))
        if row is not None:
            disagreements += _compare(video, row)
    return VideoMetadataCheck(
        file=file,
        rows=len(rows),
        matched=len(videos) - len(without_row),
        headers_compared=headers_compared,
        videos_without_row=without_row,
        rows_without_video=sorted(n for n in rows if n not in names_here),
        disagreements=disagreements,
    )


def _compare(video: VideoFile, row: VideoMetadataRow) -> list[MetadataDisagreement]:
    found = []
    if video.size >> 10 != row.kilobytes:
        found.append(MetadataDisagreement(video.path, "kilobytes", row.kilobytes, video.size >> 10))
    header = video.header
    if header is None or header.container == "unknown":
        return found
    pairs: list[tuple[str, int | float, int | float | None]] = [
        ("frames", row.frames, header.frames),
        ("fps", row.fps, header.fps),
        ("width", row.width, header.width),
        ("height", row.height, header.height),
    ]
    for field, published, seen in pairs:
        if seen is None:
            continue
        if field == "fps" and abs(published - seen) < 1:
            continue  # the metadata keeps only the whole part of the rate
        if published != seen:
            found.append(MetadataDisagreement(video.path, field, published, seen))
    return found
