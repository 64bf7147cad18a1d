"""The fetched central directory, kept in the data folder with the server's validators.

Two files beside the archive's own place: ``<file>.directory`` (the raw directory bytes)
and ``<file>.directory.json`` (URL, size, ETag, Last-Modified, where the directory lies,
the checksum of the end records' tail and of the bytes). Both are written atomically,
the bytes first, so the description never names bytes that are not there; a pair that
does not match is no cache at all. ``ls --remote``, ``stats --remote`` and
``download --class`` share it: once it is there, listing again costs one conditional
request (a 304), and nothing at all of the directory is fetched again while the server's
file is unchanged.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from hyperkvasir_cli.archive.index import DirectoryLocation
from hyperkvasir_cli.core.atomic import atomic_write_bytes, atomic_write_text
from hyperkvasir_cli.core.clock import iso_utc
from hyperkvasir_cli.remote.directory import (
    Remote,
    RemoteDirectory,
    Tail,
    directory_from_tail,
    fetch_tail,
    read_remote_directory,
)
from hyperkvasir_cli.remote.ranges import FileChanged, Pin
from hyperkvasir_cli.transfer.validators import Validators

DIRECTORY_SUFFIX = ".directory"


@dataclass(frozen=True)
class DirectoryCache:
    """Where the directory of the archive ``file`` is kept (in ``folder``)."""

    folder: Path
    file: str

    @property
    def data_path(self) -> Path:
        return self.folder / f"{self.file}{DIRECTORY_SUFFIX}"

    @property
    def description_path(self) -> Path:
        return self.folder / f"{self.file}{DIRECTORY_SUFFIX}.json"

    def load(self) -> RemoteDirectory | None:
        """The kept directory; None when there is none or it is damaged or incomplete."""
        try:
            described = json.loads(self.description_path.read_text("utf-8"))
            data = self.data_path.read_bytes()
            if hashlib.sha256(data).hexdigest() != described["sha256"]:
                return None
            location = DirectoryLocation(
                int(described["offset"]), int(described["directory_size"]), int(described["shift"])
            )
            pin = Pin(
                int(described["size"]),
                Validators(described.get("etag"), described.get("last_modified")),
            )
            if len(data) != location.size:
                return None
            return RemoteDirectory(
                str(described["url"]), self.file, pin, location, data, described["tail_sha256"]
            )
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def save(self, directory: RemoteDirectory) -> None:
        atomic_write_bytes(self.data_path, directory.data)
        described = {
            "url": directory.url,
            "size": directory.pin.size,
            "etag": directory.pin.validators.etag,
            "last_modified": directory.pin.validators.last_modified,
            "offset": directory.location.offset,
            "directory_size": directory.location.size,
            "shift": directory.location.shift,
            "tail_sha256": directory.tail_sha256,
            "sha256": hashlib.sha256(directory.data).hexdigest(),
            "fetched_at": iso_utc(datetime.now(timezone.utc)),
        }
        atomic_write_text(self.description_path, json.dumps(described, indent=2) + "\n")

    def discard(self) -> None:
        for path in (self.description_path, self.data_path):
            path.unlink(missing_ok=True)


def conditional_headers(pin: Pin) -> dict[str, str] | None:
    """Headers that make the server answer 304 while the file is ``pin``'s version."""
    if pin.validators.etag:
        return {"If-None-Match": pin.validators.etag}
    if pin.validators.last_modified:
        return {"If-Modified-Since": pin.validators.last_modified}
    return None


def same_version(kept: RemoteDirectory, tail: Tail) -> bool:
    """The tail just fetched belongs to the version whose directory is kept: same size,
    no conflicting validator, and the same end records byte for byte."""
    return (
        kept.pin.size == tail.pin.size
        and not kept.pin.validators.conflicts_with(tail.pin.validators)
        and kept.tail_sha256 == tail.sha256
    )


def current_directory(
    remote: Remote,
    cache: DirectoryCache,
    on_change: Callable[[str], None] | None = None,
) -> tuple[RemoteDirectory, bool]:
    """The server's current directory and whether the kept copy was still good.

    With a kept copy, one conditional request for the tail: a 304, or the same end
    records, means the copy stands (nothing else is fetched); otherwise the directory is
    read anew from that tail and kept in place of the old one.
    """
    kept = cache.load()
    if kept is not None:
        tail = fetch_tail(remote, conditional_headers(kept.pin))
        if tail is None or same_version(kept, tail):
            return kept, True
        if on_change is not None:
            on_change(
                f"the file changed on the server ({kept.pin.describe()} -> {tail.pin.describe()})"
            )
        try:
            fresh = directory_from_tail(remote, tail, cache.file)
        except FileChanged as exc:
            if on_change is not None:
                on_change(exc.reason)
            fresh = read_remote_directory(remote, cache.file, on_change)
    else:
        fresh = read_remote_directory(remote, cache.file, on_change)
    cache.save(fresh)
    return fresh, False
