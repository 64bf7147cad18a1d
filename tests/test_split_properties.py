"""Rules every split must keep, for all inputs: disjoint and complete, within one image of
ideal per class, the same bytes for the same seed in any input order, another seed another
assignment."""

from __future__ import annotations

import math
from fractions import Fraction

from hypothesis import given, settings
from hypothesis import strategies as st

from hyperkvasir_cli.dataset.split.assign import (
    Split,
    SplitItem,
    allocate,
    fold_names,
    fold_ratios,
    make_split,
    ratio_split_names,
)
from hyperkvasir_cli.dataset.split.writers import Provenance, render_split_files

LABELS = ("cecum", "hemorrhoids", "polyps", "z-line", "barretts")
PROVENANCE = Provenance("labeled-images", "bundled manifest", "hyper-kvasir", "2020", "0.1.0")

class_sizes = st.dictionaries(st.sampled_from(LABELS), st.integers(0, 40), min_size=1)
ratio_sets = st.one_of(
    st.sampled_from(
        [
            (Fraction(7, 10), Fraction(3, 20), Fraction(3, 20)),
            (Fraction(8, 10), Fraction(1, 10), Fraction(1, 10)),
            (Fraction(1, 2), Fraction(1, 2)),
            (Fraction(9, 10), Fraction(1, 10)),
        ]
    ),
    st.integers(2, 6).map(fold_ratios),
    st.lists(st.integers(1, 20), min_size=2, max_size=5).map(
        lambda weights: tuple(Fraction(w, sum(weights)) for w in weights)
    ),
)
seeds = st.integers(0, 2**32)


def items_for(sizes: dict[str, int]) -> list[SplitItem]:
    return [
        SplitItem(f"labeled-images/o/c/{label}/{label}-{n:03d}.jpg", label, "o", "c")
        for label, count in sorted(sizes.items())
        for n in range(count)
    ]


def names_for(ratios: tuple[Fraction, ...]) -> tuple[str, ...]:
    equal = len(set(ratios)) == 1 and len(ratios) > 3
    return fold_names(len(ratios)) if equal else ratio_split_names(len(ratios))


def per_class_counts(result: Split) -> dict[str, list[int]]:
    counts = {item.label: [0] * len(result.names) for item in result.items}
    for item in result.items:
        counts[item.label][result.assignment[item.path]] += 1
    return counts


@given(class_sizes, ratio_sets, seeds, st.sampled_from(["stratified", "random"]))
def test_splits_are_disjoint_and_complete(sizes, ratios, seed, strategy) -> None:
    items = items_for(sizes)
    result = make_split(items, strategy, ratios, names_for(ratios), seed)
    assert set(result.assignment) == {item.path for item in items}
    assert all(0 <= index < len(ratios) for index in result.assignment.values())
    members = [result.members(i) for i in range(len(ratios))]
    assert sum(len(m) for m in members) == len(items)
    assert len({item.path for m in members for item in m}) == len(items)


@given(class_sizes, ratio_sets, seeds)
def test_stratified_is_within_one_image_of_ideal_per_class(sizes, ratios, seed) -> None:
    result = make_split(items_for(sizes), "stratified", ratios, names_for(ratios), seed)
    for label, counts in per_class_counts(result).items():
        for count, ratio in zip(counts, ratios, strict=True):
            ideal = sizes[label] * ratio
            assert abs(count - ideal) < 1, (label, counts, ideal)


@given(class_sizes, ratio_sets, seeds)
def test_every_split_gets_each_class_when_one_image_of_slack_allows(sizes, ratios, seed) -> None:
    result = make_split(items_for(sizes), "stratified", ratios, names_for(ratios), seed)
    for label, counts in per_class_counts(result).items():
        total = sizes[label]
        floors = [math.floor(total * r) for r in ratios]
        would_be_empty = sum(1 for f, r in zip(floors, ratios, strict=True) if f == 0 and total * r)
        if total >= len(ratios) and would_be_empty <= total - sum(floors):
            assert min(counts) >= 1, (label, counts)


@given(class_sizes, ratio_sets, seeds)
def test_random_is_within_one_image_of_ideal_overall(sizes, ratios, seed) -> None:
    items = items_for(sizes)
    result = make_split(items, "random", ratios, names_for(ratios), seed)
    for index, ratio in enumerate(ratios):
        assert abs(len(result.members(index)) - len(items) * ratio) < 1


@given(class_sizes, ratio_sets, seeds, st.randoms(use_true_random=False), st.data())
def test_the_same_seed_gives_the_same_bytes_in_any_input_order(
    sizes, ratios, seed, shuffler, data
) -> None:
    strategy = data.draw(st.sampled_from(["stratified", "random"]))
    items = items_for(sizes)
    shuffled = list(items)
    shuffler.shuffle(shuffled)
    names = names_for(ratios)
    first = render_split_files(make_split(items, strategy, ratios, names, seed), PROVENANCE, "csv")
    second = render_split_files(
        make_split(shuffled, strategy, ratios, names, seed), PROVENANCE, "csv"
    )
    assert first == second


@settings(max_examples=50)
@given(st.integers(40, 120), seeds, seeds, st.sampled_from(["stratified", "random"]))
def test_another_seed_gives_another_assignment(size, seed, other, strategy) -> None:
    # With 40 or more images in halves, two seeds agree with odds below 1 in 10**11.
    if seed == other:
        other += 1
    items = items_for({"polyps": size})
    halves = (Fraction(1, 2), Fraction(1, 2))
    first = make_split(items, strategy, halves, ("train", "test"), seed)
    second = make_split(items, strategy, halves, ("train", "test"), other)
    assert first.assignment != second.assignment


@given(st.integers(0, 500), ratio_sets)
def test_allocation_takes_floor_or_ceiling_and_adds_up(total, ratios) -> None:
    counts = allocate(total, ratios)
    assert sum(counts) == total
    for count, ratio in zip(counts, ratios, strict=True):
        assert math.floor(total * ratio) <= count <= math.ceil(total * ratio)
