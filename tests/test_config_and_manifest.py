"""The config file and the manifest: precedence, validation, clear errors, atomic writes."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from hyperkvasir_cli.core.config import ConfigStore, resolve_settings
from hyperkvasir_cli.core.errors import ConfigError
from hyperkvasir_cli.core.manifest import load_manifest
from tests.cli import run_cli
from tests.downloads import record_store, records_of


def test_bundled_manifest_lists_every_part_with_published_counts() -> None:
    manifest = load_manifest()
    assert manifest.names == [
        "labeled-images",
        "segmented-images",
        "unlabeled-images",
        "labeled-videos",
        "full",
        "official-splits",
        "official-splits-5fold",
        "video-metadata",
        "image-metadata",
        "unlabeled-features-arff",
        "unlabeled-clusters",
        "predictions-densenet161-split0",
        "predictions-densenet161-split1",
        "predictions-averaged-split0",
        "predictions-averaged-split1",
        "predictions-mlp-split0",
        "predictions-mlp-split1",
    ]
    assert manifest.group_names == ["unlabeled-features", "unlabeled-predictions"]
    labeled = manifest.part("labeled-images")
    assert labeled.size == 3_928_814_344
    assert len(labeled.expected.classes) == 23
    assert sum(labeled.expected.classes.values()) == labeled.expected.files == 10_662
    assert labeled.urls[0].startswith("https://datasets.simula.no/downloads/hyper-kvasir/")
    assert manifest.part("full").contains == [
        "labeled-images",
        "segmented-images",
        "unlabeled-images",
        "labeled-videos",
    ]
    assert manifest.part("official-splits").archive_kind == "csv"


def write_manifest(path: Path, part: dict[str, object]) -> Path:
    path.write_text(yaml.safe_dump({"dataset": "hyper-kvasir", "parts": [part]}))
    return path


@pytest.mark.parametrize(
    ("part", "named"),
    [
        ({"name": "x", "file": "x.zip", "urls": ["ftp://h/x.zip"]}, "urls"),
        ({"name": "x", "file": "x.zip", "urls": ["http://h/x.zip"], "size": "big"}, "size"),
        ({"name": "x", "file": "x.zip", "urls": ["http://h/x.zip"], "colour": 1}, "colour"),
        ({"name": "x", "file": "x.zip", "urls": ["http://h/x.zip"], "sha256": "abc"}, "sha256"),
        ({"name": "x", "file": "../x.zip", "urls": ["http://h/x.zip"]}, "file"),
        ({"name": "x", "urls": ["http://h/x.zip"]}, "file"),
    ],
)
def test_bad_manifest_exits_3_naming_key_and_file(
    tmp_path: Path, part: dict[str, object], named: str
) -> None:
    path = write_manifest(tmp_path / "m.yaml", part)
    result = run_cli("parts", "--manifest", str(path))
    assert result.exit_code == 3
    first = result.stderr.splitlines()[0]
    assert first.startswith("error: manifest ")
    assert str(path) in first and named in first
    assert "Traceback" not in result.stderr


def test_manifest_from_environment_replaces_bundled(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write_manifest(
        tmp_path / "m.yaml", {"name": "tiny", "file": "tiny.zip", "urls": ["http://h/t.zip"]}
    )
    monkeypatch.setenv("HYPERKVASIR_MANIFEST", str(path))
    result = run_cli("parts", "--json")
    assert result.exit_code == 0
    assert [p["name"] for p in result.json()["parts"]] == ["tiny"]


def test_unknown_part_is_a_usage_error_naming_the_valid_ones() -> None:
    from hyperkvasir_cli.core.errors import ExitCode, UsageError

    with pytest.raises(UsageError) as info:
        load_manifest().part("labelled")
    assert info.value.exit_code is ExitCode.USAGE
    assert "labeled-images" in info.value.message and "official-splits" in info.value.message


def test_broken_config_yaml_exits_3_without_traceback(config_path: Path) -> None:
    config_path.parent.mkdir(parents=True)
    config_path.write_text("data_dir: [unclosed\n")
    result = run_cli("parts")
    assert result.exit_code == 3
    assert str(config_path) in result.stderr
    assert "not valid YAML" in result.stderr
    assert "Traceback" not in result.stderr


def test_config_wrong_type_names_the_key(config_path: Path) -> None:
    config_path.parent.mkdir(parents=True)
    config_path.write_text("connections: many\n")
    result = run_cli("parts")
    assert result.exit_code == 3
    assert "connections" in result.stderr and str(config_path) in result.stderr


def test_unknown_config_key_is_an_error(config_path: Path) -> None:
    config_path.parent.mkdir(parents=True)
    config_path.write_text("conections: 3\n")
    result = run_cli("config", "show")
    assert result.exit_code == 3
    assert "conections: unknown key" in result.stderr


def test_precedence_option_then_environment_then_file_then_default(tmp_path: Path) -> None:
    file_settings = {"connections": 2, "retries": 3, "stall_timeout": 5}
    environ = {"HYPERKVASIR_CONNECTIONS": "6", "HYPERKVASIR_RETRIES": "7"}
    settings, sources = resolve_settings(
        file_settings, environ, {"connections": 9}, tmp_path / "c.yaml"
    )
    assert settings.connections == 9 and sources["connections"] == "option"
    assert settings.retries == 7 and sources["retries"] == "environment HYPERKVASIR_RETRIES"
    assert settings.stall_timeout == 5 and sources["stall_timeout"].startswith("config ")
    assert settings.wait_lock == 0 and sources["wait_lock"] == "default"


def test_bad_environment_value_names_the_variable(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        resolve_settings({}, {"HYPERKVASIR_CONNECTIONS": "zero"}, {}, tmp_path / "c.yaml")
    assert "HYPERKVASIR_CONNECTIONS" in info.value.message


def test_config_set_show_and_path(config_path: Path) -> None:
    assert run_cli("config", "path").stdout.strip() == str(config_path)
    assert run_cli("config", "set", "connections", "8").exit_code == 0
    assert run_cli("config", "set", "mirrors", "http://a/x/,http://b/y/").exit_code == 0
    shown = run_cli("config", "show", "--json").json()
    assert shown["settings"]["connections"] == {
        "value": 8,
        "source": f"config {config_path}",
    }
    assert shown["settings"]["mirrors"]["value"] == ["http://a/x/", "http://b/y/"]
    bad = run_cli("config", "set", "connections", "0")
    assert bad.exit_code == 2  # typed on the command line: a usage error
    assert yaml.safe_load(config_path.read_text())["connections"] == 8  # untouched
    assert run_cli("config", "set", "colour", "red").exit_code == 2


def test_config_init_refuses_to_overwrite(config_path: Path) -> None:
    assert run_cli("config", "init").exit_code == 0
    assert config_path.exists()
    assert run_cli("config", "init").exit_code == 2
    assert run_cli("config", "init", "--force").exit_code == 0


def test_part_records_survive_a_rewrite(config_path: Path, data_dir: Path) -> None:
    store = ConfigStore(config_path)
    store.set_setting("retries", "4")
    records = record_store(data_dir)
    records.update_part("segmented-images", size=10, sha256="a" * 64, sha256_source="manifest")
    records.update_part("segmented-images", etag='"x"')
    store.set_setting("retries", "5")
    assert store.read().settings["retries"] == 5
    record = records.read()["segmented-images"]
    assert (record.size, record.etag, record.sha256_source) == (10, '"x"', "manifest")
    # The records file and its lock file, which stays (as the data folder's lock does).
    assert sorted(p.name for p in data_dir.iterdir()) == [
        ".hyperkvasir-records.yaml",
        ".hyperkvasir-records.yaml.lock",
    ]


def test_global_options_work_before_and_after_the_command(tmp_path: Path) -> None:
    before = run_cli("--data-dir", str(tmp_path / "a"), "parts", "--json").json()
    after = run_cli("parts", "--json", "--data-dir", str(tmp_path / "b")).json()
    assert before["data_dir"] == str(tmp_path / "a")
    assert after["data_dir"] == str(tmp_path / "b")


def test_config_init_force_keeps_old_part_records_and_repairs_a_broken_file(
    config_path: Path,
) -> None:
    config_path.parent.mkdir(parents=True)
    config_path.write_text(OLD_CONFIG)
    assert run_cli("config", "init", "--force").exit_code == 0
    assert ConfigStore(config_path).read().parts["segmented-images"].size == 10
    config_path.write_text("data_dir: [broken\n")
    repaired = run_cli("config", "init", "--force")
    assert repaired.exit_code == 0
    assert "dropped" in repaired.stderr
    assert ConfigStore(config_path).read().parts == {}


OLD_CONFIG = """\
parts:
  segmented-images:
    archive: /elsewhere/archives/hyper-kvasir-segmented-images.zip
    size: 10
