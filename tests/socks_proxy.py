"""A real SOCKS5 proxy on 127.0.0.1 (no authentication, CONNECT only) for proxy tests.

It relays bytes both ways and counts the tunnels it opened, so that a test can tell that a
download really went through it.
"""

from __future__ import annotations

import contextlib
import socket
import struct
import threading


def _read_exactly(conn: socket.socket, count: int) -> bytes:
    data = b""
    while len(data) < count:
        piece = conn.recv(count - len(data))
        if not piece:
            raise ConnectionError("client went away")
        data += piece
    return data


def _pipe(source: socket.socket, target: socket.socket) -> None:
    with contextlib.suppress(OSError):
        while True:
            data = source.recv(65536)
            if not data:
                break
            target.sendall(data)
    with contextlib.suppress(OSError):
        target.shutdown(socket.SHUT_WR)


class Socks5Proxy:
    def __init__(self) -> None:
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self.tunnels: list[tuple[str, int]] = []
        self._threads: list[threading.Thread] = []
        self._accepting = threading.Thread(target=self._accept, daemon=True)

    @property
    def url(self) -> str:
        return f"socks5://127.0.0.1:{self.port}"

    def start(self) -> Socks5Proxy:
        self._accepting.start()
        return self

    def stop(self) -> None:
        self._listener.close()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self._listener.accept()
            except OSError:
                return
            thread = threading.Thread(target=self._serve, args=(conn,), daemon=True)
            thread.start()
            self._threads.append(thread)

    def _serve(self, conn: socket.socket) -> None:
        with conn:
            try:
                _version, methods = _read_exactly(conn, 2)
                _read_exactly(conn, methods)
                conn.sendall(b"\x05\x00")  # no authentication
                _version, command, _reserved, kind = _read_exactly(conn, 4)
                if kind == 1:
                    host = socket.inet_ntoa(_read_exactly(conn, 4))
                elif kind == 3:
                    host = _read_exactly(conn, _read_exactly(conn, 1)[0]).decode()
                else:
                    host = socket.inet_ntop(socket.AF_INET6, _read_exactly(conn, 16))
                (port,) = struct.unpack("!H", _read_exactly(conn, 2))
                if command != 1:
                    conn.sendall(b"\x05\x07\x00\x01" + bytes(6))
                    return
                upstream = socket.create_connection((host, port))
            except OSError:
                with contextlib.suppress(OSError):
                    conn.sendall(b"\x05\x05\x00\x01" + bytes(6))  # connection refused
                return
            self.tunnels.append((host, port))
            with upstream:
                conn.sendall(b"\x05\x00\x00\x01" + bytes(6))
                back = threading.Thread(target=_pipe, args=(upstream, conn), daemon=True)
                back.start()
                _pipe(conn, upstream)
                back.join(30)


def dead_port() -> tuple[socket.socket, int]:
    """A port on 127.0.0.1 where nothing listens (connections are refused) while the
    returned socket stays open: bound, never listening, so no other test can take it."""
    holder = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    holder.bind(("127.0.0.1", 0))
    return holder, holder.getsockname()[1]
