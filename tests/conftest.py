"""Every test runs with its own config file and data folder, never the user's."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from tests.http_server import LocalServer
    from tests.zips import BuiltArchive

# What the machine's environment may hold that changes where requests go or whom they
# trust. Tests about proxies or certificates set these explicitly.
NETWORK_VARIABLES = frozenset(
    spelling
    for name in ("http_proxy", "https_proxy", "all_proxy", "no_proxy", "ftp_proxy")
    for spelling in (name, name.upper())
) | {"SSL_CERT_FILE", "SSL_CERT_DIR", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"}


def config_file_of(tmp_path: Path) -> Path:
    """Where a test's config file is: the default place under its own home."""
    return tmp_path / "home" / "hyperkvasir" / "config.yaml"


@pytest.fixture(autouse=True)
def isolated_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """No HYPERKVASIR_* setting, proxy or CA bundle of the machine reaches a test.

    The config file is the default one, as for a user who names none, under the test's
    own home: XDG_CONFIG_HOME for child processes, and the default path itself for this
    one (the same on every platform). Naming it with HYPERKVASIR_CONFIG would make every
    command that only reads it say that it does not exist.
    """
    from hyperkvasir_cli.core import config

    for name in list(__import__("os").environ):
        if name.startswith("HYPERKVASIR_") or name in NETWORK_VARIABLES:
            monkeypatch.delenv(name)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "home"))
    monkeypatch.setattr(config, "default_config_path", lambda: config_file_of(tmp_path))
    monkeypatch.setenv("HYPERKVASIR_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("COLUMNS", "200")
    yield tmp_path


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"


@pytest.fixture
def config_path(tmp_path: Path) -> Path:
    return config_file_of(tmp_path)


class FakeClock:
    """Time that moves only when code sleeps: backoff is recorded, never waited for."""

    def __init__(self) -> None:
        self.now_value = __import__("datetime").datetime(
            2026, 1, 1, tzinfo=__import__("datetime").timezone.utc
        )
        self.elapsed = 0.0
        self.sleeps: list[float] = []

    def monotonic(self) -> float:
        return self.elapsed

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.elapsed += max(seconds, 0.0)

    def now(self):  # type: ignore[no-untyped-def]
        import datetime

        return self.now_value + datetime.timedelta(seconds=self.elapsed)


@pytest.fixture
def fake_clock(monkeypatch: pytest.MonkeyPatch) -> FakeClock:
    """Every command run in this test uses a clock that never really waits."""
    from hyperkvasir_cli.cli import runtime

    clock = FakeClock()
    monkeypatch.setattr(runtime, "clock_factory", lambda: clock)
    return clock


@pytest.fixture
def http_server() -> Iterator[object]:
    from tests.http_server import LocalServer

    server = LocalServer().start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def labeled_zip(tmp_path_factory: pytest.TempPathFactory) -> BuiltArchive:
    """The labeled images' zip, two images a class (a test module may make its own)."""
    from tests.downloads import LABELED_ZIP
    from tests.zips import build_labeled_images

    return build_labeled_images(tmp_path_factory.mktemp("zips") / LABELED_ZIP, per_class=2)


@pytest.fixture
def labeled_served(
    labeled_zip: BuiltArchive,
    tmp_path: Path,
    http_server: LocalServer,
    fake_clock: FakeClock,
    monkeypatch: pytest.MonkeyPatch,
) -> LocalServer:
    """The labeled zip on the local server, and a manifest naming it in use; commands run
    on the fake clock."""
    from tests.downloads import LABELED_ZIP, use_labeled_manifest

    content = labeled_zip.path.read_bytes()
    http_server.put(LABELED_ZIP, content)
    use_labeled_manifest(tmp_path, http_server.url(LABELED_ZIP), content, monkeypatch)
    return http_server


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str]:
    """A self-signed certificate for 127.0.0.1 and its key (paths), made by openssl."""
    import shutil
    import subprocess

    if shutil.which("openssl") is None:
        pytest.skip("openssl is needed to make a test certificate")
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        [
            *("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2"),
            *("-keyout", str(key), "-out", str(cert), "-subj", "/CN=127.0.0.1"),
            *("-addext", "subjectAltName=IP:127.0.0.1"),
        ],
        check=True,
        capture_output=True,
    )
    return str(cert), str(key)


@pytest.fixture
def https_server(certificate: tuple[str, str]) -> Iterator[object]:
    from tests.http_server import LocalServer

    server = LocalServer(tls=certificate).start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def moto_server() -> Iterator[object]:
    from tests.s3_server import MotoServer

    server = MotoServer().start()
    yield server
    server.stop()


@pytest.fixture
def s3_bucket(moto_server: object, monkeypatch: pytest.MonkeyPatch) -> Iterator[object]:
    """A fresh bucket on moto's server; the environment points at it the standard way."""
    from tests.s3_server import MotoServer, new_bucket

    assert isinstance(moto_server, MotoServer)
    for name in list(__import__("os").environ):
        if name.startswith("AWS_"):
            monkeypatch.delenv(name)
    for name, value in moto_server.environment().items():
        monkeypatch.setenv(name, value)
    yield new_bucket(moto_server)
    moto_server.gate.release()
