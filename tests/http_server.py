"""A real HTTP/1.1 server on 127.0.0.1 for download tests, with faults to switch on.

It serves files from memory with Range, If-Range, ETag, Last-Modified and HEAD, the way
Apache and nginx do, and logs every request with the body bytes it sent so that tests can
count what was transferred twice.
"""

from __future__ import annotations

import hashlib
import socket
import ssl
import threading
import time
from dataclasses import dataclass, field
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from hyperkvasir_cli.transfer.content_range import parse_range_header


@dataclass
class Served:
    """One version of a file: content and the validators derived from it."""

    content: bytes
    version: int = 1
    etag_enabled: bool = True
    last_modified_enabled: bool = True

    @property
    def etag(self) -> str:
        return '"' + hashlib.sha1(self.content).hexdigest()[:16] + f'-{self.version}"'

    @property
    def last_modified(self) -> str:
        return formatdate(1_600_000_000 + self.version * 3600, usegmt=True)


@dataclass
class Faults:
    drop_after: int | None = None  # close the connection when byte N of the file is reached
    drop_every: int | None = None  # close each response after N of its body bytes
    drops_left: int = 0  # how many drops in all
    ignore_range: bool = False
    # A cache or proxy that serves any Range from its current copy, whatever If-Range says
    # (RFC 9110 wants the whole new file instead): a 206 of another version.
    ignore_if_range: bool = False
    # A broken proxy: the next ranged answer starts this many bytes after the byte asked
    # for (its Content-Range says so truthfully).
    misplace_range_once: int = 0
    statuses: list[tuple[int, dict[str, str]]] = field(default_factory=list)  # served first
    lie_content_length: int = 0  # claim this many more bytes than are sent
    html_instead: bool = False
    max_range_connections: int | None = None  # more concurrent ranged GETs get 503
    replace_after_bytes: tuple[int, bytes] | None = None  # swap content at byte N of the file
    pause_after: int | None = None  # at byte N of the file, wait for `resume`...
    resume: threading.Event = field(default_factory=threading.Event)  # ...to be set
    paused: threading.Event = field(default_factory=threading.Event)  # set when it pauses
    rate: int | None = None  # bytes per second per connection, like a slow university server
    no_suffix_ranges: bool = False  # answer `bytes=-N` with the whole file, as some servers do
    no_conditionals: bool = False  # ignore If-None-Match and If-Modified-Since


@dataclass
class LoggedRequest:
    method: str
    path: str
    range: str | None
    if_range: str | None
    status: int
    body_bytes: int


class _QuietServer(ThreadingHTTPServer):
    def handle_error(self, request: object, client_address: object) -> None:
        """Clients hang up mid-body on purpose in these tests; that is not an error."""


class LocalServer:
    def __init__(self, tls: tuple[str, str] | None = None) -> None:
        self.files: dict[str, Served] = {}
        self.faults: dict[str, Faults] = {}
        self.gone: set[str] = set()
        self.log: list[LoggedRequest] = []
        self._lock = threading.Lock()
        self._active_ranges = 0
        self._sent_total = 0
        handler = _make_handler(self)
        self._server = _QuietServer(("127.0.0.1", 0), handler)
        self.scheme = "http"
        if tls is not None:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(*tls)
            self._server.socket = context.wrap_socket(self._server.socket, server_side=True)
            self.scheme = "https"
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def base_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"{self.scheme}://{host}:{port}"

    def url(self, name: str) -> str:
        return f"{self.base_url}/{name}"

    def put(self, name: str, content: bytes, **options: bool) -> Served:
        """Serve (or replace) a file; a replacement gets new validators."""
        with self._lock:
            previous = self.files.get(name)
            version = previous.version + 1 if previous else 1
            served = Served(content, version, **options)
            self.files[name] = served
            return served

    def fault(self, name: str) -> Faults:
        return self.faults.setdefault(name, Faults())

    def body_bytes(self, name: str) -> int:
        return sum(r.body_bytes for r in self.log if r.path == "/" + name and r.method == "GET")

    def gets(self, name: str) -> list[LoggedRequest]:
        return [r for r in self.log if r.path == "/" + name and r.method == "GET"]

    def start(self) -> LocalServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        for faults in self.faults.values():
            faults.resume.set()
        self._server.shutdown()
        self._server.server_close()


