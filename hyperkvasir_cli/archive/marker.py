"""The completion marker: which archive produced an extracted tree, and with what selection.

It lives at ``<target>/<root>/.hyperkvasir-extract.json`` (or, for an archive with several
top folders, ``<target>/.hyperkvasir-extract-<part>.json``) and is written atomically after
every selected member is in place, so its presence means the selection was complete.
Readers (``checksum --extracted``) rebuild the selection with ``Selection.build(**selection)``.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from hyperkvasir_cli.archive.safety import MARKER_PREFIX
from hyperkvasir_cli.archive.selection import Selection
from hyperkvasir_cli.core.about import __version__
from hyperkvasir_cli.core.atomic import atomic_write_text
from hyperkvasir_cli.core.clock import iso_utc

MARKER_NAME = f"{MARKER_PREFIX}.json"


class ExtractMarker(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    archive: str
    archive_sha256: str | None = None
    members: int = Field(ge=0)
    bytes: int = Field(ge=0)
    selection: dict[str, list[str]] = Field(default_factory=dict)
    completed_at: str
    tool_version: str
    # Members fetched by range from a server (not from a local archive): its URL and the
    # version (size and validators) they all came from.
    fetched_from: str | None = None
    version: str | None = None

    @classmethod
    def completed(
        cls,
        archive: str,
        archive_sha256: str | None,
        members: int,
        size: int,
        selection: Selection,
        *,
        fetched_from: str | None = None,
        version: str | None = None,
    ) -> ExtractMarker:
        return cls(
            fetched_from=fetched_from,
            version=version,
            archive=archive,
            archive_sha256=archive_sha256,
            members=members,
            bytes=size,
            selection=selection.as_json(),
            completed_at=iso_utc(datetime.now(timezone.utc)),
            tool_version=__version__,
        )

    def covers(self, other: ExtractMarker) -> bool:
        """True when this marker already vouches for everything ``other`` would: the same
        archive (and version, for members fetched by range), and the same selection or
        everything."""
        if self.archive_sha256 != other.archive_sha256 or self.archive != other.archive:
            return False
        if self.version != other.version:
            return False
        everything = not any(self.selection.get(k) for k in ("include", "exclude", "classes"))
        return everything or self.selection == other.selection


def marker_path(target: Path, root: str | None, part_name: str) -> Path:
    if root:
        return target / root / MARKER_NAME
    return target / f"{MARKER_PREFIX}-{part_name}.json"


def read_marker(path: Path) -> ExtractMarker | None:
    """The marker at ``path``; None when it is missing or unreadable (then it vouches for
    nothing, which at worst makes a run check more)."""
    try:
        return ExtractMarker.model_validate(json.loads(path.read_text("utf-8")))
    except (OSError, ValueError, ValidationError):
        return None


def write_marker(path: Path, marker: ExtractMarker) -> None:
    atomic_write_text(path, json.dumps(marker.model_dump(), indent=2) + "\n")


def archive_changed(previous: ExtractMarker | None, archive_sha256: str | None) -> bool:
    """The tree was made from another archive than this one (both checksums known): files
    of the right size may still hold the old bytes, so they must be compared by CRC-32."""
    return (
        previous is not None
        and previous.archive_sha256 is not None
        and archive_sha256 is not None
        and previous.archive_sha256 != archive_sha256
    )
