"""Bodies read straight from the socket: used where the connection allows it (plain HTTP, TLS,
through a proxy), never where it would read the wrong bytes, and every guarantee holds."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from hyperkvasir_cli.transfer import range_request
from hyperkvasir_cli.transfer.body import SocketBody, direct_socket
from hyperkvasir_cli.transfer.http_client import build_client, request_url
from tests.cli import run_cli
from tests.conftest import FakeClock
from tests.downloads import archive, part_entry, random_bytes, write_manifest
from tests.http_server import LocalServer
from tests.proxy_server import ProxyServer
from tests.same import assert_same_bytes

FILE = "hyper-kvasir-labeled-images.zip"
MIB = 1024 * 1024


@pytest.fixture
def proxy() -> Iterator[ProxyServer]:
    server = ProxyServer().start()
    yield server
    server.stop()


@pytest.fixture
def direct_reads(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Counts the bodies read straight from a socket during the test."""
    used: list[int] = []

    class CountedSocketBody(SocketBody):
        def __init__(self, *args: object) -> None:
            super().__init__(*args)  # type: ignore[arg-type]
            used.append(1)

    monkeypatch.setattr(range_request, "SocketBody", CountedSocketBody)
    return used


def client(ca_bundle: str | None = None) -> httpx.Client:
    bundle = Path(ca_bundle) if ca_bundle else None
    return build_client(connect_timeout=5, stall_timeout=5, ca_bundle=bundle, environ={})


def first_bytes(url: str, ca_bundle: str | None = None) -> tuple[object, int | None]:
    """What direct_socket says for a ranged GET of ``url``: the socket's type, the length."""
    with client(ca_bundle) as http:
        request = http.build_request("GET", request_url(url), headers={"Range": "bytes=0-99"})
        response = http.send(request, stream=True)
        try:
            found = direct_socket(response)
            return (type(found[0]) if found else None), (found[1] if found else None)
        finally:
            response.close()


def serve(tmp_path: Path, server: LocalServer, size: int, seed: int) -> tuple[Path, bytes]:
    content = random_bytes(size, seed=seed)
    server.put(FILE, content)
    manifest = write_manifest(
        tmp_path / "manifest.yaml",
        [part_entry("labeled-images", FILE, [server.url(FILE)], content)],
    )
    return manifest, content


def download(manifest: Path, connections: int, *options: str) -> None:
    result = run_cli(
        "download", "labeled-images", "--manifest", str(manifest), "-n", str(connections), *options
    )
    assert result.exit_code == 0, result.stderr


def use_proxy(monkeypatch: pytest.MonkeyPatch, variable: str, url: str) -> None:
    """``variable`` names the proxy ``url``; no other proxy variable or exception is set."""
    for name in ("NO_PROXY", "no_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv(variable, url)


def test_the_socket_is_read_directly_over_http_and_tls_but_never_for_files(
    tmp_path: Path,
    http_server: LocalServer,
    https_server: LocalServer,
    certificate: tuple[str, str],
) -> None:
    import socket
    import ssl

    http_server.put("a.bin", b"x" * 1000)
    https_server.put("a.bin", b"x" * 1000)
    (tmp_path / "a.bin").write_bytes(b"x" * 1000)
    assert first_bytes(http_server.url("a.bin")) == (socket.socket, 100)
    assert first_bytes(https_server.url("a.bin"), certificate[0]) == (ssl.SSLSocket, 100)
    assert first_bytes((tmp_path / "a.bin").as_uri()) == (None, None)


def test_direct_reads_fill_every_piece_of_a_multi_connection_download(
    tmp_path: Path,
    http_server: LocalServer,
    data_dir: Path,
    fake_clock: FakeClock,
    direct_reads: list[int],
) -> None:
    manifest, content = serve(tmp_path, http_server, 20 * MIB + 12345, seed=21)
    download(manifest, 4)
    assert_same_bytes(archive(data_dir, FILE), content)
    assert len(direct_reads) >= 4
    assert http_server.body_bytes(FILE) == len(content)


def test_a_drop_during_a_direct_read_resumes_at_the_byte_it_reached(
    tmp_path: Path,
    http_server: LocalServer,
    data_dir: Path,
    fake_clock: FakeClock,
    direct_reads: list[int],
) -> None:
    manifest, content = serve(tmp_path, http_server, 6 * MIB, seed=22)
    http_server.fault(FILE).drop_after, http_server.fault(FILE).drops_left = 4 * MIB + 7, 1
    download(manifest, 1)
    assert_same_bytes(archive(data_dir, FILE), content)
    assert direct_reads
    ranges = [r.range for r in http_server.gets(FILE)]
    assert ranges[-1] == f"bytes={4 * MIB + 7}-{6 * MIB - 1}"
    assert all(r.if_range for r in http_server.gets(FILE)[1:])
    assert http_server.body_bytes(FILE) == len(content)


def test_http_through_a_proxy_is_read_directly_and_correctly(
    tmp_path: Path,
    http_server: LocalServer,
    proxy: ProxyServer,
    data_dir: Path,
    fake_clock: FakeClock,
    direct_reads: list[int],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    use_proxy(monkeypatch, "HTTP_PROXY", proxy.url)
    manifest, content = serve(tmp_path, http_server, 12 * MIB + 1, seed=23)
    download(manifest, 4)
    assert_same_bytes(archive(data_dir, FILE), content)
    assert direct_reads
    forwarded = [target for method, target in proxy.log if method == "GET"]
    assert forwarded and all(t == http_server.url(FILE) for t in forwarded)


def test_https_through_a_proxy_tunnel_is_read_directly_and_correctly(
    tmp_path: Path,
    https_server: LocalServer,
    certificate: tuple[str, str],
    proxy: ProxyServer,
    data_dir: Path,
    fake_clock: FakeClock,
    direct_reads: list[int],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    use_proxy(monkeypatch, "HTTPS_PROXY", proxy.url)
    manifest, content = serve(tmp_path, https_server, 12 * MIB + 3, seed=24)
    download(manifest, 3, "--ca-bundle", certificate[0])
    assert (
        hashlib.sha256(archive(data_dir, FILE).read_bytes()).digest()
        == hashlib.sha256(content).digest()
    )
    assert direct_reads
    assert any(method == "CONNECT" for method, _ in proxy.log)