"""


def test_timestamps_are_utc_seconds_with_z(data_dir: Path) -> None:
    from datetime import datetime, timezone

    store = record_store(data_dir)
    store.update_part(
        "labeled-images", verified_at=datetime(2026, 5, 1, 12, 0, 0, 123456, tzinfo=timezone.utc)
    )
    assert "verified_at: '2026-05-01T12:00:00Z'" in store.path.read_text()


def test_a_bad_value_on_the_command_line_is_a_usage_error_naming_the_option(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    rate = run_cli("download", "official-splits", "--limit-rate", "5X", "--dry-run")
    assert rate.exit_code == 2 and "option --limit-rate" in rate.stderr
    mirror = run_cli("download", "official-splits", "--mirror", "ftp://x/", "--dry-run")
    assert mirror.exit_code == 2 and "option --mirror" in mirror.stderr
    assert "bug" not in mirror.stderr
    # The same value from the environment is a configuration error (exit 3).
    monkeypatch.setenv("HYPERKVASIR_LIMIT_RATE", "5X")
    assert run_cli("download", "official-splits", "--dry-run").exit_code == 3


def test_relative_paths_mean_the_same_from_any_folder(
    config_path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A cron job runs in another folder than the shell that set things up."""
    monkeypatch.delenv("HYPERKVASIR_DATA_DIR")
    config_path.parent.mkdir(parents=True, exist_ok=True)
    config_path.write_text("data_dir: rel/data\n")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    shown = run_cli("config", "show", "--json").json()
    assert shown["settings"]["data_dir"]["value"] == str(config_path.parent / "rel" / "data")
    # `config set` stores the folder the user meant: relative to where it was typed.
    assert run_cli("config", "set", "data_dir", "typed/here").exit_code == 0
    stored = yaml.safe_load(config_path.read_text())["data_dir"]
    assert stored == str(elsewhere / "typed" / "here")


