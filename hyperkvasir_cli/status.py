"""The local state of each part: absent, partial, downloaded, verified, extracted."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from hyperkvasir_cli.clock import iso_utc
from hyperkvasir_cli.config import PartRecord
from hyperkvasir_cli.layout import Layout
from hyperkvasir_cli.manifest import Part
from hyperkvasir_cli.sidecar import load_sidecar

State = Literal["absent", "partial", "downloaded", "verified", "extracted"]


@dataclass(frozen=True)
class PartStatus:
    name: str
    file: str
    size: int | None
    state: State
    percent: float | None
    archive: Path | None
    partial: Path | None
    extracted: Path | None
    sha256: str | None
    verified_at: str | None

    def as_json(self) -> dict[str, object]:
        return {
            "name": self.name,
            "file": self.file,
            "size": self.size,
            "state": self.state,
            "percent": self.percent,
            "archive": str(self.archive) if self.archive else None,
            "partial": str(self.partial) if self.partial else None,
            "extracted": str(self.extracted) if self.extracted else None,
            "sha256": self.sha256,
            "verified_at": self.verified_at,
        }


def record_matches_file(record: PartRecord | None, path: Path) -> bool:
    """The record's verification still describes the file on disk (same size)."""
    if record is None or record.verified_at is None or record.size is None:
        return False
    try:
        return path.stat().st_size == record.size
    except OSError:
        return False


def part_status(part: Part, layout: Layout, record: PartRecord | None) -> PartStatus:
    archive = layout.archive_path(part)
    partial = layout.partial_path(part)
    size = part.size or (record.size if record else None)
    extracted: Path | None = None
    if record is not None and record.extracted_to:
        # The record keeps the extraction target; people want the part's own folder.
        target = Path(record.extracted_to)
        root = target / part.root if part.root else target
        extracted = root if root.exists() else None
    percent: float | None = None
    state: State = "absent"
    if archive.exists():
        verified = record_matches_file(record, archive)
        state = "verified" if verified else "downloaded"
        percent = 100.0
    elif partial.exists():
        state = "partial"
        sidecar = load_sidecar(layout.sidecar_path(part))
        total = (sidecar.size if sidecar else None) or size
        done = sidecar.downloaded if sidecar else partial.stat().st_size
        percent = round(100.0 * done / total, 1) if total else None
    if extracted is not None and state in ("absent", "verified", "downloaded"):
        state = "extracted"
    return PartStatus(
        name=part.name,
        file=part.file,
        size=size,
        state=state,
        percent=percent,
        archive=archive if archive.exists() else None,
        partial=partial if partial.exists() else None,
        extracted=extracted,
        sha256=(record.sha256 if record else None) or part.sha256,
        verified_at=iso_utc(record.verified_at) if record and record.verified_at else None,
    )
