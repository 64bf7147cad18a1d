"""`s3://` URLs served through httpx with HTTP semantics, so the download engine (segments,
several connections, resume, :func:`~hyperkvasir_cli.transfer.resume.judge_response`)
applies to object storage unchanged.

The mapping: GET with ``Range`` is a ranged GetObject; ``If-Range: <etag>`` becomes
``IfMatch`` (a date becomes ``IfUnmodifiedSince``). When the condition fails, S3 answers
412, and this transport answers as an HTTP server would to a failed If-Range: 200 with the
object's new ETag and size, whose body is fetched only if someone reads it. The resume
rules then see another version and start over: bytes of two versions are never spliced.
HEAD is HeadObject. S3's refusals keep their HTTP status (403, 404, 416, 5xx); a failure
to reach the endpoint is :class:`httpx.ConnectError`, a broken or stalled body
:class:`httpx.ReadError` / :class:`httpx.ReadTimeout`, exactly as over HTTP.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator
from email.utils import format_datetime, parsedate_to_datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

import httpx

from hyperkvasir_cli.core.errors import NetworkError
from hyperkvasir_cli.transfer.content_range import parse_range_header

if TYPE_CHECKING:
    from s3fs import S3FileSystem

CHUNK_SIZE = 1024 * 1024
# A read hands over what it has after this long, so a slow body is still written promptly.
HAND_OVER_SECONDS = 0.1
_PASSED_HEADERS = ("etag", "last-modified", "content-length", "content-range", "content-type")


class S3Transport(httpx.BaseTransport):
    """An httpx transport for ``s3://bucket/key``; s3fs is imported at the first request."""

    def __init__(self, filesystem_factory: Callable[[], S3FileSystem] | None = None) -> None:
        self._factory = filesystem_factory

    def _filesystem(self) -> S3FileSystem:
        if self._factory is not None:
            return self._factory()
        from hyperkvasir_cli.transfer.s3_client import s3_filesystem

        return s3_filesystem()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        filesystem = self._filesystem()
        bucket, key = request.url.host, unquote(request.url.path).lstrip("/")
        if not bucket or not key:
            return httpx.Response(404, request=request)
        if request.method == "HEAD":
            return self._head(filesystem, request, bucket, key)
        if request.method != "GET":
            return httpx.Response(405, request=request)
        return self._get(filesystem, request, bucket, key)

    def _head(
        self, filesystem: S3FileSystem, request: httpx.Request, bucket: str, key: str
    ) -> httpx.Response:
        try:
            answer = _call(filesystem, request, "head_object", Bucket=bucket, Key=key)
        except _Refusal as refusal:
            return httpx.Response(refusal.status, request=request)
        return httpx.Response(200, headers=_headers(answer), request=request)

    def _get(
        self, filesystem: S3FileSystem, request: httpx.Request, bucket: str, key: str
    ) -> httpx.Response:
        arguments: dict[str, Any] = {"Bucket": bucket, "Key": key}
        range_value = request.headers.get("range")
        if parse_range_header(range_value) is not None:
            arguments["Range"] = range_value
            arguments.update(_condition(request.headers.get("if-range")))
        try:
            answer = _call(filesystem, request, "get_object", **arguments)
        except _Refusal as refusal:
            if refusal.status == 412:
                return self._new_version(filesystem, request, bucket, key)
            if refusal.status == 416:
                size = refusal.object_size
                headers = {"Content-Range": f"bytes */{size}"} if size is not None else {}
                return httpx.Response(416, headers=headers, request=request)
            return httpx.Response(refusal.status, request=request)
        status = int(answer["ResponseMetadata"]["HTTPStatusCode"])
        stream = _S3Body(filesystem, request, lambda: answer)
        return httpx.Response(status, headers=_headers(answer), stream=stream, request=request)

    def _new_version(
        self, filesystem: S3FileSystem, request: httpx.Request, bucket: str, key: str
    ) -> httpx.Response:
        """What HTTP answers to a failed If-Range: the whole new version (fetched lazily)."""
        try:
            head = _call(filesystem, request, "head_object", Bucket=bucket, Key=key)
        except _Refusal as refusal:
            return httpx.Response(refusal.status, request=request)
        etag = head.get("ETag")

        def open_whole() -> dict[str, Any]:
            return _call(filesystem, request, "get_object", Bucket=bucket, Key=key, IfMatch=etag)

        stream = _S3Body(filesystem, request, open_whole)
        return httpx.Response(200, headers=_headers(head), stream=stream, request=request)


