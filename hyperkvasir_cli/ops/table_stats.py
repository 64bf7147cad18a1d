"""`stats` over the side files: the published metadata beside the videos and images, and
the features and predicted labels of the unlabeled images as subjects of their own."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from hyperkvasir_cli.core.errors import UsageError
from hyperkvasir_cli.dataset.paths import (
    LABELED_IMAGES,
    LABELED_VIDEOS,
    UNLABELED_IMAGES,
    part_kind,
)
from hyperkvasir_cli.dataset.tables.parts import (
    CLUSTERS,
    FEATURES_ARFF,
    IMAGE_METADATA,
    PREDICTIONS,
    VIDEO_METADATA,
)
from hyperkvasir_cli.ops.tables import FEATURE_NAMES, prediction_models, side_file

if TYPE_CHECKING:
    from hyperkvasir_cli.core.manifest import Part
    from hyperkvasir_cli.dataset.stats.features import FeaturesStats
    from hyperkvasir_cli.dataset.stats.predictions import PredictionStats
    from hyperkvasir_cli.ops.session import Session

    TableStats = FeaturesStats | PredictionStats


def metadata_options(
    session: Session, part: Part, *, images: bool, video_headers: bool
) -> dict[str, Any]:
    """The side files `stats` reads beside a data part, as StatsOptions fields: the video
    metadata for the videos, the image metadata when images are measured."""
    kind = part_kind(part)
    if kind == LABELED_VIDEOS:
        path = side_file(session, VIDEO_METADATA)
        if path is None:
            if video_headers:
                session.info(f"{VIDEO_METADATA} is not here: nothing to compare the headers with")
            return {}
        from hyperkvasir_cli.dataset.stats.video_metadata import VideoMetadata
        from hyperkvasir_cli.dataset.tables.video_metadata import read_video_metadata

        rows = read_video_metadata(path, VIDEO_METADATA)
        return {
            "video_metadata": VideoMetadata(str(path), rows),
            "compare_video_headers": video_headers,
        }
    if images and kind in (LABELED_IMAGES, UNLABELED_IMAGES):
        path = side_file(session, IMAGE_METADATA)
        return {"image_metadata": path} if path is not None else {}
    return {}


def table_stats(session: Session, subjects: list[str]) -> list[TableStats]:
    """The statistics of the features and of the predicted labels, once each, for the
    subjects named (see :func:`ops.tables.is_table_subject`). UsageError (exit 2) when
    none of a subject's files is here."""
    results: list[TableStats] = []
    if any(s in FEATURE_NAMES for s in subjects):
        results.append(_features(session))
    models = [s for s in subjects if s not in FEATURE_NAMES]
    if models:
        results.append(_predictions(session, models))
    return results


def _features(session: Session) -> FeaturesStats:
    from hyperkvasir_cli.dataset.stats.features import features_stats

    arff, clusters = side_file(session, FEATURES_ARFF), side_file(session, CLUSTERS)
    if arff is None and clusters is None:
        raise UsageError(
            f"neither {FEATURES_ARFF} nor {CLUSTERS} is downloaded in {session.layout.data_dir}",
            hint="run `hyperkvasir download unlabeled-features`",
        )
    for name, path in ((FEATURES_ARFF, arff), (CLUSTERS, clusters)):
        if path is None:
            session.info(f"{name} is not here; counting without it")
    return features_stats(arff, clusters)


def _predictions(session: Session, names: list[str]) -> PredictionStats:
    from hyperkvasir_cli.dataset.stats.predictions import prediction_stats
    from hyperkvasir_cli.dataset.tables.predictions import ModelFile

    present, absent = [], []
    for part in prediction_models(session.manifest, names):
        path = side_file(session, part.name)
        if path is None:
            absent.append(part.name)
        else:
            present.append(ModelFile(part.name, path))
    if not present:
        raise UsageError(
            f"no predicted labels are downloaded in {session.layout.data_dir}",
            hint=f"run `hyperkvasir download {PREDICTIONS}`",
        )
    if absent:
        session.info(f"not downloaded, left out: {', '.join(absent)}")
    published = None
    if UNLABELED_IMAGES in session.manifest.names:
        published = session.manifest.part(UNLABELED_IMAGES).expected.files
    return prediction_stats(present, published, absent)
