"""A pseudo-labelled subset of the unlabeled images, from the models' predicted labels.

An unlabeled image is kept when every chosen model labelled it, all with the same class,
and each gave that class a score of at least ``min_confidence`` (a score the file does not
have counts as 0). The kept images become split items like the labeled ones: path
``unlabeled-images/images/<file name>``, the predicted class (canonical) with its organ
and category, so the usual assignment and writers apply unchanged.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from hyperkvasir_cli.core.classes import CLASS_BY_NAME
from hyperkvasir_cli.core.errors import UsageError
from hyperkvasir_cli.dataset.paths import UNLABELED_IMAGES
from hyperkvasir_cli.dataset.split.assign import SplitItem
from hyperkvasir_cli.dataset.tables.features import image_key
from hyperkvasir_cli.dataset.tables.predictions import ModelFile, open_predictions

UNLABELED_FOLDER = f"{UNLABELED_IMAGES}/images"


def unlabeled_path(file_name: str) -> str:
    return f"{UNLABELED_FOLDER}/{file_name}"


def check_confidence(value: float) -> float:
    """``value`` when it is a score from 0 to 1; UsageError (exit 2) otherwise."""
    if not 0.0 <= value <= 1.0:
        raise UsageError(
            f"--min-confidence must be from 0 to 1, found {value:g}",
            hint="the models' scores are softmax probabilities, e.g. --min-confidence 0.9",
        )
    return value


@dataclass(frozen=True)
class PseudoLabels:
    items: list[SplitItem]  # sorted by path
    models: list[str]
    min_confidence: float
    images: int  # images any chosen model labelled
    not_in_every_model: int
    disagreeing: int  # labelled by every model, not with one class
    below_confidence: int  # one class, but some model's score under the threshold

    def as_json(self) -> dict[str, object]:
        return {
            "models": self.models,
            "min_confidence": self.min_confidence,
            "images": self.images,
            "kept": len(self.items),
            "not_in_every_model": self.not_in_every_model,
            "disagreeing": self.disagreeing,
            "below_confidence": self.below_confidence,
        }


def pseudo_label_items(models: Sequence[ModelFile], min_confidence: float) -> PseudoLabels:
    """The images the ``models`` agree on with at least ``min_confidence`` (see the module
    docstring). ArchiveError (exit 6) when an inference file cannot be read."""
    if not models:
        raise UsageError("name at least one model's predictions")
    check_confidence(min_confidence)
    # Per image: the class all agree on so far (None once two differ), the lowest score,
    # how many models labelled it, and the last model that did.
    seen: dict[str, tuple[str | None, float, int, int]] = {}
    for index, model in enumerate(models):
        with open_predictions(model.path, model.model) as table:
            for prediction in table.rows():
                key = image_key(prediction.file_name)
                label, lowest, count, last = seen.get(key, (prediction.label, 1.0, 0, -1))
                if last == index:
                    continue  # the same image twice in one file: the first row counts
                agreed = label if label == prediction.label else None
                score = prediction.confidence if prediction.confidence is not None else 0.0
                seen[key] = (agreed, min(lowest, score), count + 1, index)
    items, partial, disagreeing, below = [], 0, 0, 0
    for name, (label, lowest, count, _) in seen.items():
        if count < len(models):
            partial += 1
        elif label is None:
            disagreeing += 1
        elif lowest < min_confidence:
            below += 1
        else:
            cls = CLASS_BY_NAME[label]
            items.append(SplitItem(unlabeled_path(name), cls.name, cls.organ, cls.category))
    return PseudoLabels(
        items=sorted(items, key=lambda item: item.path),
        models=[m.model for m in models],
        min_confidence=min_confidence,
        images=len(seen),
        not_in_every_model=partial,
        disagreeing=disagreeing,
        below_confidence=below,
    )