def test_a_run_that_waits_for_the_lock_says_for_whom_and_then_why_it_gave_up(
    tmp_path: Path,
) -> None:
    from hyperkvasir_cli.core.errors import LockedError
    from hyperkvasir_cli.core.lock import data_lock

    lock = tmp_path / ".hyperkvasir.lock"
    heard: list[str] = []
    with data_lock(lock), pytest.raises(LockedError) as refused:  # noqa: SIM117
        with data_lock(lock, wait_seconds=0.01, on_wait=heard.append):
            pass
    assert len(heard) == 1 and heard[0].startswith("waiting up to 0.01 s for the lock held by")
    assert (
        "still locked" in refused.value.message and "after waiting 0.01 s" in refused.value.message
    )
    assert "--wait-lock SECONDS to wait" not in (refused.value.hint or "")


def test_config_unset_brings_the_default_back(config_path: Path) -> None:
    assert run_cli("config", "set", "limit_rate", "5M").exit_code == 0
    removed = run_cli("config", "unset", "limit_rate")
    assert removed.exit_code == 0 and "limit_rate removed" in removed.stderr
    shown = run_cli("config", "show", "--json").json()["settings"]["limit_rate"]
    assert shown["value"] is None and shown["source"] == "default"
    assert "is not set" in run_cli("config", "unset", "limit_rate").stderr
    assert run_cli("config", "unset", "nope").exit_code == 2


def test_values_typed_on_the_command_line_are_usage_errors(config_path: Path) -> None:
    assert run_cli("config", "set", "connections", "40").exit_code == 2
    missing = run_cli("config", "set", "ca_bundle", "/no/such/bundle.pem")
    assert missing.exit_code == 2 and "is not a file" in missing.stderr
    option = run_cli("download", "official-splits", "--ca-bundle", "/no/such.pem", "--dry-run")
    assert option.exit_code == 2 and "option --ca-bundle" in option.stderr


def test_two_runs_writing_one_data_folders_records_keep_both(tmp_path: Path) -> None:
    """Two runs, one data folder (one waiting for the data lock, or `checksum` beside a
    download): each run's records survive the other's writes."""
    import threading

    folder = tmp_path / "shared"

    def record(prefix: str) -> None:
        store = record_store(folder)  # each run has its own store, as two processes would
        for index in range(15):
            store.update_part(f"{prefix}{index}", size=index)

    runs = [threading.Thread(target=record, args=(prefix,)) for prefix in ("a", "b")]
    for run in runs:
        run.start()
    for run in runs:
        run.join()
    parts = records_of(folder)
    assert sorted(parts) == sorted(f"{p}{i}" for p in "ab" for i in range(15))
