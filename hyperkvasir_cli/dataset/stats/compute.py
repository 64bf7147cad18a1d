"""What a part holds, beside what was published: counts, bytes and image sizes.

:func:`compute_stats` lists a part once (tree or archive, see :mod:`datasource`) and hands
the records to a pure summary per kind of part; only the optional header reads (image
sizes, mask areas, video headers) open files. Results are dataclasses with ``as_json()``
(stable keys) and ``differences()`` (one line per count that is not as published).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, replace
from pathlib import Path

from hyperkvasir_cli.core.classes import CATEGORIES, CLASS_BY_NAME, LABELED_CLASSES, ORGANS
from hyperkvasir_cli.core.errors import UsageError
from hyperkvasir_cli.core.manifest import Part
from hyperkvasir_cli.core.progress import ProgressReporter, SilentProgress
from hyperkvasir_cli.dataset.paths import (
    LABELED_IMAGES,
    LABELED_VIDEOS,
    SEGMENTED_IMAGES,
    UNLABELED_IMAGES,
    classify_labeled,
    is_data_file,
    is_image,
    part_kind,
    published_class_counts,
)
from hyperkvasir_cli.dataset.sources import DataSource, FileRecord
from hyperkvasir_cli.dataset.stats.base import (
    ImageSizes,
    Overview,
    PartStats,
    StatsOptions,
    matches_published,
    overview,
    read_image_sizes,
    tally_sizes,
)
from hyperkvasir_cli.dataset.stats.image_metadata import (
    ImageMetadataCheck,
    MeasuredImage,
    check_image_metadata,
)
from hyperkvasir_cli.dataset.stats.segmentation import segmented_stats
from hyperkvasir_cli.dataset.stats.videos import video_stats


@dataclass(frozen=True)
class ClassCount:
    name: str
    organ: str | None
    category: str | None
    count: int
    bytes: int
    published: int | None

    @property
    def difference(self) -> int | None:
        return None if self.published is None else self.count - self.published

    def as_json(self) -> dict[str, object]:
        return {
            "class": self.name,
            "organ": self.organ,
            "category": self.category,
            "count": self.count,
            "bytes": self.bytes,
            "published": self.published,
            "difference": self.difference,
        }


@dataclass(frozen=True)
class GroupCount:
    count: int
    published: int | None

    def as_json(self) -> dict[str, object]:
        difference = None if self.published is None else self.count - self.published
        return {"count": self.count, "published": self.published, "difference": difference}


@dataclass(frozen=True)
class LabeledStats:
    overview: Overview
    classes: list[ClassCount]  # the 23 classes in dataset order, then any other published
    organs: dict[str, GroupCount]
    categories: dict[str, GroupCount]
    unknown: list[FileRecord]  # data files outside the 23 classes
    images: ImageSizes | None = None
    image_metadata: ImageMetadataCheck | None = None  # with --images, when it is here

    def differences(self) -> list[str]:
        found = self.overview.differences()
        found += [
            f"{c.name}: {c.count:,} found, {c.published:,} published"
            for c in self.classes
            if c.difference
        ]
        if self.unknown:
            found.append(f"images outside the 23 classes: {len(self.unknown):,}")
        if self.image_metadata is not None:
            found += self.image_metadata.differences()
        return found

    def as_json(self) -> dict[str, object]:
        compared = any(c.published is not None for c in self.classes)
        return {
            **self.overview.as_json(),
            "classes": [c.as_json() for c in self.classes],
            "organs": {k: v.as_json() for k, v in self.organs.items()},
            "categories": {k: v.as_json() for k, v in self.categories.items()},
            "unknown": [{"path": r.path, "size": r.size} for r in self.unknown],
            "matches_published": matches_published(self, compared),
            "differences": self.differences(),
            "images": self.images.as_json() if self.images else None,
            "image_metadata": self.image_metadata.as_json() if self.image_metadata else None,
        }


def _group_counts(
    keys: tuple[str, ...], counts: dict[str, int], published: dict[str, int], key_of: str
) -> dict[str, GroupCount]:
    result = {}
    for key in keys:
        members = [c for c in LABELED_CLASSES if getattr(c, key_of) == key]
        known = [published[c.name] for c in members if c.name in published]
        total = sum(counts.get(c.name, 0) for c in members)
        result[key] = GroupCount(total, sum(known) if len(known) == len(members) else None)
    return result


def labeled_stats(part: Part, source: DataSource, records: list[FileRecord]) -> LabeledStats:
    """Count the labeled images per class, organ and category beside the published counts."""
    counts: Counter[str] = Counter()
    sizes: Counter[str] = Counter()
    unknown = []
    for record in records:
        if not is_data_file(record.path):
            continue
        image = classify_labeled(record.path)
        if image is None:
            unknown.append(record)
            continue
        counts[image.class_name] += 1
        sizes[image.class_name] += record.size
    published = published_class_counts(part)
    names = [c.name for c in LABELED_CLASSES]
    names += sorted(n for n in published if n not in CLASS_BY_NAME)
    classes = []
    for name in names:
        label = CLASS_BY_NAME.get(name)
        organ, category = (label.organ, label.category) if label else (None, None)
        classes.append(
            ClassCount(name, organ, category, counts[name], sizes[name], published.get(name))
        )
    return LabeledStats(
        overview=overview(part, source, records),
        classes=classes,
        organs=_group_counts(ORGANS, counts, published, "organ"),
        categories=_group_counts(CATEGORIES, counts, published, "category"),
        unknown=unknown,
    )


@dataclass(frozen=True)
class UnlabeledStats:
    overview: Overview
    images: ImageSizes | None = None
    image_metadata: ImageMetadataCheck | None = None

    def differences(self) -> list[str]:
        found = self.overview.differences()
        if self.image_metadata is not None and self.image_metadata.compared:
            found += self.image_metadata.differences()
        return found

    def as_json(self) -> dict[str, object]:
        compared = self.overview.published_files is not None
        return {
            **self.overview.as_json(),
            "matches_published": matches_published(self, compared),
            "differences": self.differences(),
            "images": self.images.as_json() if self.images else None,
            "image_metadata": self.image_metadata.as_json() if self.image_metadata else None,
        }


def compute_stats(
    part: Part,
    source: DataSource,
    options: StatsOptions | None = None,
    progress: ProgressReporter | None = None,
) -> PartStats:
    """The statistics of one data part read from ``source``.

    UsageError (exit 2) for a part that is not one of the four data parts; ArchiveError
    (exit 6) when the zip cannot be read. Files that cannot be read are listed as
    unreadable in the result, never fatal.
    """
    options = options or StatsOptions()
    progress = progress or SilentProgress()
    kind = part_kind(part)
    if kind is None:
        raise UsageError(
            f"stats knows the parts {LABELED_IMAGES}, {SEGMENTED_IMAGES}, {UNLABELED_IMAGES} "
            f"and {LABELED_VIDEOS}; {part.name!r} is none of them",
            hint="name one of those parts",
        )
    records = source.list_files()
    if kind == SEGMENTED_IMAGES:
        return segmented_stats(part, source, records, options, progress)
    if kind == LABELED_VIDEOS:
        return video_stats(
            part,
            source,
            records,
            progress,
            options.video_metadata,
            options.compare_video_headers,
        )
    measured = _measure_images(source, records, options, progress)
    images = None if measured is None else _tally(measured)
    checked = _check_metadata(options.image_metadata, measured, kind == LABELED_IMAGES)
    if kind == UNLABELED_IMAGES:
        return UnlabeledStats(overview(part, source, records), images, checked)
    labeled = labeled_stats(part, source, records)
    return replace(labeled, images=images, image_metadata=checked)


def _measure_images(
    source: DataSource, records: list[FileRecord], options: StatsOptions, progress: ProgressReporter
) -> list[MeasuredImage] | None:
    if not options.images:
        return None
    images = [r for r in records if is_image(r.path)]
    paths = [r.path for r in images]
    sizes = read_image_sizes(source, paths, options.jobs, progress)
    return [MeasuredImage(r.path, r.size, s) for r, s in zip(images, sizes, strict=True)]


def _tally(measured: list[MeasuredImage]) -> ImageSizes:
    return tally_sizes([m.path for m in measured], [m.dimensions for m in measured])


def _check_metadata(
    metadata: Path | None, measured: list[MeasuredImage] | None, labeled: bool
) -> ImageMetadataCheck | None:
    """The image metadata beside the measured images, when both are here."""
    if metadata is None or measured is None:
        return None
    from hyperkvasir_cli.dataset.tables.image_metadata import iter_image_metadata
    from hyperkvasir_cli.dataset.tables.parts import IMAGE_METADATA

    rows = iter_image_metadata(metadata, IMAGE_METADATA)
    return check_image_metadata(str(metadata), rows, measured, labeled)
