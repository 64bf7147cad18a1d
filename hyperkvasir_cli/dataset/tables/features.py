"""Which ARFF attributes name the image and its cluster, and how rows meet other tables.

The ARFF of global features is published without a description of its columns, so they
are found by name: the image is the string (or nominal) attribute named ``file-name``,
``filename``, ``file``, ``image``, ``image-name``, ``image-path``, ``path``, ``name`` or
``id``, else the only string attribute; the cluster is the attribute named ``cluster``,
else the one attribute whose name holds ``cluster`` (WEKA's AddCluster filter names it
``cluster``; its cluster output ``Cluster``). Tables meet by the image's file name (what
is left after the last ``/`` or ``\\``), so a path in one and a bare name in the other
still match.
"""

from __future__ import annotations

import re

from hyperkvasir_cli.dataset.tables.arff import ArffHeader
from hyperkvasir_cli.dataset.tables.text import normalise_header

IMAGE_ATTRIBUTES = (
    "file-name",
    "filename",
    "file",
    "image",
    "image-name",
    "image-path",
    "path",
    "name",
    "id",
)


def image_attribute(header: ArffHeader) -> int | None:
    """The index of the attribute naming each row's image, or None when none does."""
    textual = [
        i for i, a in enumerate(header.attributes) if a.type in ("string", "nominal", "date")
    ]
    named = {normalise_header(header.attributes[i].name): i for i in textual}
    for name in IMAGE_ATTRIBUTES:
        if name in named:
            return named[name]
    strings = [i for i in textual if header.attributes[i].type == "string"]
    return strings[0] if len(strings) == 1 else None


def cluster_attribute(header: ArffHeader) -> int | None:
    """The index of the attribute holding each row's cluster, or None when none does."""
    names = [normalise_header(a.name) for a in header.attributes]
    if "cluster" in names:
        return names.index("cluster")
    holding = [i for i, n in enumerate(names) if "cluster" in n]
    return holding[0] if len(holding) == 1 else None


def image_key(value: str) -> str:
    """What rows of different tables are matched by: the image's file name."""
    return value.replace("\\", "/").rsplit("/", 1)[-1].strip()


def natural_key(text: str) -> tuple[tuple[int, int | str], ...]:
    """Sort ``cluster2`` before ``cluster10``."""
    return tuple(
        (0, int(piece)) if piece.isdigit() else (1, piece)
        for piece in re.split(r"(\d+)", text)
        if piece
    )
