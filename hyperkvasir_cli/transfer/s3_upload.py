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
- Each part also carries its CRC32 (a composite checksum declared when the upload is
  created, as the AWS CLI does): the store checks it, and completing needs no checksum
  of the whole object. A store that refuses the checksum gets the upload without it.
  Bodies are not hashed into the request signature (``payload_signing_enabled``): the
  part's own MD5 and CRC32 protect it.
"""

from __future__ import annotations

import base64
import hashlib
import io
import os
import threading
import zlib
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
PART_ATTEMPTS = 3  # a part whose bytes the server found damaged is sent again
PART_CHECKSUM: Literal["CRC32"] = "CRC32"
# What a store that does not know a checksum algorithm answers to one being declared.
CHECKSUM_REFUSALS = {400, 501}
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
    checksum: Literal["CRC32"] | None = None  # the parts' checksum, when the store took it


@dataclass(frozen=True)
class DonePart:
    """A part on the server: what completing the upload names, and its MD5."""

    number: int
    md5: bytes
    etag: str
    crc32: str | None  # base64, as S3 writes it; None when the upload has no checksum

    def completion(self) -> dict[str, object]:
        named: dict[str, object] = {"PartNumber": self.number, "ETag": self.etag}
        if self.crc32 is not None:
            named["ChecksumCRC32"] = self.crc32
        return named


def crc32_base64(data: bytes | memoryview) -> str:
    return base64.b64encode(zlib.crc32(data).to_bytes(4, "big")).decode("ascii")


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
    checksum: str | None
    lock: threading.Lock = field(default_factory=threading.Lock)
    stop: threading.Event = field(default_factory=threading.Event)
    whole: _InOrderSha256 = field(init=False)
    bytes_sent: int = 0
    sent: int = 0
    kept: int = 0

    def __post_init__(self) -> None:
        self.whole = _InOrderSha256(self.stop)

    def halt(self) -> None:
        """Parts not started are not sent, parts waiting for their turn give up."""
        self.whole.halt()

    def run_part(self, part: PlannedPart) -> DonePart:
        """Send one part unless the server already holds these bytes."""
        if self.stop.is_set():
            raise _Stopped
        body = self._read(part)
        with body.getbuffer() as data:
            digest = hashlib.md5(data).digest()
            crc32 = crc32_base64(data) if self.checksum else None
            self.whole.add(part.number, data)
        etag = f'"{digest.hex()}"'
        if self.remote.get(part.number) == (etag, part.length):
            with self.lock:
                self.kept += 1
            self.progress.advance(part.length)
            return DonePart(part.number, digest, etag, crc32)
        answer = self._send(part, body, digest, crc32)
        with self.lock:
            self.sent += 1
            self.bytes_sent += part.length
        self.progress.advance(part.length)
        return DonePart(part.number, digest, str(answer.get("ETag") or etag), crc32)

    def _read(self, part: PlannedPart) -> io.BytesIO:
        """The part's bytes, read straight into the buffer that is sent (no second copy:
        a BytesIO made from ``bytes`` would copy them when the HTTP layer takes a view)."""
        body = io.BytesIO()
        if part.length:
            body.seek(part.length - 1)
            body.write(b"\0")  # sizes the buffer; every byte is overwritten below
        with body.getbuffer() as view:
            got = 0
            while got < part.length:  # one call reads at most ~2 GiB
                read = os.preadv(self.fd, [view[got:]], part.offset + got)
                if not read:
                    raise IntegrityError(f"the archive shrank while uploading (part {part.number})")
                got += read
        body.seek(0)
        return body

    def _send(
        self, part: PlannedPart, body: io.BytesIO, digest: bytes, crc32: str | None
    ) -> dict[str, Any]:
        checksum = {} if crc32 is None else {"ChecksumCRC32": crc32}
        for attempt in range(1, PART_ATTEMPTS + 1):
            body.seek(0)
            try:
                return call(
                    self.fs,
                    "upload_part",
                    Bucket=self.location.bucket,
                    Key=self.location.key,
                    UploadId=self.upload_id,
                    PartNumber=part.number,
                    Body=body,
                    ContentMD5=base64.b64encode(digest).decode("ascii"),
                    **checksum,
                )
            except Exception as exc:
                damaged = ("BadDigest", "InvalidDigest", "XAmzContentChecksumMismatch")
                if error_code(exc) in damaged and attempt < PART_ATTEMPTS:
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
        parts_fs = s3_filesystem(environ, sign_payload=False)  # each part has its Content-MD5
        upload = _Upload(
            parts_fs, location, pending.upload_id, fd, progress, remote, pending.checksum
        )
        done = _send_parts(upload, parts, concurrency, sha256, path)
    finally:
        os.close(fd)
        progress.finish()
    expected_etag = multipart_etag([part.md5 for part in done])
    _complete(fs, location, pending.upload_id, done, expected_etag)
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
    """A new upload whose parts carry CRC32s; without them if the store refuses those."""
    arguments: dict[str, Any] = {
        "Bucket": location.bucket,
        "Key": location.key,
        "ContentType": "application/zip",
        "Metadata": {"sha256": sha256, "size": str(size)},
    }
    checksum: Literal["CRC32"] | None = PART_CHECKSUM
    try:
        try:
            answer = call(fs, "create_multipart_upload", ChecksumAlgorithm=checksum, **arguments)
        except Exception as exc:
            if error_status(exc) not in CHECKSUM_REFUSALS:
                raise
            checksum = None
            answer = call(fs, "create_multipart_upload", **arguments)
    except Exception as exc:
        raise _refusal(location.url, exc) from exc
    return PendingUpload(
        url=location.url,
        upload_id=str(answer["UploadId"]),
        sha256=sha256,
        size=size,
        part_size=part_size,
        checksum=checksum,
    )


def _send_parts(
    upload: _Upload, parts: list[PlannedPart], concurrency: int, sha256: str, path: Path
) -> list[DonePart]:
    """Every part sent or kept, in order; the file's sha256 checked from the same reads."""
    executor = ThreadPoolExecutor(max(1, concurrency), thread_name_prefix="upload-part")
    try:
        futures: list[Future[DonePart]] = [executor.submit(upload.run_part, part) for part in parts]
        finished, _ = wait(futures, return_when=FIRST_EXCEPTION)
        failed = [f for f in finished if f.exception() is not None]
        if failed:
            upload.halt()
            wait(futures)
            errors = [f.exception() for f in futures if f.exception() is not None]
            first = next((e for e in errors if not isinstance(e, _Stopped)), errors[0])
            assert first is not None
            raise first
    except BaseException:
        upload.halt()
        executor.shutdown(wait=True, cancel_futures=True)
        raise
    executor.shutdown(wait=True)
    if upload.whole.hexdigest != sha256:
        _abort(upload.fs, upload.location, upload.upload_id)
        raise IntegrityError(
            f"{path}: sha256 {upload.whole.hexdigest}, expected {sha256}; nothing was published",
            hint="the archive changed since it was verified: run `hyperkvasir checksum` "
            "and download it again",
        )
    return [f.result() for f in futures]


class _InOrderSha256:
    """The whole file's sha256, fed with the very bytes each part sends, in part order.

    A part's worker waits here for the parts before it: they were taken from the queue
    earlier, by workers that wait only on parts before theirs, so the first waiting part
    always moves on. :meth:`halt` wakes every waiter with :class:`_Stopped`.
    """

    def __init__(self, stop: threading.Event) -> None:
        self._digest = hashlib.sha256()
        self._next = 1
        self._turn = threading.Condition()
        self._stop = stop

    def add(self, number: int, data: memoryview) -> None:
        with self._turn:
            while self._next != number:
                if self._stop.is_set():
                    raise _Stopped
                self._turn.wait()
            self._digest.update(data)
            self._next += 1
            self._turn.notify_all()

    def halt(self) -> None:
        with self._turn:
            self._stop.set()
            self._turn.notify_all()

    @property
    def hexdigest(self) -> str:
        return self._digest.hexdigest()


def _complete(
    fs: S3FileSystem,
    location: S3Location,
    upload_id: str,
    parts: list[DonePart],
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
            MultipartUpload={"Parts": [part.completion() for part in parts]},
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
