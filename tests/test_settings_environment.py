"""Settings given but empty, and config files named but missing: what a cron job with an
unset ``$SCRATCH`` or a typo in ``--config`` gets told, instead of silently falling back
to the home folder and the defaults."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.cli import run_cli
from tests.conftest import FakeClock
from tests.downloads import archive, part_entry, write_manifest, zip_bytes
from tests.http_server import LocalServer
from tests.same import assert_same_bytes

FILE = "hyper-kvasir-segmented-images.zip"
PART = "segmented-images"


@pytest.mark.parametrize(
    "variable",
    [
        "HYPERKVASIR_DATA_DIR",
        "HYPERKVASIR_CONFIG",
        "HYPERKVASIR_MANIFEST",
        "HYPERKVASIR_CONNECTIONS",
        "HYPERKVASIR_ARCHIVES_DIR",
    ],
)
@pytest.mark.parametrize("command", [["parts"], ["download", PART], ["sync"]])
def test_a_setting_given_but_empty_is_exit_3_naming_the_variable(
    variable: str,
    command: list[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg-data"))  # the fallback's place
    monkeypatch.setenv(variable, "")
    result = run_cli(*command)
    assert result.exit_code == 3, result.stderr
    error, hint = result.stderr.splitlines()[-2:]
    assert error == f"error: environment variable {variable} is set but empty"
    assert f"unset {variable}" in hint
    assert not (tmp_path / "xdg-data").exists()  # nothing went to the home folder


@pytest.mark.parametrize(
    ("variable", "without"),
    [
        ("HYPERKVASIR_CONFIG", "to use the default config file"),
        ("HYPERKVASIR_MANIFEST", "to use the bundled manifest"),
        ("HYPERKVASIR_DATA_DIR", "to use the config file or the default"),
    ],
)
def test_the_hint_says_what_applies_without_the_variable(
    variable: str, without: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(variable, "")
    hint = run_cli("parts").stderr.splitlines()[-1]
    assert hint == f"hint: give it a value, or unset it (`unset {variable}`) {without}"


def test_a_blank_data_dir_is_empty_too(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HYPERKVASIR_DATA_DIR", "  ")
    assert run_cli("parts").exit_code == 3


@pytest.mark.parametrize("how", ["--config", "HYPERKVASIR_CONFIG"])
def test_a_named_config_file_that_does_not_exist_is_said_by_readers(
    how: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    missing = tmp_path / "typo" / "confg.yaml"
    if how == "--config":
        result = run_cli("parts", "--config", str(missing))
    else:
        monkeypatch.setenv("HYPERKVASIR_CONFIG", str(missing))
        result = run_cli("parts", "--json")
    assert result.exit_code == 0, result.stderr
    (said,) = [line for line in result.stderr.splitlines() if "warning:" in line]
    assert f"the config file {missing} (named by {how}) does not exist" in said
    assert not missing.exists()


def test_the_default_config_missing_is_not_worth_a_word() -> None:
    result = run_cli("parts")
    assert result.exit_code == 0 and "warning" not in result.stderr


def test_config_set_creates_the_named_config_without_a_warning(tmp_path: Path) -> None:
    named = tmp_path / "lab" / "config.yaml"
    result = run_cli("config", "set", "connections", "2", "--config", str(named))
    assert result.exit_code == 0, result.stderr
    assert named.exists() and "does not exist" not in result.stderr


def test_a_download_only_reads_the_named_config_and_says_it_is_missing(
    tmp_path: Path, http_server: LocalServer, fake_clock: FakeClock, data_dir: Path
) -> None:
    content = zip_bytes(64 * 1024, seed=41)
    http_server.put(FILE, content)
    manifest = write_manifest(
        tmp_path / "m.yaml", [part_entry(PART, FILE, [http_server.url(FILE)], content)]
    )
    named = tmp_path / "lab" / "config.yaml"
    result = run_cli("download", PART, "--manifest", str(manifest), "--config", str(named))
    assert result.exit_code == 0, result.stderr
    assert not named.exists() and f"the config file {named}" in result.stderr
    assert_same_bytes(archive(data_dir, FILE), content)  # recorded in the data folder


def test_no_proxy_or_setting_of_the_machine_reaches_a_test() -> None:
    """The suite passes on a cluster whose environment holds proxies and settings: the
    autouse fixture leaves only the data folder it chose."""
    import os

    from tests.conftest import NETWORK_VARIABLES

    leaked = {name for name in os.environ if name in NETWORK_VARIABLES}
    settings = {name for name in os.environ if name.startswith("HYPERKVASIR_")}
    assert leaked == set() and settings == {"HYPERKVASIR_DATA_DIR"}
