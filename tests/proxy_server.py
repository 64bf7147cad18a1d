"""A small HTTP proxy on 127.0.0.1, as a lab's or a company's: `GET http://...` is forwarded
(one request per connection to the origin), `CONNECT host:port` opens a tunnel for TLS.
Every request it handled is logged, so tests can tell that the proxy was used."""

from __future__ import annotations

import contextlib
import socket
import socketserver
import threading
from urllib.parse import urlsplit


class _Handler(socketserver.StreamRequestHandler):
    server: _ProxyServer

    def handle(self) -> None:
        while True:
            line = self.rfile.readline(65536)
            if not line:
                return
            method, target, _ = line.decode("latin-1").split(" ", 2)
            headers = []
            while (header := self.rfile.readline(65536)) not in (b"\r\n", b"\n", b""):
                headers.append(header)
            with self.server.lock:
                self.server.log.append((method, target))
            if method == "CONNECT":
                host, port = target.rsplit(":", 1)
                upstream = socket.create_connection((host, int(port)))
                self.wfile.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
                self._relay(upstream)
                return
            if not self._forward(method, target, headers):
                return

    def _forward(self, method: str, target: str, headers: list[bytes]) -> bool:
        """Send one request to the origin and its whole answer back; False when the client
        connection must close."""
        url = urlsplit(target)
        path = url.path + (f"?{url.query}" if url.query else "")
        kept = [h for h in headers if not h.lower().startswith((b"proxy-", b"connection:"))]
        with socket.create_connection((url.hostname or "", url.port or 80)) as upstream:
            request = f"{method} {path} HTTP/1.1\r\n".encode() + b"".join(kept)
            upstream.sendall(request + b"Connection: close\r\n\r\n")
            while data := upstream.recv(256 * 1024):
                try:
                    self.wfile.write(data)
                except OSError:
                    return False
        return False  # the answer's end is where the origin closed: close too

    def _relay(self, upstream: socket.socket) -> None:
        client = self.connection

        def pump(source: socket.socket, sink: socket.socket) -> None:
            try:
                while data := source.recv(256 * 1024):
                    sink.sendall(data)
            except OSError:
                pass
            finally:
                for end in (source, sink):
                    with contextlib.suppress(OSError):
                        end.shutdown(socket.SHUT_RDWR)

        back = threading.Thread(target=pump, args=(upstream, client), daemon=True)
        back.start()
        pump(client, upstream)
        back.join(10)
        upstream.close()


class _ProxyServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.lock = threading.Lock()
        self.log: list[tuple[str, str]] = []

    def handle_error(self, request: object, client_address: object) -> None:
        """Clients hang up mid-answer on purpose in these tests; that is not an error."""


class ProxyServer:
    def __init__(self) -> None:
        self._server = _ProxyServer()
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def log(self) -> list[tuple[str, str]]:
        with self._server.lock:
            return list(self._server.log)

    def start(self) -> ProxyServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
