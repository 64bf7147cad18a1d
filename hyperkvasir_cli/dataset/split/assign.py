"""Reproducible train/validation/test splits and k folds: pure functions, no I/O.

The same items, ratios and seed give the same assignment on every platform and Python
version, whatever order the items arrive in: items are sorted by path, then ordered by
``sha256(f"{seed}:{path}")`` (the seeded order is a hash, not a random generator), and the
number each split gets is decided by largest remainder on exact fractions.

Stratified: each class is split on its own, so each split gets either the floor or the
ceiling of its ideal share (``images * ratio``): always within one image of ideal. When
the floors leave a split empty while another split could spare its rounding, the empty
split is served first, so a class with at least as many images as splits appears in each
split whenever that is possible within one image of ideal (with 0.7/0.15/0.15 that is
every class of 4 or more images; 3 images cannot make 1/1/1 without taking 1.1 from train).
"""

from __future__ import annotations

import hashlib
import math
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Literal

from hyperkvasir_cli.core.errors import UsageError
from hyperkvasir_cli.dataset.paths import (
    SEGMENTED_CLASS,
    SEGMENTED_IMAGES,
    classify_labeled,
    is_data_file,
    pair_segmented,
)

DEFAULT_RATIOS = "0.7,0.15,0.15"
# Written into split.json: names the algorithm above, so a changed one is never mistaken
# for a rerun of this one.
ASSIGNMENT_METHOD = "sha256(seed:path) order, largest remainder per stratum, v1"
RATIO_NAMES = {2: ("train", "test"), 3: ("train", "val", "test")}


@dataclass(frozen=True)
class SplitItem:
    """One unit of assignment: an image (and, for segmented images, its mask)."""

    path: str
    label: str  # canonical class name: the stratum
    organ: str
    category: str
    mask: str | None = None


@dataclass(frozen=True)
class SplitInput:
    items: list[SplitItem]
    left_out: list[str]  # images outside the classes, or without their mask / image


def split_items(paths: Iterable[str], part: str) -> SplitInput:
    """What to split, from a part's file paths: labeled images by class, or segmented
    image/mask pairs (class ``polyps``). Everything else is left out, and listed."""
    paths = [p for p in paths if is_data_file(p)]
    if part == SEGMENTED_IMAGES:
        pairing = pair_segmented(paths)
        c = SEGMENTED_CLASS
        items = [SplitItem(p.image, c.name, c.organ, c.category, p.mask) for p in pairing.pairs]
        return SplitInput(items, pairing.images_without_mask + pairing.masks_without_image)
    items, left_out = [], []
    for path in paths:
        image = classify_labeled(path)
        if image is None:
            left_out.append(path)
        else:
            items.append(SplitItem(path, image.class_name, image.organ, image.category))
    return SplitInput(items, left_out)


def parse_ratios(text: str) -> tuple[Fraction, ...]:
    """``"0.7,0.15,0.15"`` (or ``"1/3,1/3,1/3"``) as exact fractions that sum to 1.

    UsageError (exit 2) naming what is wrong: not numbers, fewer than two, a ratio that is
    not positive, or a sum other than 1.
    """
    pieces = [p.strip() for p in text.split(",") if p.strip()]
    try:
        ratios = tuple(Fraction(p) for p in pieces)
    except (ValueError, ZeroDivisionError):
        raise UsageError(
            f"--ratios must be numbers separated by commas, found {text!r}",
            hint=f"for example --ratios {DEFAULT_RATIOS}",
        ) from None
    if len(ratios) < 2:
        raise UsageError(f"--ratios needs at least two splits, found {text!r}")
    if any(r <= 0 for r in ratios):
        raise UsageError(f"--ratios must all be positive, found {text!r}")
    total = sum(ratios)
    if total != 1:
        raise UsageError(
            f"--ratios must sum to 1, found {text!r} summing to {float(total):g}",
            hint=f"for example --ratios {DEFAULT_RATIOS} or 1/3,1/3,1/3",
        )
    return ratios


def fold_ratios(folds: int) -> tuple[Fraction, ...]:
    if folds < 2:
        raise UsageError(f"--folds must be at least 2, found {folds}")
    return (Fraction(1, folds),) * folds


def ratio_split_names(count: int) -> tuple[str, ...]:
    """train/test, train/val/test, else split-0, split-1, ..."""
    return RATIO_NAMES.get(count, tuple(f"split-{i}" for i in range(count)))


def fold_names(count: int) -> tuple[str, ...]:
    return tuple(f"fold-{i}" for i in range(count))


