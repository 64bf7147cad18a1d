"""Statistics of the predicted labels: per model, images per class; across models, agreement.

Each inference file is streamed once. Per model: rows, images per class (all 23 classes,
in dataset order), mean confidence, and file names listed twice (the first row counts).
Across models, each image's label per model is kept in one byte per model (99,417 images
by six models is about 600 KB of labels plus the names): how many images every model
labelled, how many of those all models agree on (per class), and the agreement of each
pair of models over the images both labelled.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from itertools import combinations

from hyperkvasir_cli.core.classes import LABELED_CLASSES
from hyperkvasir_cli.dataset.tables.features import image_key
from hyperkvasir_cli.dataset.tables.parts import PREDICTIONS
from hyperkvasir_cli.dataset.tables.predictions import (
    PREDICTED_CLASSES,
    ModelFile,
    open_predictions,
)

ABSENT = 255  # no label from this model
CLASS_INDEX = {name: i for i, name in enumerate(PREDICTED_CLASSES)}
DATASET_ORDER = [c.name for c in LABELED_CLASSES]


@dataclass(frozen=True)
class ModelCounts:
    model: str
    file: str
    rows: int
    classes: dict[str, int]  # every class, dataset order
    mean_confidence: float | None
    repeated: int  # rows naming an image already named

    def as_json(self) -> dict[str, object]:
        return {
            "model": self.model,
            "file": self.file,
            "rows": self.rows,
            "images": self.rows - self.repeated,
            "classes": self.classes,
            "mean_confidence": self.mean_confidence,
            "repeated": self.repeated,
        }


@dataclass(frozen=True)
class PairAgreement:
    first: str
    second: str
    compared: int  # images both models labelled
    agree: int

    def as_json(self) -> dict[str, object]:
        share = round(self.agree / self.compared, 4) if self.compared else None
        return {
            "models": [self.first, self.second],
            "compared": self.compared,
            "agree": self.agree,
            "share": share,
        }


@dataclass(frozen=True)
class PredictionStats:
    part: str  # the name counted: the group of the inference files
    models: list[ModelCounts]
    images: int  # distinct images any model labelled
    in_every_model: int
    unanimous: int  # of those, images every model gave the same class
    unanimous_classes: dict[str, int]  # dataset order
    pairs: list[PairAgreement]
    published_images: int | None  # the unlabeled images' published count, to compare rows
    absent_models: list[str] = field(default_factory=list)  # named but not here

    def differences(self) -> list[str]:
        found = []
        if self.published_images is not None:
            found += [
                f"{m.model}: {m.rows - m.repeated:,} images, {self.published_images:,} published"
                for m in self.models
                if m.rows - m.repeated != self.published_images
            ]
        found += [
            f"{m.model}: rows naming an image twice: {m.repeated:,}"
            for m in self.models
            if m.repeated
        ]
        return found

    def as_json(self) -> dict[str, object]:
        compared = self.published_images is not None
        return {
            "part": self.part,
            "models": [m.as_json() for m in self.models],
            "absent_models": self.absent_models,
            "published_images": self.published_images,
            "agreement": {
                "images": self.images,
                "in_every_model": self.in_every_model,
                "unanimous": self.unanimous,
                "unanimous_classes": self.unanimous_classes,
                "pairs": [p.as_json() for p in self.pairs],
            },
            "matches_published": (not self.differences()) if compared else None,
            "differences": self.differences(),
        }


def prediction_stats(
    sources: list[ModelFile],
    published_images: int | None = None,
    absent_models: list[str] | None = None,
) -> PredictionStats:
    """Count every model's file (see the module docstring). ArchiveError (exit 6) when a
    file cannot be read as an inference CSV."""
    labels: dict[str, bytearray] = {}
    models = [_count_model(i, len(sources), source, labels) for i, source in enumerate(sources)]
    every = [row for row in labels.values() if ABSENT not in row]
    unanimous = Counter(PREDICTED_CLASSES[row[0]] for row in every if len(set(row)) == 1)
    pairs = []
    for a, b in combinations(range(len(sources)), 2):
        both = [(row[a], row[b]) for row in labels.values() if ABSENT not in (row[a], row[b])]
        agree = sum(1 for x, y in both if x == y)
        pairs.append(PairAgreement(sources[a].model, sources[b].model, len(both), agree))
    return PredictionStats(
        part=PREDICTIONS,
        models=models,
        images=len(labels),
        in_every_model=len(every),
        unanimous=sum(unanimous.values()),
        unanimous_classes={name: unanimous[name] for name in DATASET_ORDER},
        pairs=pairs,
        published_images=published_images,
        absent_models=list(absent_models or []),
    )


def _count_model(
    index: int, models: int, source: ModelFile, labels: dict[str, bytearray]
) -> ModelCounts:
    counts: Counter[str] = Counter()
    rows = repeated = scored = 0
    confidence = 0.0
    with open_predictions(source.path, source.model) as table:
        for prediction in table.rows():
            rows += 1
            key = image_key(prediction.file_name)
            row = labels.get(key)
            if row is None:
                row = labels[key] = bytearray([ABSENT]) * models
            if row[index] != ABSENT:
                repeated += 1
                continue
            row[index] = CLASS_INDEX[prediction.label]
            counts[prediction.label] += 1
            if prediction.confidence is not None:
                scored += 1
                confidence += prediction.confidence
    return ModelCounts(
        model=source.model,
        file=str(source.path),
        rows=rows,
        classes={name: counts[name] for name in DATASET_ORDER},
        mean_confidence=round(confidence / scored, 4) if scored else None,
        repeated=repeated,
    )
