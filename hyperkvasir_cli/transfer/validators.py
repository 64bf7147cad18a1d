"""Server validators (ETag, Last-Modified): what identifies one version of a file."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class Validators:
    etag: str | None = None
    last_modified: str | None = None

    @classmethod
    def from_headers(cls, headers: Mapping[str, str]) -> Validators:
        return cls(headers.get("etag"), headers.get("last-modified"))

    @property
    def strong_etag(self) -> str | None:
        if self.etag and not self.etag.startswith("W/"):
            return self.etag
        return None

    @property
    def if_range(self) -> str | None:
        """What to send in If-Range: a strong ETag, else the Last-Modified date.

        None means the version cannot be pinned, so a resume could splice two versions.
        """
        return self.strong_etag or self.last_modified

    def conflicts_with(self, other: Validators) -> bool:
        """True when both sides name a validator and they differ: another version."""
        if self.etag and other.etag and self.etag != other.etag:
            return True
        return bool(
            self.last_modified and other.last_modified and self.last_modified != other.last_modified
        )
