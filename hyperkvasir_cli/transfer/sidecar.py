"""The sidecar of a partial download: `<file>.part.json` beside `<file>.part`.

It records where the bytes came from (URL, ETag, Last-Modified, expected size) and how far
each segment got, so that a later run resumes only from the same version of the file.
A single-connection download is one segment; multi-connection downloads add more.
Progress is written only after the bytes it counts are flushed, so it never overstates.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from hyperkvasir_cli.core.atomic import atomic_write_text
from hyperkvasir_cli.transfer.validators import Validators

SIDECAR_VERSION = 1


class Segment(BaseModel):
    """Bytes ``[start, end)`` of the file; ``done`` of them, from ``start``, are on disk."""

    model_config = ConfigDict(extra="forbid")

    start: int = Field(ge=0)
    end: int | None = Field(default=None, ge=0)
    done: int = Field(default=0, ge=0)

    @property
    def offset(self) -> int:
        return self.start + self.done

    @property
    def complete(self) -> bool:
        return self.end is not None and self.offset >= self.end

    @property
    def remaining(self) -> int | None:
        return None if self.end is None else max(self.end - self.offset, 0)


class Sidecar(BaseModel):
    model_config = ConfigDict(extra="forbid")

    version: int = SIDECAR_VERSION
    url: str
    etag: str | None = None
    last_modified: str | None = None
    size: int | None = None
    accepts_ranges: bool = False
    segments: list[Segment] = Field(default_factory=list)
    updated_at: datetime | None = None

    @property
    def downloaded(self) -> int:
        return sum(s.done for s in self.segments)

    @property
    def validators(self) -> Validators:
        return Validators(self.etag, self.last_modified)

    @property
    def resumable(self) -> bool:
        """Bytes on disk are continued only when their version can be pinned (If-Range)."""
        return self.validators.if_range is not None or self.downloaded == 0


def load_sidecar(path: Path) -> Sidecar | None:
    """The sidecar, or None when absent or unreadable (then the partial is not trusted)."""
    try:
        data = json.loads(path.read_text("utf-8"))
        sidecar = Sidecar.model_validate(data)
    except (OSError, ValueError, ValidationError):
        return None
    if sidecar.version != SIDECAR_VERSION:
        return None
    return sidecar


def save_sidecar(path: Path, sidecar: Sidecar, durable: bool = True) -> None:
    atomic_write_text(path, sidecar.model_dump_json(indent=2), durable)
