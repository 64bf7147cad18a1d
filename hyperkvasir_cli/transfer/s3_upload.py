"""Uploading one verified archive to object storage: multipart, resumable, checked.

The contract of :func:`upload_archive`:
- An object already holding these bytes (same size, our sha256 in its metadata) is left
  alone and nothing is sent.
- Otherwise the file goes up as a multipart upload in parts sized for the file
  (:func:`part_size_for`), several in flight, each with its Content-MD5 so that the server
  refuses a part damaged on the way. The upload's id is kept in a state file; after a
  kill, the next run lists the pending upload's parts and sends only those missing or not
  matching the local bytes.
- The whole file's sha256 is computed while the parts go up; if it is not the expected
  one, the upload is aborted and nothing is published (IntegrityError, exit 5).
- After completing, the object is checked: its size, its sha256 metadata and its
  multipart ETag (the MD5 of the parts' MD5s) must be what was sent, else IntegrityError.
- The object's metadata holds ``sha256`` and ``size``, so any reader can verify it.
"""

from __future__ import annotations

import base64
import hashlib
import os
import threading
from collections.abc import Mapping
from concurrent.futures import FIRST_EXCEPTION, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, ValidationError

from hyperkvasir_cli.core.atomic import atomic_write_text
from hyperkvasir_cli.core.errors import IntegrityError, NetworkError
from hyperkvasir_cli.core.progress import ProgressReporter
from hyperkvasir_cli.transfer.s3_client import (
    S3Location,
    call,
    describe_refusal,
    error_code,
    error_status,
    head_object,
    parse_s3_url,
    s3_filesystem,
)

if TYPE_CHECKING:
    from s3fs import S3FileSystem

MIB = 1024 * 1024
MIN_PART_SIZE = 8 * MIB  # S3's minimum is 5 MiB (for all parts but the last)
TARGET_PARTS = 1000  # one page of ListParts
MAX_PARTS = 10_000  # S3's limit
HASH_CHUNK = 8 * MIB
PART_ATTEMPTS = 3  # a part whose bytes the server found damaged is sent again
UploadAction = Literal["uploaded", "resumed", "unchanged"]