def _make_handler(server: LocalServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: object) -> None:  # quiet
            pass

        def setup(self) -> None:
            # A small send buffer, like a far-away server's: what a client has not read
            # yet is not counted as sent when it hangs up.
            self.request.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 128 * 1024)
            super().setup()

        def do_HEAD(self) -> None:
            self._serve(head=True)

        def do_GET(self) -> None:
            self._serve(head=False)

        def _log(self, status: int) -> LoggedRequest:
            """Record the request before its answer goes out, so that a client that has the
            answer always finds the request in the log; body bytes are counted as sent."""
            entry = LoggedRequest(
                self.command,
                self.path,
                self.headers.get("Range"),
                self.headers.get("If-Range"),
                status,
                0,
            )
            with server._lock:
                server.log.append(entry)
            return entry

        def _simple(self, status: int, headers: dict[str, str], body: bytes = b"") -> None:
            self._log(status)
            self.send_response(status)
            for key, value in headers.items():
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        def _serve(self, head: bool) -> None:
            name = self.path.lstrip("/")
            faults = server.faults.get(name, Faults())
            with server._lock:
                queued = faults.statuses.pop(0) if faults.statuses else None
                served = server.files.get(name)
            if queued is not None:
                self._simple(queued[0], queued[1], b"try again later")
                return
            if name in server.gone or served is None:
                self._simple(404, {"Content-Type": "text/html"}, b"<html>not found</html>")
                return
            if faults.html_instead:
                page = b"<!DOCTYPE html><html><body>Service temporarily moved</body></html>"
                self._simple(200, {"Content-Type": "text/html"}, page)
                return
            self._send_file(served, faults, head)

        def _send_file(self, served: Served, faults: Faults, head: bool) -> None:
            content = served.content
            size = len(content)
            headers = {"Accept-Ranges": "bytes", "Content-Type": "application/zip"}
            if served.etag_enabled:
                headers["ETag"] = served.etag
            if served.last_modified_enabled:
                headers["Last-Modified"] = served.last_modified
            if self._not_modified(faults, headers):
                self._simple(304, headers)
                return
            wanted = None if faults.ignore_range else self._wanted_range(faults, size)
            condition = self.headers.get("If-Range")
            if (
                wanted is not None
                and not faults.ignore_if_range
                and condition
                not in (
                    None,
                    headers.get("ETag"),
                    headers.get("Last-Modified"),
                )
            ):
                wanted = None  # another version: send it all (RFC 9110)
            start, end, status = 0, size, 200
            if wanted is not None:
                if wanted[0] >= size:
                    self._simple(416, {**headers, "Content-Range": f"bytes */{size}"})
                    return
                start = wanted[0]
                end = size if wanted[1] is None else min(wanted[1] + 1, size)
                with server._lock:
                    start = min(start + faults.misplace_range_once, end - 1)
                    faults.misplace_range_once = 0
                status = 206
                headers["Content-Range"] = f"bytes {start}-{end - 1}/{size}"
                with server._lock:
                    limit = faults.max_range_connections
                    if limit is not None and server._active_ranges >= limit:
                        refused = True
                    else:
                        refused = False
                        server._active_ranges += 1
                if refused:
                    self._simple(503, {"Retry-After": "0"}, b"too many connections")
                    return
            try:
                self._write_body(status, headers, content, start, end, faults, head)
            finally:
                if status == 206:
                    with server._lock:
                        server._active_ranges -= 1

        def _not_modified(self, faults: Faults, headers: dict[str, str]) -> bool:
            """If-None-Match (or, without it, If-Modified-Since) naming this version."""
            if faults.no_conditionals:
                return False
            none_match = self.headers.get("If-None-Match")
            if none_match is not None:
                return "ETag" in headers and headers["ETag"] in [
                    tag.strip() for tag in none_match.split(",")
                ]
            since = self.headers.get("If-Modified-Since")
            return since is not None and since == headers.get("Last-Modified")

        def _wanted_range(self, faults: Faults, size: int) -> tuple[int, int | None] | None:
            """The range asked for; a suffix range (`bytes=-N`) as its first and last byte."""
            value = (self.headers.get("Range") or "").strip()
            if value.startswith("bytes=-") and value[7:].isdigit():
                if faults.no_suffix_ranges or int(value[7:]) == 0:
                    return None
                return max(0, size - int(value[7:])), None
            return parse_range_header(value)

        def _write_body(
            self,
            status: int,
            headers: dict[str, str],
            content: bytes,
            start: int,
            end: int,
            faults: Faults,
            head: bool,
        ) -> None:
            entry = self._log(status)
            self.send_response(status)
            for key, value in headers.items():
                self.send_header(key, value)
            self.send_header("Content-Length", str(end - start + faults.lie_content_length))
            self.end_headers()
            if head:
                return
            stop_at = self._drop_point(faults, start, end)
            position = start
            try:
                while position < stop_at:
                    piece_end = min(position + 64 * 1024, stop_at)
                    for mark in (faults.pause_after, self._replace_point(faults)):
                        if mark is not None and position < mark < piece_end:
                            piece_end = mark
                    with server._lock:
                        entry.body_bytes += piece_end - position
                    # Swapped before the byte that reaches the mark leaves: a client that has
                    # it and asks again at once (on another connection) meets the new version.
                    self._maybe_replace(faults, piece_end)
                    self.wfile.write(content[position:piece_end])
                    if faults.rate:
                        time.sleep((piece_end - position) / faults.rate)
                    position = piece_end
                    if faults.pause_after is not None and position >= faults.pause_after:
                        faults.pause_after = None
                        self.wfile.flush()
                        faults.paused.set()
                        faults.resume.wait(30)
            except (BrokenPipeError, ConnectionResetError):
                with server._lock:  # that piece never left
                    entry.body_bytes = position - start
            if position < end or faults.lie_content_length:
                self.close_connection = True

        def _drop_point(self, faults: Faults, start: int, end: int) -> int:
            """Where this response is cut short, if a drop fault applies to it."""
            with server._lock:
                if faults.drops_left <= 0:
                    return end
                if faults.drop_after is not None and start < faults.drop_after < end:
                    faults.drops_left -= 1
                    return faults.drop_after
                if faults.drop_every is not None and faults.drop_every < end - start:
                    faults.drops_left -= 1
                    return start + faults.drop_every
            return end

        @staticmethod
        def _replace_point(faults: Faults) -> int | None:
            swap = faults.replace_after_bytes
            return None if swap is None else swap[0]

        def _maybe_replace(self, faults: Faults, position: int) -> None:
            swap = faults.replace_after_bytes
            if swap is not None and position >= swap[0]:
                faults.replace_after_bytes = None
                name = self.path.lstrip("/")
                with server._lock:
                    current = server.files[name]
                # The same server, a new version: validators as the old one had them.
                server.put(
                    name,
                    swap[1],
                    etag_enabled=current.etag_enabled,
                    last_modified_enabled=current.last_modified_enabled,
                )

    return Handler
