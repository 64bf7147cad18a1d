"""What the checks of a published metadata file against the files here share: one field
that differs, and the lines that say what does not match."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class MetadataDisagreement:
    """One field of one file whose value here is not the metadata's."""

    path: str
    # images: width | height | kilobytes | class; videos: kilobytes | frames | fps | width | height
    field: str
    metadata: str | float
    file: str | float

    def as_json(self) -> dict[str, object]:
        return {
            "path": self.path,
            "field": self.field,
            "metadata": self.metadata,
            "file": self.file,
        }


def mismatch_lines(
    files: str,
    a_file: str,
    without_row: int,
    rows_without_file: int,
    disagreements: Sequence[MetadataDisagreement],
) -> list[str]:
    """One line for each kind of mismatch found, none when all agree. ``files`` and
    ``a_file`` name what the metadata describes (``"images"``, ``"an image"``)."""
    found = []
    if without_row:
        found.append(f"{files} without a metadata row: {without_row:,}")
    if rows_without_file:
        found.append(f"metadata rows without {a_file} here: {rows_without_file:,}")
    if disagreements:
        fields = sorted({d.field for d in disagreements})
        count = len({d.path for d in disagreements})
        found.append(f"{files} whose {', '.join(fields)} differ from the metadata: {count:,}")
    return found
