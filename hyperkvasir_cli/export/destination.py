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
from collections.abc import Iterator
from pathlib import Path
from typing import Protocol

from hyperkvasir_cli.core.atomic import atomic_write_bytes
from hyperkvasir_cli.core.errors import HyperkvasirError, NetworkError
from hyperkvasir_cli.transfer.s3_client import is_s3_url

BUCKET_HINT = (
    "check the bucket (it must exist), the credentials (AWS_PROFILE, AWS_ACCESS_KEY_ID) "
    "and AWS_ENDPOINT_URL"
)


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
    """Shards staged in a temporary folder, then uploaded under the prefix.

    The bucket is asked for before any shard is made: a missing or refused bucket, or an
    endpoint out of reach, is a NetworkError (exit 4) at once, not after the work. A
    failure of the store later on is a NetworkError too, naming the object.
    """

    def __init__(self, url: str) -> None:
        from hyperkvasir_cli.transfer.s3_client import parse_s3_url, s3_filesystem

        self.prefix = parse_s3_url(url if url.endswith("/") else url + "/")
        self.display = self.prefix.url
        self._fs = s3_filesystem()
        self._check_bucket()
        self._staging = Path(tempfile.mkdtemp(prefix="hyperkvasir-export-"))

    def _check_bucket(self) -> None:
        from hyperkvasir_cli.transfer.s3_client import call, describe_refusal, error_status

        try:
            call(self._fs, "head_bucket", Bucket=self.prefix.bucket)
        except HyperkvasirError:
            raise
        except Exception as exc:
            status = error_status(exc)
            if status is None:
                raise
            refusal = {404: "no such bucket", 403: "access denied"}.get(status)
            raise NetworkError(
                f"cannot export to {self.display}: {refusal or describe_refusal(exc)} "
                f"(bucket {self.prefix.bucket!r})",
                hint=BUCKET_HINT,
            ) from exc

    @contextlib.contextmanager
    def _reaching(self, relative: str) -> Iterator[None]:
        """s3fs's failures (OSError kinds, botocore's connection errors) as NetworkError."""
        from hyperkvasir_cli.transfer.s3_client import translate_failure

        try:
            yield
        except HyperkvasirError:
            raise
        except Exception as exc:
            translated = translate_failure(exc)
            if isinstance(translated, HyperkvasirError):
                raise translated from exc
            if isinstance(exc, OSError):
                raise NetworkError(
                    f"object storage: {self._url(relative)}: {exc}", hint=BUCKET_HINT
                ) from exc
            raise

    def _url(self, relative: str) -> str:
        return self.prefix.child(relative).url

    def staging_path(self, relative: str) -> Path:
        return self._staging / relative.replace("/", "__")

    def publish(self, relative: str, staged: Path) -> None:
        with self._reaching(relative):
            self._fs.put_file(str(staged), self._url(relative))
        staged.unlink()

    def write_bytes(self, relative: str, data: bytes) -> None:
        from hyperkvasir_cli.transfer.s3_client import write_object

        write_object(self._url(relative), data, "application/json")

    def read_bytes(self, relative: str) -> bytes | None:
        with self._reaching(relative):
            try:
                data: bytes = self._fs.cat_file(self._url(relative))
            except FileNotFoundError:
                return None
            return data

    def remove(self, relative: str) -> None:
        with self._reaching(relative), contextlib.suppress(FileNotFoundError):
            self._fs.rm_file(self._url(relative))

    def close(self) -> None:
        shutil.rmtree(self._staging, ignore_errors=True)


def open_destination(target: str) -> Destination:
    """A folder path or an ``s3://bucket/prefix/`` URL."""
    if is_s3_url(target):
        return BucketDestination(target)
    return FolderDestination(Path(target).expanduser())
