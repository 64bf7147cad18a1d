"""Statistics of the labeled videos: count per finding and organ, bytes, durations.

Durations and frame counts come from the published video metadata when it is given (no
video is opened; see :mod:`video_metadata`, which also says where the two disagree), else
from the AVI header (see :mod:`videoinfo`); other containers (the dataset has a few MPEG
files) report "unknown" rather than a guess unless the metadata knows them.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from hyperkvasir_cli.core.manifest import Part
from hyperkvasir_cli.core.progress import ProgressReporter
from hyperkvasir_cli.dataset.paths import LabeledVideo, classify_video, is_video
from hyperkvasir_cli.dataset.sources import DataSource, FileRecord, read_files
from hyperkvasir_cli.dataset.stats.base import Overview, matches_published, overview
from hyperkvasir_cli.dataset.stats.video_metadata import (
    VideoFile,
    VideoMetadata,
    VideoMetadataCheck,
    check_video_metadata,
    file_name,
    info_from_metadata,
)
from hyperkvasir_cli.dataset.tables.video_metadata import VideoMetadataRow
from hyperkvasir_cli.dataset.videoinfo import UNKNOWN_VIDEO, VideoInfo, read_video_info

InfoSource = Literal["metadata", "header", "none"]


@dataclass(frozen=True)
class Video:
    where: LabeledVideo
    size: int
    info: VideoInfo
    info_source: InfoSource = "header"

    def as_json(self) -> dict[str, object]:
        return {
            "path": self.where.path,
            "size": self.size,
            **self.info.as_json(),
            "info_source": self.info_source,
        }


@dataclass(frozen=True)
class FindingSummary:
    finding: str
    organ: str
    category: str
    count: int
    bytes: int
    seconds: float  # of the videos whose duration is known
    frames: int  # likewise
    unknown_duration: int  # videos whose container does not say

    def as_json(self) -> dict[str, object]:
        return {
            "finding": self.finding,
            "organ": self.organ,
            "category": self.category,
            "count": self.count,
            "bytes": self.bytes,
            "seconds": self.seconds,
            "frames": self.frames,
            "unknown_duration": self.unknown_duration,
        }


def summarise_findings(videos: list[Video]) -> list[FindingSummary]:
    """One summary per (organ, category, finding), sorted by organ, category, finding."""
    groups: dict[tuple[str, str, str], list[Video]] = defaultdict(list)
    for video in videos:
        groups[(video.where.organ, video.where.category, video.where.finding)].append(video)
    summaries = []
    for (organ, category, finding), members in sorted(groups.items()):
        known = [v.info for v in members if v.info.seconds is not None]
        summaries.append(
            FindingSummary(
                finding=finding,
                organ=organ,
                category=category,
                count=len(members),
                bytes=sum(v.size for v in members),
                seconds=round(sum(i.seconds or 0.0 for i in known), 3),
                frames=sum(i.frames or 0 for i in known),
                unknown_duration=len(members) - len(known),
            )
        )
    return summaries


@dataclass(frozen=True)
class VideoStats:
    overview: Overview
    videos: list[Video]  # sorted by path
    findings: list[FindingSummary]
    unknown: list[FileRecord]  # videos outside labeled-videos/<organ>/<category>/<finding>/
    metadata: VideoMetadataCheck | None = None  # when the published metadata was used

    @property
    def organs(self) -> dict[str, dict[str, int]]:
        organs: dict[str, dict[str, int]] = {}
        for video in self.videos:
            entry = organs.setdefault(video.where.organ, {"count": 0, "bytes": 0})
            entry["count"] += 1
            entry["bytes"] += video.size
        return dict(sorted(organs.items()))

    @property
    def seconds(self) -> float:
        return round(sum(f.seconds for f in self.findings), 3)

    @property
    def unknown_duration(self) -> int:
        return sum(f.unknown_duration for f in self.findings)

    def differences(self) -> list[str]:
        found = self.overview.differences()
        if self.unknown:
            found.append(f"videos outside the finding folders: {len(self.unknown):,}")
        if self.metadata is not None:
            found += self.metadata.differences()
        return found

    def as_json(self) -> dict[str, object]:
        return {
            **self.overview.as_json(),
            "findings": [f.as_json() for f in self.findings],
            "organs": self.organs,
            "duration": {
                "seconds": self.seconds,
                "known": len(self.videos) - self.unknown_duration,
                "unknown": self.unknown_duration,
            },
            "unknown": [{"path": r.path, "size": r.size} for r in self.unknown],
            "matches_published": matches_published(self, self.overview.published_files is not None),
            "differences": self.differences(),
            "metadata": self.metadata.as_json() if self.metadata else None,
            "videos": [v.as_json() for v in self.videos],
        }


def video_stats(
    part: Part,
    source: DataSource,
    records: list[FileRecord],
    progress: ProgressReporter,
    metadata: VideoMetadata | None = None,
    compare_headers: bool = False,
) -> VideoStats:
    """Every video's finding and its frames, rate and duration: from ``metadata`` where it
    has the video's row, else from the AVI header (first 16 KiB only). With
    ``compare_headers``, every AVI header is read as well and compared with the metadata."""
    placed = []
    unknown = []
    for record in records:
        where = classify_video(record.path)
        if where is not None:
            placed.append((record, where))
        elif is_video(record.path):
            unknown.append(record)
    rows: Mapping[str, VideoMetadataRow] = metadata.rows if metadata else {}
    avi = [
        r.path
        for r, _ in placed
        if r.path.lower().endswith(".avi") and (compare_headers or file_name(r.path) not in rows)
    ]
    read = read_files(source, avi, read_video_info, progress=progress, label="video headers")
    headers = {path: found or UNKNOWN_VIDEO for path, found in zip(avi, read, strict=True)}
    videos = [_video(r, w, rows.get(file_name(r.path)), headers.get(r.path)) for r, w in placed]
    check = None
    if metadata is not None:
        every_video = [VideoFile(r.path, r.size, headers.get(r.path)) for r, _ in placed]
        every_video += [VideoFile(r.path, r.size) for r in unknown]
        check = check_video_metadata(metadata.file, rows, every_video)
    return VideoStats(
        overview=overview(part, source, records),
        videos=videos,
        findings=summarise_findings(videos),
        unknown=unknown,
        metadata=check,
    )


def _video(
    record: FileRecord, where: LabeledVideo, row: VideoMetadataRow | None, header: VideoInfo | None
) -> Video:
    if row is not None:
        return Video(where, record.size, info_from_metadata(row, record.path), "metadata")
    if header is not None and header.container != "unknown":
        return Video(where, record.size, header, "header")
    return Video(where, record.size, UNKNOWN_VIDEO, "none")
