"""Every test runs with its own config file and data folder, never the user's."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def isolated_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    for name in list(__import__("os").environ):
        if name.startswith("HYPERKVASIR_"):
            monkeypatch.delenv(name)
    home = tmp_path / "home"
    monkeypatch.setenv("HYPERKVASIR_CONFIG", str(home / "config.yaml"))
    monkeypatch.setenv("HYPERKVASIR_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("COLUMNS", "200")
    yield tmp_path


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"


@pytest.fixture
def config_path(tmp_path: Path) -> Path:
    return tmp_path / "home" / "config.yaml"


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


@pytest.fixture(scope="session")
def moto_server() -> Iterator[object]:
    from tests.s3_server import MotoServer

    server = MotoServer().start()
    yield server
    server.stop()


@pytest.fixture
def s3_bucket(moto_server: object, monkeypatch: pytest.MonkeyPatch) -> object:
    """A fresh bucket on moto's server; the environment points at it the standard way."""
    from tests.s3_server import MotoServer, new_bucket

    assert isinstance(moto_server, MotoServer)
    for name in list(__import__("os").environ):
        if name.startswith("AWS_"):
            monkeypatch.delenv(name)
    for name, value in moto_server.environment().items():
        monkeypatch.setenv(name, value)
    return new_bucket(moto_server)