def split_shares(
    folds: int | None, ratios: str | None
) -> tuple[tuple[Fraction, ...], tuple[str, ...]]:
    """The shares and names of the splits asked for: ``folds`` equal folds, else the
    ``ratios`` (default :data:`DEFAULT_RATIOS`); UsageError (exit 2) as
    :func:`fold_ratios` and :func:`parse_ratios` raise it."""
    if folds is not None:
        return fold_ratios(folds), fold_names(folds)
    shares = parse_ratios(ratios or DEFAULT_RATIOS)
    return shares, ratio_split_names(len(shares))


def allocate(
    total: int, ratios: Sequence[Fraction], deficits: Sequence[Fraction] | None = None
) -> list[int]:
    """How many of ``total`` items each split gets: floor or ceiling of ``total * ratio``.

    The splits that get a ceiling are, in order of preference: those that would otherwise
    be empty, those with the largest remainder, those furthest below their ideal overall
    (``deficits``, so rounding evens out across classes), then the lowest index.
    """
    ideals = [total * r for r in ratios]
    counts = [math.floor(i) for i in ideals]
    remainders = [i - c for i, c in zip(ideals, counts, strict=True)]
    deficits = deficits or [Fraction(0)] * len(ratios)
    rounded_up = sorted(
        (j for j in range(len(ratios)) if remainders[j] > 0),
        key=lambda j: (counts[j] > 0, -remainders[j], -deficits[j], j),
    )
    for j in rounded_up[: total - sum(counts)]:
        counts[j] += 1
    return counts


def seeded_order(paths: Iterable[str], seed: int) -> list[str]:
    """``paths`` in an order fixed by ``seed`` alone (a keyed hash), not by input order."""
    return sorted(paths, key=lambda p: (hashlib.sha256(f"{seed}:{p}".encode()).digest(), p))


def _deal(paths: Sequence[str], counts: Sequence[int], into: dict[str, int]) -> None:
    """The first counts[0] paths to split 0, the next counts[1] to split 1, and so on."""
    start = 0
    for index, count in enumerate(counts):
        for path in paths[start : start + count]:
            into[path] = index
        start += count


def assign_stratified(
    items: Iterable[SplitItem], ratios: Sequence[Fraction], seed: int
) -> dict[str, int]:
    """Split index per item path, each class split on its own (see the module docstring)."""
    by_label: dict[str, list[str]] = defaultdict(list)
    for item in items:
        by_label[item.label].append(item.path)
    assignment: dict[str, int] = {}
    deficits = [Fraction(0)] * len(ratios)
    for label in sorted(by_label):
        paths = seeded_order(by_label[label], seed)
        counts = allocate(len(paths), ratios, deficits)
        deficits = [
            d + len(paths) * r - c for d, r, c in zip(deficits, ratios, counts, strict=True)
        ]
        _deal(paths, counts, assignment)
    return assignment


def assign_random(
    items: Iterable[SplitItem], ratios: Sequence[Fraction], seed: int
) -> dict[str, int]:
    """Split index per item path, ignoring classes: the whole set within one item of ideal."""
    paths = seeded_order((item.path for item in items), seed)
    assignment: dict[str, int] = {}
    _deal(paths, allocate(len(paths), ratios), assignment)
    return assignment


Strategy = Literal["official", "stratified", "random"]


@dataclass(frozen=True)
class Split:
    """Items and the split each belongs to; ``assignment`` maps path -> index in ``names``."""

    strategy: Strategy
    names: tuple[str, ...]
    items: tuple[SplitItem, ...]  # sorted by path
    assignment: Mapping[str, int]
    seed: int | None = None
    ratios: tuple[Fraction, ...] | None = None
    folds: int | None = None

    def members(self, index: int) -> list[SplitItem]:
        return [item for item in self.items if self.assignment[item.path] == index]

    def class_counts(self) -> dict[str, dict[str, int]]:
        """Split name -> class -> items, classes sorted, every class in every split."""
        labels = sorted({item.label for item in self.items})
        counts = {name: dict.fromkeys(labels, 0) for name in self.names}
        for item in self.items:
            counts[self.names[self.assignment[item.path]]][item.label] += 1
        return counts


def make_split(
    items: Iterable[SplitItem],
    strategy: Literal["stratified", "random"],
    ratios: tuple[Fraction, ...],
    names: tuple[str, ...],
    seed: int,
    *,
    folds: int | None = None,
) -> Split:
    """Assign ``items`` by ``strategy``; ``names`` has one name per ratio."""
    ordered = tuple(sorted(items, key=lambda item: item.path))
    if folds is not None and folds > len(ordered):
        raise UsageError(
            f"--folds {folds} is more than the {len(ordered)} items to split: "
            f"{folds - len(ordered)} folds would be empty",
            hint=f"use at most --folds {len(ordered)}",
        )
    assign = assign_stratified if strategy == "stratified" else assign_random
    return Split(
        strategy=strategy,
        names=names,
        items=ordered,
        assignment=assign(ordered, ratios, seed),
        seed=seed,
        ratios=None if folds else ratios,
        folds=folds,
    )
