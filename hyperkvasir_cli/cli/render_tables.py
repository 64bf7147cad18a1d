"""The side files' statistics as sections: the metadata checks beside the videos and
images, the features and clusters, the predicted labels. Pure functions, like
:mod:`render_stats`, which calls them."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence

from hyperkvasir_cli.cli.render_parts import (
    PartReport,
    Section,
    bar,
    key_values,
    number,
    plural,
)
from hyperkvasir_cli.core.classes import CLASS_BY_NAME
from hyperkvasir_cli.dataset.stats.features import FeaturesStats
from hyperkvasir_cli.dataset.stats.image_metadata import ImageMetadataCheck
from hyperkvasir_cli.dataset.stats.predictions import PredictionStats
from hyperkvasir_cli.dataset.stats.video_metadata import VideoMetadataCheck

LISTED = 20  # rows of disagreements shown; --json has them all
ATTRIBUTES_SHOWN = 12


def _disagreements(
    title: str, items: Sequence[tuple[str, str, object, object]], total: int
) -> Section:
    rows = [(path, field, str(published), str(found)) for path, field, published, found in items]
    if total > len(items):
        rows.append((f"... {total - len(items):,} more (see --json)", "", "", ""))
    return Section(
        title, ("file", "field", "metadata", "file has"), rows, flagged=[True] * len(rows)
    )


def video_metadata_sections(check: VideoMetadataCheck) -> list[Section]:
    compared = "size, frames, fps, width, height" if check.headers_compared else "size"
    summary = key_values(
        "video metadata",
        [
            ("file", check.file),
            ("rows", number(check.rows)),
            ("videos with a row", number(check.matched)),
            ("videos without a row", number(len(check.videos_without_row))),
            ("rows without a video here", number(len(check.rows_without_video))),
            ("compared", compared),
            ("disagreements", number(len(check.disagreements))),
        ],
    )
    items: list[tuple[str, str, object, object]] = [
        (d.path, d.field, d.metadata, d.file) for d in check.disagreements[:LISTED]
    ]
    items += [(p, "no metadata row", "", "") for p in check.videos_without_row]
    items += [(n, "no video here", "a row", "") for n in check.rows_without_video]
    total = len(items)
    items = items[:LISTED]
    sections = [summary]
    if total:
        sections.append(_disagreements("where the metadata and the videos differ", items, total))
    return sections


def image_metadata_sections(check: ImageMetadataCheck) -> list[Section]:
    summary = key_values(
        "image metadata",
        [
            ("file", check.file),
            ("rows", number(check.rows)),
            ("images compared", number(check.compared)),
            ("images without a row", number(len(check.images_without_row))),
            ("rows without an image here", number(len(check.rows_without_image))),
            ("disagreements", number(len(check.disagreements))),
        ],
    )
    items: list[tuple[str, str, object, object]] = [
        (d.path, d.field, d.metadata, d.file) for d in check.disagreements[:LISTED]
    ]
    sections = [summary]
    if check.disagreements:
        sections.append(
            _disagreements(
                "where the metadata and the images differ", items, len(check.disagreements)
            )
        )
    return sections


def table_report(stats: FeaturesStats | PredictionStats) -> PartReport:
    if isinstance(stats, FeaturesStats):
        rows = "no ARFF" if stats.rows is None else plural(stats.rows, "instance", "instances")
        heading = f"{stats.part} ({stats.arff or 'clusters file only'}): {rows}"
        return PartReport(heading, feature_sections(stats), stats.differences())
    models = plural(len(stats.models), "model", "models")
    heading = f"{stats.part}: {models}, {plural(stats.images, 'image', 'images')}"
    return PartReport(heading, prediction_sections(stats), stats.differences())


def feature_sections(stats: FeaturesStats) -> list[Section]:
    types = Counter(a.type for a in stats.attributes)
    kinds = ", ".join(f"{n} {t}" for t, n in sorted(types.items()))
    pairs = [
        ("relation", stats.relation or ""),
        ("instances", number(stats.rows)),
        ("attributes", f"{len(stats.attributes):,} ({kinds})" if stats.attributes else ""),
        ("image attribute", stats.image_attribute or "none"),
        ("cluster attribute", stats.cluster_attribute or "none"),
        ("clusters from", stats.clusters_from or "nowhere"),
    ]
    if stats.missing_clusters:
        pairs.append(("instances without a cluster", number(stats.missing_clusters)))
    check = stats.clusters_file
    if check is not None:
        pairs += [
            ("clusters file", f"{check.file} ({plural(check.rows, 'row', 'rows')})"),
            ("matched by", check.keyed_by),
            ("clusters compared", number(check.compared) if stats.arff else "no ARFF"),
            ("clusters that differ", number(check.disagree)),
        ]
    sections = [key_values("features", pairs)]
    if stats.clusters:
        largest = max(stats.clusters.values())
        rows = [(name, number(n), bar(n, largest)) for name, n in stats.clusters.items()]
        sections.append(
            Section("clusters", ("cluster", "images", "share"), rows, frozenset({"images"}))
        )
    shown = stats.attributes[:ATTRIBUTES_SHOWN]
    if shown:
        listed: list[tuple[str, str]] = [(a.name, a.type) for a in shown]
        if len(stats.attributes) > len(shown):
            listed.append((f"... {len(stats.attributes) - len(shown):,} more (see --json)", ""))
        sections.append(Section("attributes", ("attribute", "type"), listed))
    return sections


def prediction_sections(stats: PredictionStats) -> list[Section]:
    numbers = {m.model: str(i + 1) for i, m in enumerate(stats.models)}
    models = Section(
        "models",
        ("#", "model", "images", "mean confidence", "repeated rows"),
        [
            (
                numbers[m.model],
                m.model,
                number(m.rows - m.repeated),
                "" if m.mean_confidence is None else f"{m.mean_confidence:.3f}",
                number(m.repeated),
            )
            for m in stats.models
        ],
        frozenset({"images", "mean confidence", "repeated rows"}),
    )
    names = list(stats.models[0].classes) if stats.models else []
    per_class = Section(
        "images per predicted class (columns: the models above)",
        ("class", *numbers.values(), "all agree"),
        [
            (
                name,
                *(number(m.classes[name]) for m in stats.models),
                number(stats.unanimous_classes.get(name, 0)),
            )
            for name in names
        ],
        frozenset({*numbers.values(), "all agree"}),
    )
    agreement = key_values(
        "agreement",
        [
            ("images (any model)", number(stats.images)),
            ("labelled by every model", number(stats.in_every_model)),
            ("every model agrees", _share(stats.unanimous, stats.in_every_model)),
        ],
    )
    pairs = Section(
        "agreement of each pair",
        ("models", "images", "agree", "share"),
        [
            (
                f"{numbers[p.first]} & {numbers[p.second]}",
                number(p.compared),
                number(p.agree),
                "" if not p.compared else f"{p.agree / p.compared:.1%}",
            )
            for p in stats.pairs
        ],
        frozenset({"images", "agree", "share"}),
    )
    return [models, per_class, agreement, pairs] if stats.pairs else [models, per_class, agreement]


def _share(part: int, whole: int) -> str:
    return f"{part:,}" + (f" ({part / whole:.1%})" if whole else "")


def table_count_rows(stats: FeaturesStats | PredictionStats) -> Iterable[tuple[object, ...]]:
    """Every count as a row of :data:`render_stats.CSV_COLUMNS` (bytes empty)."""
    part = stats.part
    if isinstance(stats, FeaturesStats):
        yield (part, "total", "instances", None, None, stats.rows, None, None, None)
        for name, count in stats.clusters.items():
            yield (part, "cluster", name, None, None, count, None, None, None)
        return
    published = stats.published_images
    for m in stats.models:
        images = m.rows - m.repeated
        difference = None if published is None else images - published
        yield (part, "model", m.model, None, None, images, published, difference, None)
        for name, count in m.classes.items():
            label = CLASS_BY_NAME.get(name)
            organ, category = (label.organ, label.category) if label else (None, None)
            yield (part, f"predicted:{m.model}", name, organ, category, count, None, None, None)
    yield (part, "agreement", "every model agrees", None, None, stats.unanimous, None, None, None)
    for p in stats.pairs:
        yield (part, "agreement", f"{p.first} & {p.second}", None, None, p.agree, None, None, None)