def part_size_for(size: int) -> int:
    """Parts of at least 8 MiB, whole MiB, few enough that one ListParts page holds them."""
    wanted = max(MIN_PART_SIZE, -(-size // TARGET_PARTS))
    return -(-wanted // MIB) * MIB


@dataclass(frozen=True)
class PlannedPart:
    number: int  # 1-based, as S3 counts
    offset: int
    length: int


def plan_parts(size: int, part_size: int) -> list[PlannedPart]:
    """The parts of a file of ``size`` bytes; an empty file is one empty part."""
    count = max(1, -(-size // part_size))
    if count > MAX_PARTS:
        raise ValueError(f"{count} parts of {part_size} B exceed S3's {MAX_PARTS}")
    return [
        PlannedPart(n + 1, n * part_size, min(part_size, size - n * part_size))
        for n in range(count)
    ]


def multipart_etag(part_md5s: list[bytes]) -> str:
    """The ETag S3 gives a completed multipart upload: MD5 of the parts' MD5s, and a count."""
    return f'"{hashlib.md5(b"".join(part_md5s)).hexdigest()}-{len(part_md5s)}"'


class PendingUpload(BaseModel):
    """The state file of an upload under way: enough to find its parts after a kill."""

    model_config = ConfigDict(extra="forbid")

    url: str
    upload_id: str
    sha256: str
    size: int
    part_size: int


@dataclass
class UploadResult:
    url: str
    size: int
    sha256: str
    action: UploadAction
    etag: str | None = None
    bytes_sent: int = 0
    parts: int = 0
    parts_sent: int = 0
    parts_kept: int = 0

    def as_json(self) -> dict[str, object]:
        return {
            "url": self.url,
            "action": self.action,
            "size": self.size,
            "sha256": self.sha256,
            "etag": self.etag,
            "bytes_sent": self.bytes_sent,
            "parts": self.parts,
            "parts_sent": self.parts_sent,
            "parts_kept": self.parts_kept,
        }


def object_holds(answer: dict[str, Any] | None, sha256: str, size: int) -> bool:
    """Whether a HeadObject answer describes exactly these bytes (by our metadata)."""
    if answer is None:
        return False
    metadata = {k.lower(): v for k, v in (answer.get("Metadata") or {}).items()}
    return answer.get("ContentLength") == size and metadata.get("sha256") == sha256


@dataclass
class _Upload:
    """One run of one upload: the shared counters its part workers update."""

    fs: S3FileSystem
    location: S3Location
    upload_id: str
    fd: int
    progress: ProgressReporter
    remote: dict[int, tuple[str, int]]  # part number -> (ETag, size) already on the server
    lock: threading.Lock = field(default_factory=threading.Lock)
    stop: threading.Event = field(default_factory=threading.Event)
    bytes_sent: int = 0
    sent: int = 0
    kept: int = 0

    def run_part(self, part: PlannedPart) -> tuple[int, bytes, str]:
        """Send one part unless the server already holds these bytes; (number, md5, ETag)."""
        if self.stop.is_set():
            raise _Stopped
        data = os.pread(self.fd, part.length, part.offset)
        if len(data) != part.length:
            raise IntegrityError(f"the archive shrank while uploading (part {part.number})")
        digest = hashlib.md5(data).digest()
        etag = f'"{digest.hex()}"'
        if self.remote.get(part.number) == (etag, part.length):
            with self.lock:
                self.kept += 1
            self.progress.advance(part.length)
            return part.number, digest, etag
        answer = self._send(part, data, digest)
        with self.lock:
            self.sent += 1
            self.bytes_sent += part.length
        self.progress.advance(part.length)
        return part.number, digest, str(answer.get("ETag") or etag)

    def _send(self, part: PlannedPart, data: bytes, digest: bytes) -> dict[str, Any]:
        for attempt in range(1, PART_ATTEMPTS + 1):
            try:
                return call(
                    self.fs,
                    "upload_part",
                    Bucket=self.location.bucket,
                    Key=self.location.key,
                    UploadId=self.upload_id,
                    PartNumber=part.number,
                    Body=data,
                    ContentMD5=base64.b64encode(digest).decode("ascii"),
                )
            except Exception as exc:
                if error_code(exc) in ("BadDigest", "InvalidDigest") and attempt < PART_ATTEMPTS:
                    continue
                raise _refusal(self.location.url, exc) from exc
        raise AssertionError("unreachable")


class _Stopped(Exception):
    """Another part failed: this one was not started."""


def _refusal(url: str, exc: Exception) -> Exception:
    if error_status(exc) is None:
        return exc
    return NetworkError(
        f"upload to {url} refused: {describe_refusal(exc)}",
        hint="check the bucket, the credentials (AWS_PROFILE, AWS_ACCESS_KEY_ID) and "
        "AWS_ENDPOINT_URL; run the same push again to continue",
    )


def upload_archive(
    path: Path,
    url: str,
    *,
    sha256: str,
    state_path: Path,
    progress: ProgressReporter,
    label: str,
    concurrency: int = 4,
    environ: Mapping[str, str] | None = None,
) -> UploadResult:
    """Put the archive at ``path`` (whose sha256 must be ``sha256``) at ``url``."""
    location = parse_s3_url(url)
    fs = s3_filesystem(environ)
    size = path.stat().st_size
    try:
        current = head_object(fs, location)
    except Exception as exc:
        raise _refusal(url, exc) from exc
    if object_holds(current, sha256, size):
        state_path.unlink(missing_ok=True)
        etag = current.get("ETag") if current else None
        return UploadResult(url, size, sha256, "unchanged", etag=etag)
    part_size = part_size_for(size)
    pending = _resume_state(fs, location, state_path, sha256, size, part_size)
    listed = None if pending is None else _list_parts(fs, location, pending.upload_id)
    if pending is None or listed is None:
        pending = _create(fs, location, sha256, size, part_size)
        state_path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(state_path, pending.model_dump_json(indent=2))
    remote = listed or {}
    parts = plan_parts(size, part_size)
    progress.start(label, size)
    fd = os.open(path, os.O_RDONLY)
    try:
        upload = _Upload(fs, location, pending.upload_id, fd, progress, remote)
        done = _send_parts(upload, parts, concurrency, sha256, path)
    finally:
        os.close(fd)
        progress.finish()
    expected_etag = multipart_etag([digest for _, digest, _ in done])
    _complete(fs, location, pending.upload_id, [(n, etag) for n, _, etag in done], expected_etag)
    etag = _check_object(fs, location, sha256, size, expected_etag)
    state_path.unlink(missing_ok=True)
    action: UploadAction = "resumed" if upload.kept else "uploaded"
    return UploadResult(
        url, size, sha256, action, etag, upload.bytes_sent, len(parts), upload.sent, upload.kept
    )


def _resume_state(
    fs: S3FileSystem,
    location: S3Location,
    state_path: Path,
    sha256: str,
    size: int,
    part_size: int,
) -> PendingUpload | None:
    """The pending upload of these very bytes to this very place, if a state file says so."""
    try:
        state = PendingUpload.model_validate_json(state_path.read_text("utf-8"))
    except (OSError, ValueError, ValidationError):
        return None
    if (state.url, state.sha256, state.size, state.part_size) != (
        location.url,
        sha256,
        size,
        part_size,
    ):
        _abort(fs, parse_s3_url(state.url), state.upload_id)
        return None
    return state


def _abort(fs: S3FileSystem, location: S3Location, upload_id: str) -> None:
    """Drop an upload of other bytes, so its parts do not linger (and cost) on the server."""
    try:
        call(
            fs,
            "abort_multipart_upload",
            Bucket=location.bucket,
            Key=location.key,
            UploadId=upload_id,
        )
    except Exception as exc:
        if error_status(exc) is None:
            raise


def _list_parts(
    fs: S3FileSystem, location: S3Location, upload_id: str
) -> dict[int, tuple[str, int]] | None:
    """The parts the server holds for the upload; None when the upload is gone."""
    found: dict[int, tuple[str, int]] = {}
    marker = 0
    while True:
        try:
            answer = call(
                fs,
                "list_parts",
                Bucket=location.bucket,
                Key=location.key,
                UploadId=upload_id,
                PartNumberMarker=marker,
            )
        except Exception as exc:
            if error_status(exc) == 404:
                return None
            raise _refusal(location.url, exc) from exc
        for part in answer.get("Parts", []):
            found[int(part["PartNumber"])] = (str(part["ETag"]), int(part["Size"]))
        if not answer.get("IsTruncated"):
            return found
        marker = int(answer["NextPartNumberMarker"])


def _create(
    fs: S3FileSystem, location: S3Location, sha256: str, size: int, part_size: int
) -> PendingUpload:
    try:
        answer = call(
            fs,
            "create_multipart_upload",
            Bucket=location.bucket,
            Key=location.key,
            ContentType="application/zip",
            Metadata={"sha256": sha256, "size": str(size)},
        )
    except Exception as exc:
        raise _refusal(location.url, exc) from exc
    return PendingUpload(
        url=location.url,
        upload_id=str(answer["UploadId"]),
        sha256=sha256,
        size=size,
        part_size=part_size,
    )


def _send_parts(
    upload: _Upload, parts: list[PlannedPart], concurrency: int, sha256: str, path: Path
) -> list[tuple[int, bytes, str]]:
    """Every part sent or kept, in order; the file's sha256 checked on the side."""
    hasher = _FileHasher(upload.fd, path, upload.stop)
    hashing = threading.Thread(target=hasher.run, name="upload-sha256", daemon=True)
    hashing.start()
    executor = ThreadPoolExecutor(max(1, concurrency), thread_name_prefix="upload-part")
    try:
        futures: list[Future[tuple[int, bytes, str]]] = [
            executor.submit(upload.run_part, part) for part in parts
        ]
        finished, _ = wait(futures, return_when=FIRST_EXCEPTION)
        failed = [f for f in finished if f.exception() is not None]
        if failed:
            upload.stop.set()
            wait(futures)
            errors = [f.exception() for f in futures if f.exception() is not None]
            first = next((e for e in errors if not isinstance(e, _Stopped)), errors[0])
            assert first is not None
            raise first
    except BaseException:
        upload.stop.set()
        executor.shutdown(wait=True, cancel_futures=True)
        raise
    executor.shutdown(wait=True)
    hashing.join()
    if hasher.failure is not None:
        raise hasher.failure
    if hasher.hexdigest != sha256:
        _abort(upload.fs, upload.location, upload.upload_id)
        raise IntegrityError(
            f"{path}: sha256 {hasher.hexdigest}, expected {sha256}; nothing was published",
            hint="the archive changed since it was verified: run `hyperkvasir checksum` "
            "and download it again",
        )
    return [f.result() for f in futures]


class _FileHasher:
    """The whole file's sha256, read in order beside the part uploads (page cache hits)."""

    def __init__(self, fd: int, path: Path, stop: threading.Event) -> None:
        self.fd, self.path, self.stop = fd, path, stop
        self._digest = hashlib.sha256()
        self.failure: BaseException | None = None

    def run(self) -> None:
        offset = 0
        try:
            while not self.stop.is_set():
                chunk = os.pread(self.fd, HASH_CHUNK, offset)
                if not chunk:
                    return
                self._digest.update(chunk)
                offset += len(chunk)
        except BaseException as exc:  # handed to the caller
            self.failure = exc

    @property
    def hexdigest(self) -> str:
        return self._digest.hexdigest()


def _complete(
    fs: S3FileSystem,
    location: S3Location,
    upload_id: str,
    parts: list[tuple[int, str]],
    expected_etag: str,
) -> None:
    """Complete the upload. A completion whose answer was lost (a timeout, a retry that
    finds the upload already gone) is recognised by the object it left: these bytes."""
    try:
        call(
            fs,
            "complete_multipart_upload",
            Bucket=location.bucket,
            Key=location.key,
            UploadId=upload_id,
            MultipartUpload={"Parts": [{"PartNumber": n, "ETag": etag} for n, etag in parts]},
        )
    except Exception as exc:
        try:
            answer = head_object(fs, location)
        except Exception:
            answer = None
        if answer is None or answer.get("ETag") != expected_etag:
            raise _refusal(location.url, exc) from exc


def _check_object(
    fs: S3FileSystem, location: S3Location, sha256: str, size: int, expected_etag: str
) -> str | None:
    """The completed object must be what was sent; returns its ETag."""
    try:
        answer = head_object(fs, location)
    except Exception as exc:
        raise _refusal(location.url, exc) from exc
    etag = None if answer is None else answer.get("ETag")
    problems = []
    if not object_holds(answer, sha256, size):
        problems.append("its size or sha256 metadata differ from the archive's")
    # Stores that encrypt with their own keys give other ETags; only an MD5-style one counts.
    if isinstance(etag, str) and etag.count("-") == 1 and etag != expected_etag:
        problems.append(f"its ETag is {etag}, expected {expected_etag}")
    if problems:
        raise IntegrityError(
            f"{location.url}: the uploaded object is not the archive: {'; '.join(problems)}",
            hint="run the same push again; if it persists, the storage is altering objects",
        )
    return str(etag) if etag is not None else None
