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
