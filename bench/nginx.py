"""A private nginx on 127.0.0.1: one port unlimited, others throttled per connection.

Everything nginx writes (pid, logs, temp folders) stays in its own folder. The access log
records, per request, the port, path, status, `$body_bytes_sent` and `$http_range`, so the
bytes actually served (including those lost by a killed client) can be counted.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

STATUS_PATH = "/nginx-status"
START_TIMEOUT = 10.0
IDLE_TIMEOUT = 15.0

CONFIG_TEMPLATE = """\
{user}worker_processes 1;
daemon off;
pid {folder}/nginx.pid;
error_log {folder}/error.log warn;

events {{
    worker_connections 1024;
}}

http {{
    default_type application/octet-stream;
    sendfile on;
    tcp_nopush on;
    keepalive_timeout 30;
    client_body_temp_path {folder}/temp/client-body;
    proxy_temp_path {folder}/temp/proxy;
    fastcgi_temp_path {folder}/temp/fastcgi;
    uwsgi_temp_path {folder}/temp/uwsgi;
    scgi_temp_path {folder}/temp/scgi;
    log_format bench '$server_port $request_method "$uri" $status $body_bytes_sent '
                     '"$http_range" $request_time';
    access_log {folder}/access.log bench;

    server {{
        listen 127.0.0.1:{fast_port};
        root {root};
        location = {status_path} {{
            stub_status;
            access_log off;
        }}
    }}

{throttled_servers}}}
"""
THROTTLED_SERVER = """\
    server {{
        listen 127.0.0.1:{port};
        root {root};
        limit_rate {rate};
    }}
"""

_LOG_LINE = re.compile(
    r'^(?P<port>\d+) (?P<method>\S+) "(?P<uri>[^"]*)" (?P<status>\d+) (?P<bytes>\d+) '
    r'"(?P<range>[^"]*)" (?P<seconds>[\d.]+)$'
)
_ACTIVE = re.compile(r"Active connections:\s*(\d+)")


class NginxError(RuntimeError):
    pass


@dataclass(frozen=True)
class Request:
    """One line of the access log."""

    port: int
    method: str
    uri: str
    status: int
    body_bytes: int
    range: str


def parse_access_log(text: str) -> list[Request]:
    requests = []
    for line in text.splitlines():
        match = _LOG_LINE.match(line)
        if match:
            requests.append(
                Request(
                    port=int(match["port"]),
                    method=match["method"],
                    uri=match["uri"],
                    status=int(match["status"]),
                    body_bytes=int(match["bytes"]),
                    range="" if match["range"] == "-" else match["range"],
                )
            )
    return requests


def rate_bytes(rate: str) -> int:
    """Bytes per second of an nginx rate (`1m`, `256k`, `4096`); k and m are binary units."""
    factor = {"k": 2**10, "m": 2**20}.get(rate[-1:].lower(), 1)
    return int(rate.rstrip("kKmM")) * factor


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _accepts(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.settimeout(0.2)
        return probe.connect_ex(("127.0.0.1", port)) == 0


@dataclass
class Nginx:
    """A running nginx; use :func:`serve` to start and always stop it."""

    folder: Path
    fast_port: int
    slow_port: int  # throttled at the first rate given to serve()
    process: subprocess.Popen[bytes]
    rate_ports: dict[str, int] = field(default_factory=dict)  # every throttled port by rate

    @property
    def access_log(self) -> Path:
        return self.folder / "access.log"

    def url(self, file_name: str, *, throttled: bool = False, rate: str | None = None) -> str:
        """The file's URL: unlimited, throttled at the first rate, or at ``rate``."""
        port = self.rate_ports[rate] if rate else self.slow_port if throttled else self.fast_port
        return f"http://127.0.0.1:{port}/{file_name}"

    def log_mark(self) -> int:
        """A position in the access log; :meth:`requests_since` reads what came after it."""
        return self.access_log.stat().st_size if self.access_log.exists() else 0

    def requests_since(self, mark: int) -> list[Request]:
        with self.access_log.open("rb") as log:
            log.seek(mark)
            return parse_access_log(log.read().decode("utf-8", "replace"))

    def active_connections(self) -> int:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.fast_port}{STATUS_PATH}") as page:
            match = _ACTIVE.search(page.read().decode())
        if match is None:
            raise NginxError("stub_status page without an active connection count")
        return int(match[1])

    def wait_idle(self, timeout: float = IDLE_TIMEOUT) -> bool:
        """Wait until no client but this status probe is connected.

        A killed client's requests are logged only once nginx fails its next write, so the
        access log is complete only after this returns True.
        """
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.active_connections() <= 1:
                return True
            time.sleep(0.1)
        return False


def write_config(folder: Path, root: Path, fast_port: int, rate_ports: dict[str, int]) -> Path:
    for temp in ("client-body", "proxy", "fastcgi", "uwsgi", "scgi"):
        (folder / "temp" / temp).mkdir(parents=True, exist_ok=True)
    # As root, nginx would hand its workers to `nobody`, who may not read the work folder.
    user = "user root;\n" if os.geteuid() == 0 else ""
    config = folder / "nginx.conf"
    config.write_text(
        CONFIG_TEMPLATE.format(
            user=user,
            folder=folder,
            root=root,
            fast_port=fast_port,
            throttled_servers="".join(
                THROTTLED_SERVER.format(port=port, root=root, rate=rate)
                for rate, port in rate_ports.items()
            ),
            status_path=STATUS_PATH,
        )
    )
    return config


def _wait_started(server: Nginx) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            break
        if all(_accepts(port) for port in (server.fast_port, *server.rate_ports.values())):
            return
        time.sleep(0.05)
    log = server.folder / "error.log"
    said = log.read_text().strip().splitlines()[-3:] if log.exists() else []
    raise NginxError(f"nginx did not start: {' / '.join(said) or 'no error log'}")


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)  # fast shutdown: workers go too
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@contextlib.contextmanager
def serve(nginx: str, folder: Path, root: Path, rate: str, *more_rates: str) -> Iterator[Nginx]:
    """Start nginx serving ``root`` unlimited and throttled at ``rate`` (and ``more_rates``,
    each on a port of its own); stop it on exit, also on error or Ctrl-C."""
    folder.mkdir(parents=True, exist_ok=True)
    ports: set[int] = set()
    while len(ports) < 2 + len(more_rates):
        ports.add(free_port())
    fast_port, *throttled = sorted(ports)
    rate_ports = dict(zip(dict.fromkeys((rate, *more_rates)), throttled, strict=False))
    config = write_config(folder, root, fast_port, rate_ports)
    with (folder / "stderr.log").open("wb") as stderr:
        process = subprocess.Popen(
            [nginx, "-p", str(folder), "-c", str(config)],
            stdin=subprocess.DEVNULL,
            stdout=stderr,
            stderr=stderr,
        )
    server = Nginx(folder, fast_port, rate_ports[rate], process, rate_ports)
    try:
        _wait_started(server)
        yield server
    finally:
        _stop(process)
