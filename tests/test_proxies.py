"""Proxies as a cluster's environment sets them: file:// URLs never go through one, SOCKS
works, a dead proxy is named with its variable, and no_proxy is read as curl reads it
(CIDR blocks included). Each test sets the variables it is about; the conftest clears them."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from hyperkvasir_cli.transfer.proxies import ProxySetting, bypasses_proxy, proxy_for
from tests.cli import Result, run_cli
from tests.conftest import FakeClock
from tests.downloads import archive, part_entry, write_manifest, zip_bytes
from tests.http_server import LocalServer
from tests.same import assert_same_bytes
from tests.socks_proxy import Socks5Proxy, dead_port

FILE = "hyper-kvasir-segmented-images.zip"
PART = "segmented-images"
CONTENT = zip_bytes(256 * 1024 + 3, seed=21)


@pytest.fixture
def dead_proxy() -> Iterator[str]:
    holder, port = dead_port()
    yield f"http://127.0.0.1:{port}"
    holder.close()


@pytest.fixture
def socks_proxy() -> Iterator[Socks5Proxy]:
    proxy = Socks5Proxy().start()
    yield proxy
    proxy.stop()


def download(tmp_path: Path, urls: list[str], *args: str) -> Result:
    manifest = write_manifest(tmp_path / "m.yaml", [part_entry(PART, FILE, urls, CONTENT)])
    return run_cli("download", PART, "--manifest", str(manifest), *args)


def assert_downloaded(result: Result, data_dir: Path) -> None:
    """The download succeeded, and the archive in the data folder is CONTENT."""
    assert result.exit_code == 0, result.stderr
    assert_same_bytes(archive(data_dir, FILE), CONTENT)


def file_mirror(tmp_path: Path) -> str:
    source = tmp_path / "mirror" / FILE
    source.parent.mkdir(exist_ok=True)
    source.write_bytes(CONTENT)
    return source.as_uri()


# --- the rules, pure -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("host", "port", "no_proxy", "bypass"),
    [
        ("127.0.0.1", 80, "127.0.0.0/8", True),
        ("127.3.4.5", 80, "10.0.0.0/8, 127.0.0.0/8", True),
        ("128.0.0.1", 80, "127.0.0.0/8", False),
        ("10.1.2.3", 80, "10.1.0.0/16", True),
        ("::1", 80, "::1", True),
        ("fd00::5", 80, "fd00::/8", True),
        ("127.0.0.1", 80, "::/0", False),  # a v6 block never holds a v4 address
        ("localhost", 80, "localhost,127.0.0.1", True),
        ("datasets.simula.no", 443, "simula.no", True),
        ("datasets.simula.no", 443, ".simula.no", True),
        ("simula.no", 443, ".simula.no", True),
        ("notsimula.no", 443, "simula.no", False),
        ("anything.example", 443, "*", True),
        ("mirror.lab", 8080, "mirror.lab:8080", True),
        ("mirror.lab", 443, "mirror.lab:8080", False),
        ("mirror.lab", 443, "", False),
    ],
)
def test_no_proxy_is_read_as_curl_reads_it(
    host: str, port: int, no_proxy: str, bypass: bool
) -> None:
    assert bypasses_proxy(host, port, no_proxy) is bypass


def test_the_proxy_names_the_variable_it_came_from() -> None:
    env = {"HTTPS_PROXY": "proxy:3128", "all_proxy": "socks5://s:1080", "NO_PROXY": "lab"}
    assert proxy_for("https://datasets.simula.no/x", env) == ProxySetting(
        "http://proxy:3128", "HTTPS_PROXY"
    )
    assert proxy_for("http://datasets.simula.no/x", env) == ProxySetting(
        "socks5://s:1080", "all_proxy"
    )
    assert proxy_for("https://mirror.lab/x", env) is None
    assert proxy_for("file:///data/x.zip", {**env, "all_proxy": "http://p:1"}) is None
    both = {"https_proxy": "http://lower:1", "HTTPS_PROXY": "http://upper:1"}
    assert proxy_for("https://h/x", both) == ProxySetting("http://lower:1", "https_proxy")
    assert proxy_for("https://h/x", {"https_proxy": "", "HTTPS_PROXY": ""}) is None


def test_a_password_in_a_proxy_url_is_never_shown() -> None:
    shown = ProxySetting("http://me:secret@proxy:3128", "https_proxy").shown
    assert "secret" not in shown and shown == "http://me:***@proxy:3128"


# --- file:// URLs ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "env",
    [
        {"NO_PROXY": "localhost,127.0.0.1"},
        {"no_proxy": "localhost"},
        {"all_proxy": "socks5://127.0.0.1:9"},
        {"ALL_PROXY": "socks4://127.0.0.1:9"},
    ],
    ids=["NO_PROXY=localhost", "no_proxy=localhost", "all_proxy=socks5", "ALL_PROXY=socks4"],
)
@pytest.mark.parametrize("connections", ["1", "4"])
def test_file_urls_never_go_through_a_proxy(
    env: dict[str, str],
    connections: str,
    tmp_path: Path,
    data_dir: Path,
    dead_proxy: str,
    fake_clock: FakeClock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY"):
        monkeypatch.setenv(name, dead_proxy)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    result = download(tmp_path, [file_mirror(tmp_path)], "-n", connections)
    assert_downloaded(result, data_dir)


# --- SOCKS ---------------------------------------------------------------------------------


def test_a_socks5_proxy_carries_the_download(
    tmp_path: Path,
    data_dir: Path,
    http_server: LocalServer,
    socks_proxy: Socks5Proxy,
    fake_clock: FakeClock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    http_server.put(FILE, CONTENT)
    monkeypatch.setenv("all_proxy", socks_proxy.url)
    result = download(tmp_path, [http_server.url(FILE)])
    assert_downloaded(result, data_dir)
    assert socks_proxy.tunnels and all(h == "127.0.0.1" for h, _ in socks_proxy.tunnels)


def test_an_unsupported_proxy_scheme_is_a_config_error_naming_the_variable(
    tmp_path: Path, http_server: LocalServer, fake_clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    http_server.put(FILE, CONTENT)
    monkeypatch.setenv("ALL_PROXY", "socks4://127.0.0.1:1080")
    result = download(tmp_path, [http_server.url(FILE)])
    assert result.exit_code == 3, result.stderr
    error, hint = result.stderr.splitlines()[-2:]
    assert error.startswith("error: ALL_PROXY=socks4://127.0.0.1:1080: socks4:// proxies")
    assert "ALL_PROXY" in hint and "no_proxy" in hint
    assert http_server.log == []


# --- a dead proxy --------------------------------------------------------------------------


@pytest.mark.parametrize("variable", ["http_proxy", "HTTP_PROXY", "all_proxy"])
def test_a_dead_proxy_is_named_with_its_variable_not_blamed_on_the_server(
    variable: str,
    tmp_path: Path,
    http_server: LocalServer,
    dead_proxy: str,
    fake_clock: FakeClock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    http_server.put(FILE, CONTENT)
    monkeypatch.setenv(variable, dead_proxy)
    result = download(tmp_path, [http_server.url(FILE)], "--json")
    assert result.exit_code == 4, result.stderr
    error = result.json()["error"]
    assert f"the proxy {dead_proxy} (from {variable}) failed" in error["message"]
    assert "proxy" in error["hint"] and "no_proxy" in error["hint"]
    assert http_server.log == []  # the server was never reached, and is not blamed


def test_no_proxy_in_cidr_form_reaches_the_server_directly(
    tmp_path: Path,
    data_dir: Path,
    http_server: LocalServer,
    dead_proxy: str,
    fake_clock: FakeClock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    http_server.put(FILE, CONTENT)
    monkeypatch.setenv("http_proxy", dead_proxy)
    monkeypatch.setenv("NO_PROXY", "10.0.0.0/8,127.0.0.0/8")
    result = download(tmp_path, [http_server.url(FILE)])
    assert_downloaded(result, data_dir)


def test_check_remote_through_a_dead_proxy_names_it(
    tmp_path: Path,
    http_server: LocalServer,
    dead_proxy: str,
    fake_clock: FakeClock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    http_server.put(FILE, CONTENT)
    assert download(tmp_path, [http_server.url(FILE)]).exit_code == 0
    monkeypatch.setenv("http_proxy", dead_proxy)
    result = run_cli("sync", PART, "--check-remote", "--manifest", str(tmp_path / "m.yaml"))
    assert f"proxy {dead_proxy} (from http_proxy)" in result.stderr, result.stderr
