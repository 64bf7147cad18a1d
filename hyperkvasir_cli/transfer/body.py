"""Reading a response body into a caller's buffer: straight from the socket when it can.

httpx makes the request and hands over the response (status, headers, redirects, proxies,
TLS, timeouts all stay its business). Its body path reads 64 KiB at a time through h11 and
copies each piece three times, which costs more CPU than the transfer itself on a fast
link. :class:`SocketBody` takes the first piece from httpx (whatever h11 buffered with the
headers), then reads the rest of the ``Content-Length`` straight from the connection's
socket into the caller's buffer (``recv_into``: no copy, no allocation). The connection is
then not reused: httpx closes it, because h11 never saw the body end.

Only an HTTP/1.1 body with a Content-Length, on a socket that carries the response bytes
themselves (plain, or TLS terminated by that socket), is read directly; everything else
(`file://`, HTTP/2, chunked bodies, TLS inside a TLS proxy tunnel, a transport of the
caller's) goes through :class:`StreamBody`, httpx's own path.
"""

from __future__ import annotations

import select
import socket
import ssl
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


class SocketBody:
    """The rest of a Content-Length body read straight from the connection's socket."""

    def __init__(self, response: httpx.Response, sock: socket.socket, length: int) -> None:
        self._chunks = response.iter_raw()
        self._left: memoryview | None = None
        self._sock = sock
        self._remaining = length
        timeout = response.request.extensions.get("timeout", {}).get("read")
        self._timeout = float(timeout) if isinstance(timeout, int | float) else None

    def readinto(self, view: memoryview) -> int:
        """Up to ``len(view)`` body bytes into ``view``; 0 at the end of the body."""
        if self._remaining <= 0:
            return 0
        wanted = min(len(view), self._remaining)
        if self._left is None:
            # h11 hands over everything it buffered with the headers in one piece (or
            # reads one piece itself); after that piece, the socket holds the next byte.
            self._left = memoryview(_next_chunk(self._chunks))
            if not self._left:
                return 0
        if self._left:
            count = min(wanted, len(self._left))
            view[:count] = self._left[:count]
            self._left = self._left[count:]
        else:
            count = self._receive(view, wanted)
        self._remaining -= count
        return count

    def _receive(self, view: memoryview, wanted: int) -> int:
        try:
            self._sock.settimeout(self._timeout)
            return self._sock.recv_into(view, wanted)
        except TimeoutError as exc:
            raise BodyReadError(f"ReadTimeout: no byte for {self._timeout:g} s") from exc
        except OSError as exc:
            raise BodyReadError(f"{type(exc).__name__}: {exc}") from exc

    def drained(self, short_read: bool) -> bool:
        """As :meth:`StreamBody.drained`, asking the socket only after a short read."""
        if self._left or not short_read:
            return False
        if not isinstance(self._sock, ssl.SSLSocket):
            # A plain socket returns less than asked only when its buffer ran dry.
            return True
        # TLS returns one record at a time: ask whether more is waiting.
        return self._sock.pending() == 0 and not select.select([self._sock], [], [], 0)[0]


def direct_socket(response: httpx.Response) -> tuple[socket.socket, int] | None:
    """The socket that carries this response's body and the body's length, when the body
    may be read from it directly; None when httpx must read it."""
    headers = response.headers
    length = headers.get("content-length", "")
    if response.http_version != "HTTP/1.1" or "transfer-encoding" in headers:
        return None
    if not length.isdigit():
        return None
    stream = response.extensions.get("network_stream")
    if stream is None:
        return None
    sock = stream.get_extra_info("socket")
    if not isinstance(sock, socket.socket):
        return None
    # A TLS tunnel inside a TLS connection to a proxy decrypts in memory (an SSLObject):
    # its socket carries the outer records, not the body.
    if isinstance(stream.get_extra_info("ssl_object"), ssl.SSLObject):
        return None
    if response.url.scheme == "https" and not isinstance(sock, ssl.SSLSocket):
        return None
    return sock, int(length)
