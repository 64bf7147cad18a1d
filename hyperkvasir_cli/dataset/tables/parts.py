"""The manifest names of the side files, and which parts a group of them holds.

Readers find their files by these names, as `split --strategy official` finds the official
split files: a manifest of one's own keeps the names to keep the features.
"""

from __future__ import annotations

from hyperkvasir_cli.core.manifest import Manifest, Part

VIDEO_METADATA = "video-metadata"
IMAGE_METADATA = "image-metadata"
FEATURES = "unlabeled-features"  # a group: the ARFF and the clusters file
FEATURES_ARFF = "unlabeled-features-arff"
CLUSTERS = "unlabeled-clusters"
PREDICTIONS = "unlabeled-predictions"  # a group: one inference CSV per model
PREDICTION_PREFIX = "predictions-"

TABLE_SUBJECTS = (FEATURES, PREDICTIONS)  # what `stats` and `export` take beside the data parts


def prediction_parts(manifest: Manifest) -> list[Part]:
    """The parts of the predictions group, in its order; none when the manifest has no group."""
    group = manifest.find_group(PREDICTIONS)
    if group is None:
        return []
    by_name = {p.name: p for p in manifest.parts}
    return [by_name[name] for name in group.parts]


def model_name(part: Part) -> str:
    """How a model is called in reports: its part's name."""
    return part.name
