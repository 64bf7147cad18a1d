"""Uploading one verified archive to object storage: multipart, resumable, checked.

The contract of :func:`upload_archive`:
- An object already holding these bytes (same size, our sha256 in its metadata) is left
  alone and nothing is sent.
- Otherwise the file goes up as a multipart upload in parts sized for the file
  (:func:`part_size_for`), several in flight, each with its Content-MD5 so that the server
  refuses a part damaged on the way. The upload's id is kept in a state file; after a
  kill, the next run lists the pending upload's parts and sends only those missing or not
  matching the local bytes.
- Each part's MD5 and CRC32 and the whole file's sha256 come from
  :class:`~hyperkvasir_cli.transfer.part_digests.PartDigests`, which hashes the file ahead
  of the sending (from before the S3 client exists). A whole file whose sha256 is not the
  expected one stops the parts, aborts the upload, and nothing is published
  (IntegrityError, exit 5). A part whose bytes changed between being hashed and being sent
  is refused by the server (its Content-MD5), and found changed here: IntegrityError too.
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
import threading
from collections.abc import Mapping
from concurrent.futures import FIRST_EXCEPTION, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, ValidationError

from hyperkvasir_cli.core.atomic import atomic_write_text
from hyperkvasir_cli.core.errors import IntegrityError, NetworkError
from hyperkvasir_cli.core.progress import ProgressReporter
from hyperkvasir_cli.transfer.part_digests import (
    MIB,
    DigestsStopped,
    PartDigests,
    PlannedPart,
    part_size_for,
    plan_parts,
)
from hyperkvasir_cli.transfer.s3_client import (
    S3Api,
    S3Location,
    describe_refusal,
    error_code,
    error_status,
    head_object,
    parse_s3_url,
    s3_api,
)

__all__ = ["MIB", "UploadResult", "multipart_etag", "part_size_for", "plan_parts", "upload_archive"]

PART_ATTEMPTS = 3  # a part whose bytes the server found damaged is sent again
PART_CHECKSUM: Literal["CRC32"] = "CRC32"
# What a store that does not know a checksum algorithm answers to one being declared.
CHECKSUM_REFUSALS = {400, 501}
UploadAction = Literal["uploaded", "resumed", "unchanged"]


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

    api: S3Api
    location: S3Location
    upload_id: str
    digests: PartDigests
    progress: ProgressReporter
    remote: dict[int, tuple[str, int]]  # part number -> (ETag, size) already on the server
    checksum: str | None
    lock: threading.Lock = field(default_factory=threading.Lock)
    stop: threading.Event = field(default_factory=threading.Event)
    bytes_sent: int = 0
    sent: int = 0
    kept: int = 0

    def halt(self) -> None:
        """Parts not started are not sent; parts waiting for their digests give up."""
        self.stop.set()
        self.digests.stop()

    def run_part(self, part: PlannedPart) -> DonePart:
        """Send one part unless the server already holds these bytes."""
        if self.stop.is_set():
            raise _Stopped
        try:
            digests = self.digests.part(part.number)
        except DigestsStopped:
            raise _Stopped from None
        crc32 = digests.crc32 if self.checksum else None
        etag = f'"{digests.md5.hex()}"'
        if self.remote.get(part.number) == (etag, part.length):
            with self.lock:
                self.kept += 1
            self.progress.advance(part.length)
            return DonePart(part.number, digests.md5, etag, crc32)
        body = self._read(part)
        answer = self._send(part, body, digests.md5, crc32)
        returned = str(answer.get("ETag") or etag)
        if returned != etag and _not_the_bytes_hashed(body, digests.md5):
            # A store that checks no Content-MD5 took other bytes than those hashed (a store
            # with its own kind of ETag took the right ones: those are not looked at again).
            raise _changed(part)
        with self.lock:
            self.sent += 1
            self.bytes_sent += part.length
        self.progress.advance(part.length)
        return DonePart(part.number, digests.md5, returned, crc32)

    def _read(self, part: PlannedPart) -> bytearray:
        """The part's bytes, read straight into the buffer that is sent: a bytes-like body
        goes to the socket in one ``sendall`` (a file-like one would in 8 KiB pieces)."""
        body = bytearray(part.length)
        self.digests.read(part, memoryview(body))
        return body

    def _send(
        self, part: PlannedPart, body: bytearray, digest: bytes, crc32: str | None
    ) -> dict[str, Any]:
        checksum = {} if crc32 is None else {"ChecksumCRC32": crc32}
        for attempt in range(1, PART_ATTEMPTS + 1):
            try:
                return self.api.call(
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
                if error_code(exc) not in damaged:
                    raise _refusal(self.location.url, exc) from exc
                if _not_the_bytes_hashed(body, digest):
                    raise _changed(part) from exc
                if attempt == PART_ATTEMPTS:
                    raise _refusal(self.location.url, exc) from exc
        raise AssertionError("unreachable")


def _not_the_bytes_hashed(body: bytearray, md5: bytes) -> bool:
    """Whether the bytes sent are not those the part's digests were worked out from: the
    archive changed between the two reads."""
    return hashlib.md5(body).digest() != md5


def _changed(part: PlannedPart) -> IntegrityError:
    return IntegrityError(
        f"the archive changed while uploading (part {part.number}); nothing was published",
        hint="run `hyperkvasir checksum` on it, download it again if it is damaged, "
        "then push again",
    )


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
    digests: PartDigests | None = None,
) -> UploadResult:
    """Put the archive at ``path`` (whose sha256 must be ``sha256``) at ``url``.

    ``digests`` are the archive's, started earlier by the caller (a head start while the
    S3 client is made); they are closed on return either way."""
    with digests or PartDigests(path, sha256) as hashing:
        return _upload(hashing, url, sha256, state_path, progress, label, concurrency, environ)


def _upload(
    digests: PartDigests,
    url: str,
    sha256: str,
    state_path: Path,
    progress: ProgressReporter,
    label: str,
    concurrency: int,
    environ: Mapping[str, str] | None,
) -> UploadResult:
    location = parse_s3_url(url)
    api = s3_api(environ)
    size = digests.size
    try:
        current = head_object(api, location)
    except Exception as exc:
        raise _refusal(url, exc) from exc
    if object_holds(current, sha256, size):
        digests.stop()
        state_path.unlink(missing_ok=True)
        etag = current.get("ETag") if current else None
        return UploadResult(url, size, sha256, "unchanged", etag=etag)
    part_size = digests.part_size
    pending = _resume_state(api, location, state_path, sha256, size, part_size)
    listed = None if pending is None else _list_parts(api, location, pending.upload_id)
    if pending is None or listed is None:
        pending = _create(api, location, sha256, size, part_size)
        state_path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(state_path, pending.model_dump_json(indent=2))
    remote = listed or {}
    digests.widen()
    progress.start(label, size)
    try:
        parts_api = s3_api(environ, sign_payload=False)  # each part has its Content-MD5
        upload = _Upload(
            parts_api, location, pending.upload_id, digests, progress, remote, pending.checksum
        )
        done = _send_parts(upload, digests.parts, concurrency)
    finally:
        progress.finish()
    expected_etag = multipart_etag([part.md5 for part in done])
    _complete(api, location, pending.upload_id, done, expected_etag)
    etag = _check_object(api, location, sha256, size, expected_etag)
    state_path.unlink(missing_ok=True)
    action: UploadAction = "resumed" if upload.kept else "uploaded"
    return UploadResult(
        url, size, sha256, action, etag, upload.bytes_sent, len(done), upload.sent, upload.kept
    )


def _resume_state(
    api: S3Api,
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
        _abort(api, parse_s3_url(state.url), state.upload_id)
        return None
    return state


def _abort(api: S3Api, location: S3Location, upload_id: str) -> None:
    """Drop an upload of other bytes, so its parts do not linger (and cost) on the server."""
    try:
        api.call(
            "abort_multipart_upload",
            Bucket=location.bucket,
            Key=location.key,
            UploadId=upload_id,
        )
    except Exception as exc:
        if error_status(exc) is None:
            raise


def _list_parts(
    api: S3Api, location: S3Location, upload_id: str
) -> dict[int, tuple[str, int]] | None:
    """The parts the server holds for the upload; None when the upload is gone."""
    found: dict[int, tuple[str, int]] = {}
    marker = 0
    while True:
        try:
            answer = api.call(
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
    api: S3Api, location: S3Location, sha256: str, size: int, part_size: int
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
            answer = api.call("create_multipart_upload", ChecksumAlgorithm=checksum, **arguments)
        except Exception as exc:
            if error_status(exc) not in CHECKSUM_REFUSALS:
                raise
            checksum = None
            answer = api.call("create_multipart_upload", **arguments)
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


def _send_parts(upload: _Upload, parts: list[PlannedPart], concurrency: int) -> list[DonePart]:
    """Every part sent or kept, in order, and the whole file found to be the verified one.

    A failure stops the other parts. When the archive is not the verified one (another
    sha256, a part changed or gone while sending), the upload is aborted: its parts are
    of no use to a rerun."""
    executor = ThreadPoolExecutor(max(1, concurrency), thread_name_prefix="upload-part")
    try:
        try:
            futures: list[Future[DonePart]] = [
                executor.submit(upload.run_part, part) for part in parts
            ]
            finished, _ = wait(futures, return_when=FIRST_EXCEPTION)
            if any(f.exception() is not None for f in finished):
                upload.halt()
                wait(futures)
                errors = [f.exception() for f in futures if f.exception() is not None]
                first = upload.digests.error or next(
                    (e for e in errors if not isinstance(e, _Stopped)), errors[0]
                )
                assert first is not None
                raise first
            upload.digests.sha256()  # the expected one, else IntegrityError
        except BaseException:
            upload.halt()
            executor.shutdown(wait=True, cancel_futures=True)
            raise
    except IntegrityError:
        _abort(upload.api, upload.location, upload.upload_id)
        raise
    executor.shutdown(wait=True)
    return [f.result() for f in futures]


def _complete(
    api: S3Api,
    location: S3Location,
    upload_id: str,
    parts: list[DonePart],
    expected_etag: str,
) -> None:
    """Complete the upload. A completion whose answer was lost (a timeout, a retry that
    finds the upload already gone) is recognised by the object it left: these bytes."""
    try:
        api.call(
            "complete_multipart_upload",
            Bucket=location.bucket,
            Key=location.key,
            UploadId=upload_id,
            MultipartUpload={"Parts": [part.completion() for part in parts]},
        )
    except Exception as exc:
        try:
            answer = head_object(api, location)
        except Exception:
            answer = None
        if answer is None or answer.get("ETag") != expected_etag:
            raise _refusal(location.url, exc) from exc


def _check_object(
    api: S3Api, location: S3Location, sha256: str, size: int, expected_etag: str
) -> str | None:
    """The completed object must be what was sent; returns its ETag."""
    try:
        answer = head_object(api, location)
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
