"""What the statistics of every part share: the overview, image sizes, options.

See :mod:`stats` for the entry point; the per-part summaries build on these.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from hyperkvasir_cli.core.manifest import Part
from hyperkvasir_cli.core.progress import ProgressReporter
from hyperkvasir_cli.dataset.imagesize import read_image_size
from hyperkvasir_cli.dataset.paths import is_data_file, published_file_count
from hyperkvasir_cli.dataset.sources import DataSource, FileRecord, read_files

if TYPE_CHECKING:
    from hyperkvasir_cli.dataset.stats.video_metadata import VideoMetadata


@dataclass(frozen=True)
class StatsOptions:
    images: bool = False  # read every image's header for its size
    jobs: int = 1
    # The published side files, when they are here: the videos' metadata stands in for
    # their headers; the images' metadata is compared with what `images` reads.
    video_metadata: VideoMetadata | None = None
    compare_video_headers: bool = False  # read the AVI headers too, and compare
    image_metadata: Path | None = None


@dataclass(frozen=True)
class Overview:
    """What every part reports: where it was read, its data files, bytes and metadata."""

    part: str
    source: DataSource
    files: int  # data files: images, masks, videos
    bytes: int  # of every file, metadata included
    published_files: int | None
    metadata: list[str] = field(default_factory=list)

    @property
    def files_difference(self) -> int | None:
        return None if self.published_files is None else self.files - self.published_files

    def differences(self) -> list[str]:
        if self.files_difference:
            return [f"data files: {self.files:,} found, {self.published_files:,} published"]
        return []

    def as_json(self) -> dict[str, object]:
        return {
            "part": self.part,
            "source": self.source.kind,
            "path": str(self.source.display_path),
            "files": self.files,
            "bytes": self.bytes,
            "published_files": self.published_files,
            "files_difference": self.files_difference,
            "metadata_files": self.metadata,
        }


def overview(part: Part, source: DataSource, records: list[FileRecord]) -> Overview:
    return Overview(
        part=part.name,
        source=source,
        files=sum(1 for r in records if is_data_file(r.path)),
        bytes=sum(r.size for r in records),
        published_files=published_file_count(part),
        metadata=[r.path for r in records if not is_data_file(r.path)],
    )


class PartStats(Protocol):
    """What every part's statistics offer the command layer."""

    @property
    def overview(self) -> Overview: ...

    def differences(self) -> list[str]: ...

    def as_json(self) -> dict[str, object]: ...


def matches_published(stats: PartStats, compared: bool) -> bool | None:
    """True/False when something was published to compare with, else None."""
    return not stats.differences() if compared else None


@dataclass(frozen=True)
class ImageSizes:
    """How many images have each ``WxH``; most common first."""

    sizes: dict[str, int]
    unreadable: list[str]

    def as_json(self) -> dict[str, object]:
        return {"sizes": self.sizes, "unreadable": self.unreadable}


def tally_sizes(paths: list[str], sizes: list[tuple[int, int] | None]) -> ImageSizes:
    counts = Counter(f"{size[0]}x{size[1]}" for size in sizes if size is not None)
    ordered = dict(sorted(counts.items(), key=lambda item: (-item[1], item[0])))
    unreadable = [p for p, size in zip(paths, sizes, strict=True) if size is None]
    return ImageSizes(ordered, unreadable)


def read_image_sizes(
    source: DataSource, paths: list[str], jobs: int, progress: ProgressReporter
) -> list[tuple[int, int] | None]:
    """Every image's ``(width, height)`` from its header (never its pixels), in the order
    of ``paths``, spread over ``jobs`` processes; None where a header cannot be read."""
    return read_files(
        source, paths, read_image_size, jobs=jobs, progress=progress, label="image headers"
    )


def measure_image_sizes(
    source: DataSource, paths: list[str], jobs: int, progress: ProgressReporter
) -> ImageSizes:
    """How many images have each size (see :func:`read_image_sizes`)."""
    return tally_sizes(paths, read_image_sizes(source, paths, jobs, progress))
