"""What a run was asked to do with each part, recorded before any byte is fetched: a run
killed half way stays visible (`sync` finishes it) and `resume` keeps its `--extract`."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from hyperkvasir_cli.core.manifest import Part
    from hyperkvasir_cli.ops.session import Session


def note_requests(
    session: Session, parts: list[Part], command: str, extract: bool, *, keep: bool
) -> None:
    """Record, before any byte is fetched, what this run was asked to do with each part, so
    that a run killed half way is visible: `sync` finishes it, `resume` extracts when the
    request did. ``keep`` leaves a request recorded earlier as it was (`resume`)."""
    from datetime import datetime, timezone

    from hyperkvasir_cli.core.records import PartRecord, Request

    moment = datetime.now(timezone.utc)
    with session.record_store.updating() as records:
        for part in parts:
            record = records.get(part.name, PartRecord())
            if keep and record.requested is not None:
                continue
            wants = extract and part.archive_kind == "zip"
            request = Request(command=command, extract=wants, at=moment)
            records[part.name] = record.model_copy(update={"requested": request})


def extraction_asked(session: Session, part: Part, extract: bool) -> bool:
    """Whether ``part`` is to be extracted once downloaded: asked now, or by the run whose
    request is recorded (`download --extract` killed, then `resume`)."""
    if part.archive_kind != "zip":
        return False
    record = session.record(part, fresh=True)
    return extract or (
        record is not None and record.requested is not None and record.requested.extract
    )
