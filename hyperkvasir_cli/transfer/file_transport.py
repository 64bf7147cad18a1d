"""`file://` URLs served through httpx with HTTP semantics (Range, ETag, 404, 416).

A lab mirror on a shared file system is then just another URL, and every download path
(resume, validators, verification) behaves exactly as it does over HTTP.
"""

from __future__ import annotations

import email.utils
import os
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import unquote, urlsplit

import httpx

from hyperkvasir_cli.transfer.content_range import parse_range_header

_CHUNK = 1024 * 1024


class _FileStream(httpx.SyncByteStream):
    def __init__(self, path: Path, start: int, length: int) -> None:
        self._path, self._start, self._length = path, start, length

    def __iter__(self) -> Iterator[bytes]:
        with self._path.open("rb") as handle:
            handle.seek(self._start)
            remaining = self._length
            while remaining > 0:
                chunk = handle.read(min(_CHUNK, remaining))
                if not chunk:
                    return
                remaining -= len(chunk)
                yield chunk


def file_validators(stat: os.stat_result) -> tuple[str, str]:
    """An ETag and Last-Modified derived from size and mtime, as web servers do."""
    etag = f'"{stat.st_size:x}-{stat.st_mtime_ns:x}"'
    return etag, email.utils.formatdate(stat.st_mtime, usegmt=True)


def _if_range_matches(request: httpx.Request, etag: str, last_modified: str) -> bool:
    condition = request.headers.get("if-range")
    return condition is None or condition in (etag, last_modified)


class FileTransport(httpx.BaseTransport):
    def handle_request(self, request: httpx.Request) -> httpx.Response:
        path = Path(unquote(urlsplit(str(request.url)).path))
        try:
            stat = path.stat()
        except OSError:
            return httpx.Response(404, request=request)
        if not path.is_file():
            return httpx.Response(404, request=request)
        size = stat.st_size
        etag, last_modified = file_validators(stat)
        headers = {"ETag": etag, "Last-Modified": last_modified, "Accept-Ranges": "bytes"}
        start, end, status = 0, size, 200
        wanted = parse_range_header(request.headers.get("range"))
        if wanted is not None and _if_range_matches(request, etag, last_modified):
            first, last = wanted
            if first >= size:
                headers["Content-Range"] = f"bytes */{size}"
                return httpx.Response(416, headers=headers, request=request)
            start, end, status = first, size if last is None else min(last + 1, size), 206
            headers["Content-Range"] = f"bytes {start}-{end - 1}/{size}"
        headers["Content-Length"] = str(end - start)
        if request.method == "HEAD":
            return httpx.Response(status, headers=headers, request=request)
        stream = _FileStream(path, start, end - start)
        return httpx.Response(status, headers=headers, stream=stream, request=request)
