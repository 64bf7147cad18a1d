"""Reading a response body into a caller's buffer.

Reads go into one buffer per connection, reused for every read: no allocation per read,
and writes of up to a buffer at a time.
"""

from __future__ import annotations

import select
from collections.abc import Iterator

import httpx


class BodyReadError(Exception):
    """The connection failed while reading the body (a drop, a stall, a TLS error)."""


def _next_chunk(chunks: Iterator[bytes]) -> bytes:
    try:
        return next(chunks, b"")
    except (httpx.TimeoutException, httpx.NetworkError, httpx.RemoteProtocolError) as exc:
        raise BodyReadError(f"{type(exc).__name__}: {str(exc) or type(exc).__name__}") from exc


class StreamBody:
    """A body through httpx's own iterator (any transport)."""

    def __init__(self, response: httpx.Response) -> None:
        self._chunks = response.iter_raw()
        self._left = memoryview(b"")
        stream = response.extensions.get("network_stream")
        self._sock = stream.get_extra_info("socket") if stream is not None else None

    def readinto(self, view: memoryview) -> int:
        """Copy up to ``len(view)`` body bytes into ``view``; 0 at the end of the body."""
        if not self._left:
            self._left = memoryview(_next_chunk(self._chunks))
        count = min(len(view), len(self._left))
        view[:count] = self._left[:count]
        self._left = self._left[count:]
        return count

    def drained(self, short_read: bool) -> bool:
        """Whether the next read could wait: nothing left over and the socket has nothing
        to read now. Without a socket to ask (file://), every piece counts as the last.
        Bytes the HTTP or TLS layer holds in its own buffer may make the answer "drained"
        too early; that costs one extra write, never a lost byte."""
        if self._left:
            return False
        if self._sock is None:
            return True
        return not select.select([self._sock], [], [], 0)[0]
