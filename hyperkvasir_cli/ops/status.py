"""The local state of each part: absent, partial, downloaded, verified, extracted
(`parts`, and the Python API's ``parts()``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from hyperkvasir_cli.archive.marker import marker_path, read_marker
from hyperkvasir_cli.check.verify import record_matches_file
from hyperkvasir_cli.core.clock import iso_utc
from hyperkvasir_cli.core.layout import Layout
from hyperkvasir_cli.core.manifest import Part
from hyperkvasir_cli.core.records import PartRecord
from hyperkvasir_cli.transfer.sidecar import load_sidecar

if TYPE_CHECKING:
    from hyperkvasir_cli.ops.session import Session

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
    # With a selection (--include/--exclude/--class) only some members were extracted.
    extracted_selection: dict[str, list[str]] | None = None
    # Copies extracted outside the data folder (`extract --to DIR`), never checked here.
    copies: tuple[Path, ...] = ()
    # What a run that never finished was asked to do (`sync` and `resume` finish it).
    requested: dict[str, object] | None = None

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
            "extracted_selection": self.extracted_selection,
            "copies": [str(copy) for copy in self.copies],
            "requested": self.requested,
        }


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
        # A file of another size than the one expected is not a whole download.
        actual = archive.stat().st_size
        percent = 100.0 if size in (None, actual) else round(100.0 * actual / size, 1)
    elif partial.exists():
        state = "partial"
        sidecar = load_sidecar(layout.sidecar_path(part))
        # Without its sidecar a partial cannot be continued (nothing ties its bytes to one
        # version of the file), and a preallocated one has its full size: no percentage.
        percent = (
            round(100.0 * sidecar.downloaded / sidecar.size, 1)
            if sidecar and sidecar.size
            else None
        )
    selection = None
    if extracted is not None and state in ("absent", "verified", "downloaded"):
        state = "extracted"
        assert record is not None and record.extracted_to
        marker = read_marker(marker_path(Path(record.extracted_to), part.root, part.name))
        if marker is not None and any(marker.selection.values()):
            selection = marker.selection
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
        extracted_selection=selection,
        copies=tuple(Path(copy) for copy in record.copies) if record else (),
        requested=record.requested.model_dump(mode="json", exclude_none=True)
        if record and record.requested
        else None,
    )


@dataclass(frozen=True)
class PartsReport:
    """Every part of the manifest and its local state (what `parts --json` prints)."""

    manifest: str
    data_dir: Path
    parts: list[PartStatus] = field(default_factory=list)
    # Names that stand for several parts: (name, its parts, description).
    groups: list[tuple[str, list[str], str | None]] = field(default_factory=list)

    def as_json(self) -> dict[str, object]:
        return {
            "manifest": self.manifest,
            "data_dir": str(self.data_dir),
            "parts": [status.as_json() for status in self.parts],
            "groups": [
                {"name": name, "parts": parts, "description": description}
                for name, parts, description in self.groups
            ],
        }


def list_parts(session: Session) -> PartsReport:
    """The state of every part of the session's manifest; reads, never writes."""
    layout = session.layout
    records = session.records()
    return PartsReport(
        manifest=session.manifest.source,
        data_dir=layout.data_dir,
        parts=[part_status(p, layout, records.get(p.name)) for p in session.manifest.parts],
        groups=[(g.name, list(g.parts), g.description) for g in session.manifest.groups],
    )


def complete_tree(session: Session, part: Part) -> Path | None:
    """The part's recorded extracted tree when a whole extraction finished there (its
    marker is present and records no selection); None otherwise. Only the marker is read,
    no file is checked (`checksum --extracted` does that)."""
    record = session.record(part, fresh=True)
    if record is None or not record.extracted_to:
        return None
    target = Path(record.extracted_to)
    marker = read_marker(marker_path(target, part.root, part.name))
    if marker is None or any(marker.selection.values()):
        return None
    return target / part.root if part.root else target


def archive_was_deleted(session: Session, part: Part) -> bool:
    """Extracted, then the archive removed on purpose (`extract --delete-archive`)."""
    record = session.record(part)
    return (
        record is not None
        and record.archive is None
        and (record.extracted_to is not None or bool(record.copies))
        and not session.layout.archive_path(part).exists()
    )
