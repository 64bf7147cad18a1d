"""``clusters.csv``: the cluster each unlabeled image was put in.

The repository publishes no script that writes this file, so the reader takes what such a
table plausibly holds rather than one exact header: the delimiter is `,`, `;` or TAB
(whichever the header uses), the cluster is the column named ``cluster`` (or the one
name holding ``cluster``), and the image is the column named ``file-name``, ``filename``,
``file``, ``image``, ``image-name``, ``path`` or ``name`` (spelling of case, ``_`` and
``-`` aside). Without an image column the rows are taken in order, row *i* being the
ARFF's instance *i*. A header naming no cluster column raises ArchiveError (exit 6).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from hyperkvasir_cli.dataset.tables.text import (
    find_column,
    malformed,
    normalise_header,
    open_text,
    sniff_delimiter,
    split_fields,
    text_lines,
)

IMAGE_COLUMNS = ("file-name", "filename", "file", "image", "image-name", "path", "name")


@dataclass(frozen=True)
class ClustersLayout:
    """Which columns of the file hold what."""

    delimiter: str
    header: tuple[str, ...]
    cluster_column: int
    image_column: int | None  # None: rows follow the ARFF's instances in order

    @property
    def keyed_by(self) -> str:
        return "image" if self.image_column is not None else "row order"


def clusters_layout(header_line: str, source: str, part: str | None = None) -> ClustersLayout:
    """Read the header line; ArchiveError (exit 6) when no column names a cluster."""
    delimiter = sniff_delimiter(header_line)
    header = tuple(split_fields(header_line, delimiter))
    cluster = find_column(header, "cluster", "cluster-id", "cluster-number")
    if cluster is None:
        holding = [i for i, h in enumerate(header) if "cluster" in normalise_header(h)]
        cluster = holding[0] if len(holding) == 1 else None
    if cluster is None:
        raise malformed(
            source, 1, f"expected a column named cluster in the header, found {header_line!r}", part
        )
    return ClustersLayout(delimiter, header, cluster, find_column(header, *IMAGE_COLUMNS))


@dataclass(frozen=True, slots=True)
class ClusterRow:
    line: int
    image: str | None  # the image column's value, when there is one
    cluster: str


class ClustersFile:
    """An open clusters file whose header is read; :meth:`rows` streams the rows once."""

    def __init__(self, handle: TextIO, source: str, part: str | None = None) -> None:
        self.source = source
        self._part = part
        self._lines = text_lines(handle, source, part)
        _, header = next(self._lines, (1, ""))
        self.layout = clusters_layout(header, source, part)

    def rows(self) -> Iterator[ClusterRow]:
        """Every row; one too short for the columns raises ArchiveError naming its line."""
        layout = self.layout
        needed = max(layout.cluster_column, layout.image_column or 0) + 1
        for number, text in self._lines:
            if not text.strip():
                continue
            fields = split_fields(text, layout.delimiter)
            if len(fields) < needed:
                raise malformed(
                    self.source,
                    number,
                    f"expected {len(layout.header)} fields separated by "
                    f"{layout.delimiter!r}, found {len(fields)}",
                    self._part,
                )
            image = fields[layout.image_column].strip() if layout.image_column is not None else None
            yield ClusterRow(number, image, fields[layout.cluster_column].strip())


@contextmanager
def open_clusters(path: Path, part: str | None = None) -> Iterator[ClustersFile]:
    """The clusters file at ``path`` with its header read."""
    with open_text(path) as handle:
        yield ClustersFile(handle, str(path), part)
