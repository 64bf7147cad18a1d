"""Where shards go: a local folder or an ``s3://`` prefix.

A shard is first written to a local staging file; publishing moves it into place (a
rename within the folder, or an upload, which S3 makes visible all at once), so a reader
never sees half a shard.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from pathlib import Path
from typing import Protocol

from hyperkvasir_cli.core.atomic import atomic_write_bytes
from hyperkvasir_cli.transfer.s3_client import is_s3_url


class Destination(Protocol):
    display: str

    def staging_path(self, relative: str) -> Path: ...

    def publish(self, relative: str, staged: Path) -> None: ...

    def write_bytes(self, relative: str, data: bytes) -> None: ...

    def read_bytes(self, relative: str) -> bytes | None: ...

    def remove(self, relative: str) -> None: ...

    def close(self) -> None: ...


class FolderDestination:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.display = str(root)

    def staging_path(self, relative: str) -> Path:
        final = self.root / relative
        final.parent.mkdir(parents=True, exist_ok=True)
        return final.with_name(f".{final.name}.tmp")

    def publish(self, relative: str, staged: Path) -> None:
        os.replace(staged, self.root / relative)

    def write_bytes(self, relative: str, data: bytes) -> None:
        atomic_write_bytes(self.root / relative, data)

    def read_bytes(self, relative: str) -> bytes | None:
        try:
            return (self.root / relative).read_bytes()
        except OSError:
            return None

    def remove(self, relative: str) -> None:
        (self.root / relative).unlink(missing_ok=True)

    def close(self) -> None:
        pass


class BucketDestination:
    """Shards staged in a temporary folder, then uploaded under the prefix."""

    def __init__(self, url: str) -> None:
        from hyperkvasir_cli.transfer.s3_client import parse_s3_url, s3_filesystem

        self.prefix = parse_s3_url(url if url.endswith("/") else url + "/")
        self.display = self.prefix.url
        self._fs = s3_filesystem()
        self._staging = Path(tempfile.mkdtemp(prefix="hyperkvasir-export-"))

    def _url(self, relative: str) -> str:
        return self.prefix.child(relative).url

    def staging_path(self, relative: str) -> Path:
        return self._staging / relative.replace("/", "__")

    def publish(self, relative: str, staged: Path) -> None:
        self._fs.put_file(str(staged), self._url(relative))
        staged.unlink()

    def write_bytes(self, relative: str, data: bytes) -> None:
        from hyperkvasir_cli.transfer.s3_client import write_object

        write_object(self._url(relative), data, "application/json")

    def read_bytes(self, relative: str) -> bytes | None:
        try:
            data: bytes = self._fs.cat_file(self._url(relative))
        except FileNotFoundError:
            return None
        return data

    def remove(self, relative: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            self._fs.rm_file(self._url(relative))

    def close(self) -> None:
        shutil.rmtree(self._staging, ignore_errors=True)


def open_destination(target: str) -> Destination:
    """A folder path or an ``s3://bucket/prefix/`` URL."""
    if is_s3_url(target):
        return BucketDestination(target)
    return FolderDestination(Path(target).expanduser())
