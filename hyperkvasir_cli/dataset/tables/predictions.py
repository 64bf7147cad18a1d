"""The labels the paper's models predicted for the unlabeled images (``*.py_inference.csv``).

Written by the ``inference()`` function of the repository's classification scripts with
pandas ``to_csv(index=False)``: comma-separated, header ``filename,predicted-label,A,...,W``,
one row per unlabeled image: its file name (``<uuid>.jpg``), the index 0-22 of the
predicted class, and the 23 softmax scores rounded to three decimals. Index *i* and letter
``chr(65 + i)`` are the class at *i* in the repository's "Image Labels" table (README.md,
and ``INDEX_TO_LABEL`` of ``scripts/generate_confusion_matrix.py``): :data:`PREDICTED_CLASSES`
holds that table under canonical names.

Also read, so that a re-exported table works too: class names (any spelling) as score
columns and as the predicted label, a letter as the predicted label, ``file-name`` for
``filename``, and an unnamed pandas index or an ``actual-label`` column (both ignored).
Any other column raises ArchiveError (exit 6), as does a label outside the 23 classes.
"""

from __future__ import annotations

import string
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from hyperkvasir_cli.core.classes import canonical_class
from hyperkvasir_cli.dataset.tables.text import (
    find_column,
    malformed,
    normalise_header,
    open_text,
    parse_float,
    parse_int,
    sniff_delimiter,
    split_fields,
    text_lines,
)

# The repository's table (index: name there), canonical names here.
PREDICTED_CLASSES: tuple[str, ...] = (
    "barretts",  # 0 barretts
    "bbps-0-1",  # 1
    "bbps-2-3",  # 2
    "dyed-lifted-polyps",  # 3
    "dyed-resection-margins",  # 4
    "hemorrhoids",  # 5 hemorroids
    "ileum",  # 6
    "impacted-stool",  # 7
    "cecum",  # 8 normal-cecum
    "pylorus",  # 9 normal-pylorus
    "z-line",  # 10 normal-z-line
    "esophagitis-a",  # 11 oesophagitis-a
    "esophagitis-b-d",  # 12 oesophagitis-b-d
    "polyps",  # 13 polyp
    "retroflex-rectum",  # 14
    "retroflex-stomach",  # 15
    "barretts-short-segment",  # 16 short-segment-barretts
    "ulcerative-colitis-grade-0-1",  # 17 ulcerative-colitis-0-1
    "ulcerative-colitis-grade-1-2",  # 18 ulcerative-colitis-1-2
    "ulcerative-colitis-grade-2-3",  # 19 ulcerative-colitis-2-3
    "ulcerative-colitis-grade-1",  # 20
    "ulcerative-colitis-grade-2",  # 21
    "ulcerative-colitis-grade-3",  # 22
)
LETTERS = string.ascii_uppercase[: len(PREDICTED_CLASSES)]
FILE_COLUMNS = ("filename", "file-name", "file")
LABEL_COLUMNS = ("predicted-label", "predicted", "prediction")
IGNORED_COLUMNS = ("actual-label", "")


def class_of_label(text: str) -> str | None:
    """The canonical class a predicted label names: an index 0-22, a letter A-W, or a
    class name under any spelling; None for anything else."""
    text = text.strip()
    index = parse_int(text)
    if index is not None:
        return PREDICTED_CLASSES[index] if 0 <= index < len(PREDICTED_CLASSES) else None
    if len(text) == 1 and text in LETTERS:
        return PREDICTED_CLASSES[LETTERS.index(text)]
    return canonical_class(text)


def _class_of_column(name: str) -> str | None:
    name = name.strip()
    if len(name) == 1 and name in LETTERS:
        return PREDICTED_CLASSES[LETTERS.index(name)]
    return canonical_class(name)


@dataclass(frozen=True)
class ModelFile:
    """One model's inference file: the model's name (its part's) and where the file is."""

    model: str
    path: Path


@dataclass(frozen=True)
class PredictionsLayout:
    delimiter: str
    width: int  # fields per row
    file_column: int
    label_column: int
    score_columns: dict[str, int]  # canonical class -> column


def predictions_layout(header_line: str, source: str, part: str | None = None) -> PredictionsLayout:
    """Read the header line; ArchiveError (exit 6) naming what is missing or unknown."""
    delimiter = sniff_delimiter(header_line)
    header = split_fields(header_line, delimiter)
    file_column = find_column(header, *FILE_COLUMNS)
    label_column = find_column(header, *LABEL_COLUMNS)
    if file_column is None or label_column is None:
        raise malformed(
            source,
            1,
            f"expected the columns filename and predicted-label, found {header_line[:120]!r}",
            part,
        )
    scores: dict[str, int] = {}
    unknown = []
    for index, name in enumerate(header):
        if index in (file_column, label_column):
            continue
        label = _class_of_column(name)
        normalised = normalise_header(name)
        if label is not None and label not in scores:
            scores[label] = index
        elif normalised in IGNORED_COLUMNS or normalised.startswith("unnamed"):
            continue
        else:
            unknown.append(name)
    if unknown:
        raise malformed(
            source,
            1,
            f"columns that are neither a class (A-W or a class name) nor known: "
            f"{', '.join(repr(u) for u in unknown[:5])}",
            part,
        )
    return PredictionsLayout(delimiter, len(header), file_column, label_column, scores)


@dataclass(frozen=True, slots=True)
class Prediction:
    line: int
    file_name: str
    label: str  # canonical class
    confidence: float | None  # the predicted class's score; None when the file has none


class PredictionsFile:
    """An open inference CSV whose header is read; :meth:`rows` streams the rows once."""

    def __init__(self, handle: TextIO, source: str, part: str | None = None) -> None:
        self.source = source
        self._part = part
        self._lines = text_lines(handle, source, part)
        _, header = next(self._lines, (1, ""))
        self.layout = predictions_layout(header, source, part)

    def rows(self) -> Iterator[Prediction]:
        """Every row; ArchiveError naming the line for a wrong field count, an empty file
        name, a label outside the 23 classes or a score that is not a number."""
        layout = self.layout
        for number, text in self._lines:
            if not text.strip():
                continue
            fields = split_fields(text, layout.delimiter)
            if len(fields) != layout.width:
                raise self._bad(number, f"expected {layout.width} fields, found {len(fields)}")
            name = fields[layout.file_column].strip()
            if not name:
                raise self._bad(number, "the file name is empty")
            label = class_of_label(fields[layout.label_column])
            if label is None:
                found = fields[layout.label_column]
                raise self._bad(number, f"predicted-label {found!r} is not one of the 23 classes")
            yield Prediction(number, name, label, self._score(fields, label, number))

    def _score(self, fields: list[str], label: str, number: int) -> float | None:
        column = self.layout.score_columns.get(label)
        if column is None or not fields[column].strip():
            return None
        score = parse_float(fields[column])
        if score is None:
            raise self._bad(number, f"the score of {label} is not a number: {fields[column]!r}")
        return score

    def _bad(self, line: int, problem: str) -> Exception:
        return malformed(self.source, line, problem, self._part)


@contextmanager
def open_predictions(path: Path, part: str | None = None) -> Iterator[PredictionsFile]:
    """The inference CSV at ``path`` with its header read."""
    with open_text(path) as handle:
        yield PredictionsFile(handle, str(path), part)