def _condition(if_range: str | None) -> dict[str, Any]:
    if not if_range:
        return {}
    if if_range.startswith(('"', "W/")):
        return {"IfMatch": if_range}
    try:
        return {"IfUnmodifiedSince": parsedate_to_datetime(if_range)}
    except (TypeError, ValueError):
        return {"IfMatch": if_range}


def _headers(answer: dict[str, Any]) -> dict[str, str]:
    sent = answer.get("ResponseMetadata", {}).get("HTTPHeaders", {})
    headers = {name: str(sent[name]) for name in _PASSED_HEADERS if name in sent}
    if "etag" not in headers and answer.get("ETag"):
        headers["etag"] = str(answer["ETag"])
    if "last-modified" not in headers and answer.get("LastModified") is not None:
        headers["last-modified"] = format_datetime(answer["LastModified"], usegmt=True)
    if "content-length" not in headers and answer.get("ContentLength") is not None:
        headers["content-length"] = str(answer["ContentLength"])
    headers["accept-ranges"] = "bytes"
    return headers


class _Refusal(Exception):
    """S3 said no with this HTTP status."""

    def __init__(self, status: int, object_size: int | None) -> None:
        super().__init__(status)
        self.status, self.object_size = status, object_size


def _call(
    filesystem: S3FileSystem, request: httpx.Request, operation: str, **arguments: Any
) -> dict[str, Any]:
    from hyperkvasir_cli.transfer.s3_client import call, error_status

    try:
        return call(filesystem, operation, **arguments)
    except NetworkError as exc:  # the endpoint cannot be reached: try the next URL
        raise httpx.ConnectError(str(exc), request=request) from exc
    except Exception as exc:
        status = error_status(exc)
        if status is None:
            raise
        error = getattr(exc, "response", {}).get("Error", {})
        size = str(error.get("ActualObjectSize", ""))
        raise _Refusal(status, int(size) if size.isdigit() else None) from exc


class _S3Body(httpx.SyncByteStream):
    """The object's body, read on s3fs's loop in pieces of up to CHUNK_SIZE."""

    def __init__(
        self,
        filesystem: S3FileSystem,
        request: httpx.Request,
        opener: Callable[[], dict[str, Any]],
    ) -> None:
        self._fs, self._request, self._opener = filesystem, request, opener
        self._body: Any = None
        timeout = request.extensions.get("timeout", {})
        self._stall = timeout.get("read") if isinstance(timeout, dict) else None

    def __iter__(self) -> Iterator[bytes]:
        from fsspec.asyn import sync

        if self._body is None:
            self._body = self._opener()["Body"]
        while True:
            try:
                chunk: bytes = sync(self._fs.loop, self._read_piece)
            except (asyncio.TimeoutError, TimeoutError) as exc:
                raise httpx.ReadTimeout(
                    f"no byte for {self._stall} s", request=self._request
                ) from exc
            except Exception as exc:
                raise httpx.ReadError(
                    f"{type(exc).__name__}: {exc}", request=self._request
                ) from exc
            if not chunk:
                return
            yield chunk

    async def _read_piece(self) -> bytes:
        pieces: list[bytes] = []
        gathered, started = 0, time.monotonic()
        while gathered < CHUNK_SIZE:
            piece = await asyncio.wait_for(self._body.read(CHUNK_SIZE - gathered), self._stall)
            if not piece:
                break
            pieces.append(piece)
            gathered += len(piece)
            if time.monotonic() - started >= HAND_OVER_SECONDS:
                break
        return b"".join(pieces)

    def close(self) -> None:
        if self._body is not None:
            # Releases the connection (or drops it when the body was not read to the end).
            self._fs.loop.call_soon_threadsafe(self._body.close)
            self._body = None
