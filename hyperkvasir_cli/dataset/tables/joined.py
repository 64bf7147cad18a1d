"""One table of the unlabeled images' features: the ARFF's rows, each with its cluster and
every model's predicted label.

Columns, in order: ``image`` (the file name rows are matched by; empty when the ARFF names
no image), every ARFF attribute as the ARFF names and orders them, ``cluster`` from the
clusters file when one is given (matched by image, else by position), then one column per
model, named after it, holding the canonical class it predicted. A joined column whose
name an ARFF attribute already has gets ``-joined`` appended.

The ARFF is streamed row by row; the clusters and labels to join are held by image (a
string and one byte per model for each of 99,417 images). Values come out as the files
wrote them (None for missing), so a CSV keeps the ARFF's digits; :meth:`Column.convert`
gives the typed value a Parquet column needs.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from hyperkvasir_cli.dataset.tables.arff import ArffAttribute, ArffFile, open_arff
from hyperkvasir_cli.dataset.tables.clusters import open_clusters
from hyperkvasir_cli.dataset.tables.features import cluster_attribute, image_attribute, image_key
from hyperkvasir_cli.dataset.tables.parts import CLUSTERS, FEATURES_ARFF
from hyperkvasir_cli.dataset.tables.predictions import (
    PREDICTED_CLASSES,
    ModelFile,
    open_predictions,
)
from hyperkvasir_cli.dataset.tables.text import parse_int

ColumnType = Literal["string", "float", "int"]
ABSENT = 255
_CLASS_INDEX = {name: i for i, name in enumerate(PREDICTED_CLASSES)}


@dataclass(frozen=True)
class Column:
    name: str
    type: ColumnType
    source: str  # image | arff | cluster | a model's name

    def convert(self, value: str | None) -> str | float | int | None:
        """The typed value; ValueError for text that is not this column's type."""
        if value is None or self.type == "string":
            return value
        if self.type == "int":
            number = parse_int(value)
            if number is None:
                raise ValueError(f"{self.name}: expected a whole number, found {value!r}")
            return number
        try:
            return float(value)
        except ValueError:
            raise ValueError(f"{self.name}: expected a number, found {value!r}") from None


def _arff_type(attribute: ArffAttribute) -> ColumnType:
    if attribute.type == "integer":
        return "int"
    return "float" if attribute.is_numeric else "string"


@dataclass
class JoinCounts:
    """What was joined, filled in while the rows are read."""

    rows: int = 0
    with_cluster: int = 0  # rows that found their cluster in the clusters file
    with_prediction: dict[str, int] = field(default_factory=dict)  # model -> rows

    def as_json(self) -> dict[str, object]:
        return {
            "rows": self.rows,
            "with_cluster": self.with_cluster,
            "with_prediction": dict(self.with_prediction),
        }


class FeatureTable:
    """The joined table of one ARFF; :meth:`rows` streams it once."""

    def __init__(
        self,
        arff: ArffFile,
        clusters: dict[str, str] | list[str] | None,
        models: list[str],
        labels: dict[str, bytearray],
    ) -> None:
        self._arff = arff
        self._clusters = clusters
        self._models = models
        self._labels = labels
        header = arff.header
        self._image_at = image_attribute(header)
        taken = set(header.names)
        joined = ["image"] + (["cluster"] if clusters is not None else []) + models
        names = {n: (f"{n}-joined" if n in taken else n) for n in joined}
        columns = [Column(names["image"], "string", "image")]
        columns += [Column(a.name, _arff_type(a), "arff") for a in header.attributes]
        if clusters is not None:
            columns.append(Column(names["cluster"], "string", "cluster"))
        columns += [Column(names[m], "string", m) for m in models]
        self.columns: tuple[Column, ...] = tuple(columns)
        self.counts = JoinCounts(with_prediction=dict.fromkeys(models, 0))
        self.has_cluster_attribute = cluster_attribute(header) is not None

    @property
    def line(self) -> int:
        """The ARFF line last read, for error messages."""
        return self._arff.line

    def error(self, problem: str) -> Exception:
        return self._arff.error(problem)

    def rows(self) -> Iterator[list[str | None]]:
        """Every ARFF row with its joined values, in the columns' order."""
        image_at = self._image_at
        counts = self.counts
        for values in self._arff.rows():
            key = image_key(values[image_at] or "") if image_at is not None else None
            row: list[str | None] = [key, *values]
            if self._clusters is not None:
                cluster = self._cluster(key, counts.rows)
                counts.with_cluster += cluster is not None
                row.append(cluster)
            labels = self._labels.get(key) if key is not None else None
            for i, model in enumerate(self._models):
                label = labels[i] if labels is not None else ABSENT
                if label == ABSENT:
                    row.append(None)
                else:
                    counts.with_prediction[model] += 1
                    row.append(PREDICTED_CLASSES[label])
            counts.rows += 1
            yield row

    def _cluster(self, key: str | None, index: int) -> str | None:
        if isinstance(self._clusters, dict):
            return self._clusters.get(key) if key is not None else None
        assert self._clusters is not None
        return self._clusters[index] if index < len(self._clusters) else None


def _read_clusters(path: Path, by_image: bool) -> dict[str, str] | list[str]:
    """The clusters file by image (first row wins), or in row order. A cluster's name is
    held once (interned), not once per image: a few names over 99,417 images."""
    with open_clusters(path, CLUSTERS) as table:
        if by_image and table.layout.image_column is not None:
            found: dict[str, str] = {}
            for row in table.rows():
                found.setdefault(image_key(row.image or ""), sys.intern(row.cluster))
            return found
        return [sys.intern(row.cluster) for row in table.rows()]


def _read_labels(models: list[ModelFile]) -> dict[str, bytearray]:
    """Each image's label index per model (ABSENT where a model has none; first row wins)."""
    labels: dict[str, bytearray] = {}
    for index, model in enumerate(models):
        with open_predictions(model.path, model.model) as table:
            for prediction in table.rows():
                key = image_key(prediction.file_name)
                row = labels.get(key)
                if row is None:
                    row = labels[key] = bytearray([ABSENT]) * len(models)
                if row[index] == ABSENT:
                    row[index] = _CLASS_INDEX[prediction.label]
    return labels


@contextmanager
def joined_features(
    arff: Path, clusters: Path | None = None, models: list[ModelFile] | None = None
) -> Iterator[FeatureTable]:
    """The ARFF at ``arff`` joined with the clusters file and the models' predictions.

    ArchiveError (exit 6) when any file cannot be read as its format says; nothing is
    held but the joined values (see the module docstring).
    """
    models = models or []
    labels = _read_labels(models)
    with open_arff(arff, FEATURES_ARFF) as table:
        has_images = image_attribute(table.header) is not None
        by_cluster = _read_clusters(clusters, has_images) if clusters is not None else None
        yield FeatureTable(table, by_cluster, [m.model for m in models], labels)
