"""Statistics of the labeled videos: count per finding and organ, bytes, durations.

Durations and frame counts come from the AVI header (see :mod:`videoinfo`); other
containers (the dataset has a few MPEG files) report "unknown" rather than a guess.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from hyperkvasir_cli.core.manifest import Part
from hyperkvasir_cli.core.progress import ProgressReporter
from hyperkvasir_cli.dataset.paths import LabeledVideo, classify_video, is_video
from hyperkvasir_cli.dataset.sources import DataSource, FileRecord, read_files
from hyperkvasir_cli.dataset.stats.base import Overview, matches_published, overview
from hyperkvasir_cli.dataset.videoinfo import UNKNOWN_VIDEO, VideoInfo, read_video_info


@dataclass(frozen=True)
class Video:
    where: LabeledVideo
    size: int
    info: VideoInfo

    def as_json(self) -> dict[str, object]:
        return {"path": self.where.path, "size": self.size, **self.info.as_json()}


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
            "videos": [v.as_json() for v in self.videos],
        }


def video_stats(
    part: Part, source: DataSource, records: list[FileRecord], progress: ProgressReporter
) -> VideoStats:
    """Every video's finding and, for AVI files, what its header says (first 16 KiB only)."""
    placed = []
    unknown = []
    for record in records:
        where = classify_video(record.path)
        if where is not None:
            placed.append((record, where))
        elif is_video(record.path):
            unknown.append(record)
    avi = [r.path for r, _ in placed if r.path.lower().endswith(".avi")]
    headers = read_files(source, avi, read_video_info, progress=progress, label="video headers")
    info = {path: found or UNKNOWN_VIDEO for path, found in zip(avi, headers, strict=True)}
    videos = [Video(w, r.size, info.get(r.path, UNKNOWN_VIDEO)) for r, w in placed]
    return VideoStats(
        overview=overview(part, source, records),
        videos=videos,
        findings=summarise_findings(videos),
        unknown=unknown,
    )
