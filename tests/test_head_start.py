"""`checksum`'s head start: archives hashed while the command line loads, the result taken
only for the very file unchanged, and nothing started for any other command line."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from hyperkvasir_cli.cli.head_start import begin, guess_archives, parse_checksum, resolve_archives
from hyperkvasir_cli.core import hash_ahead, hashing
from tests.checksum_homes import LABELED_ZIP, Home, flip_byte, make_home
from tests.cli import run_cli


@pytest.fixture
def home(tmp_path: Path, data_dir: Path) -> Iterator[Home]:
    yield make_home(data_dir, tmp_path / "manifest.yaml")
    hash_ahead._head_starts.clear()  # a failed test leaves no head start to later ones


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["checksum", "labeled-images"], ({}, ["labeled-images"])),
        (
            ["-m", "m.yaml", "checksum", "a", "b", "--json", "--data-dir=d", "-q"],
            ({"manifest": Path("m.yaml"), "data_dir": Path("d")}, ["a", "b"]),
        ),
        (
            ["checksum", "a", "--deep", "-J", "2", "-c", "c.yaml"],
            ({"config": Path("c.yaml")}, ["a"]),
        ),
        (["checksum"], None),  # every archive here: left to the command
        (["checksum", "a", "--algorithm", "md5"], None),
        (["checksum", "a", "--check", "sums.txt"], None),
        (["checksum", "a", "--quick"], None),
        (["checksum", "a", "--help"], None),
        (["checksum", "a", "--manifest"], None),
        (["extract", "a"], None),
        (["--help"], None),
        ([], None),
    ],
)
def test_only_plain_checksum_command_lines_get_a_head_start(
    argv: list[str], expected: tuple[dict[str, Path], list[str]] | None
) -> None:
    assert parse_checksum(argv) == expected


def test_the_command_takes_the_hash_begun_ahead(home: Home, config_path: Path) -> None:
    argv = ["checksum", "labeled-images", "--manifest", str(home.manifest)]
    begin(argv, os.environ)
    assert os.path.abspath(home.archive) in hash_ahead._head_starts
    result = run_cli(*argv, "--json")
    assert result.exit_code == 0, result.stderr
    assert not hash_ahead._head_starts  # taken
    (item,) = result.json()["items"]
    assert item["result"] == "ok"


def test_a_file_changed_after_the_head_start_is_read_again(home: Home) -> None:
    hash_ahead.start_hashing(home.archive)
    flip_byte(home.archive, home.archive.stat().st_size // 2)
    os.utime(home.archive, ns=(1, 1))  # whatever the clock's resolution, another mtime
    found = hashing.hash_file(home.archive)
    assert found.digests["sha256"] == hashlib.sha256(home.archive.read_bytes()).hexdigest()
    assert not hash_ahead._head_starts


def test_a_head_start_for_other_algorithms_is_not_taken(home: Home) -> None:
    hash_ahead.start_hashing(home.archive, ("sha256",))
    found = hashing.hash_file(home.archive, ("sha256", "md5"))
    assert found.digests["md5"] == hashlib.md5(home.archive.read_bytes()).hexdigest()


def test_the_console_script_checks_with_a_head_start_as_without(home: Home, tmp_path: Path) -> None:
    """The whole command as a user runs it, through the entry point that starts early."""
    env = {**os.environ, "HYPERKVASIR_CONFIG": str(tmp_path / "home" / "config.yaml")}
    argv = [
        "checksum",
        "labeled-images",
        "--manifest",
        str(home.manifest),
        "--data-dir",
        str(home.data),
    ]
    run = subprocess.run(
        [sys.executable, "-m", "hyperkvasir_cli", *argv], env=env, capture_output=True, text=True
    )
    assert run.returncode == 0, run.stderr
    assert f"archives/{LABELED_ZIP}: OK (sha256 matches the manifest)" in run.stdout
    flip_byte(home.archive, 100)
    run = subprocess.run(
        [sys.executable, "-m", "hyperkvasir_cli", *argv], env=env, capture_output=True, text=True
    )
    assert run.returncode == 5
    assert "FAILED" in run.stdout


def _both(argv: list[str]) -> tuple[list[str] | None, list[str]]:
    """The guessed archives and the ones the command's Session finds, as absolute paths."""
    parsed = parse_checksum(argv)
    assert parsed is not None
    locations, names = parsed
    guessed = guess_archives(locations, names, os.environ)
    resolved = resolve_archives(locations, names, os.environ)
    absolute = [os.path.abspath(p) for p in resolved]
    return (None if guessed is None else [os.path.abspath(p) for p in guessed]), absolute


@pytest.mark.parametrize(
    ("argv", "environment", "config"),
    [
        (["checksum", "labeled-images", "--data-dir", "rel/data"], {}, None),
        (["checksum", "labeled-images"], {"HYPERKVASIR_DATA_DIR": "env-data"}, None),
        (["checksum", "labeled-images"], {"HYPERKVASIR_ARCHIVES_DIR": "~/zips"}, None),
        (["checksum", "labeled-images"], {}, "data_dir: cfg-data\narchives_dir: ../zips\n"),
        (["checksum", "labeled-images", "-d", "opt"], {}, "data_dir: cfg-data\n"),
        (["checksum", "unlabeled-features", "segmented-images"], {}, None),  # a group
        (["checksum", "labeled-images", "--manifest", "{manifest}"], {}, None),
    ],
)
def test_the_guessed_archives_are_the_ones_the_command_checks(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    config_path: Path,
    argv: list[str],
    environment: dict[str, str],
    config: str | None,
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HOME", str(tmp_path / "user"))
    monkeypatch.delenv("HYPERKVASIR_DATA_DIR")
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    if config is not None:
        config_path.parent.mkdir(parents=True)
        config_path.write_text(config)
    manifest = tmp_path / "m.yaml"
    manifest.write_text(
        "parts:\n  - name: labeled-images\n    file: own.zip\n    urls: [http://x/own.zip]\n"
    )
    argv = [a.replace("{manifest}", str(manifest)) for a in argv]
    guessed, resolved = _both(argv)
    assert resolved
    assert guessed == resolved


@pytest.mark.parametrize(
    ("argv", "environment"),
    [
        (["checksum", "no-such-part"], {}),
        (["checksum", "labeled-images", "--manifest", "s3://bucket/m.yaml"], {}),
        (["checksum", "labeled-images"], {"HYPERKVASIR_DATA_DIR": " "}),
    ],
)
def test_no_guess_where_the_command_would_decide_otherwise(
    monkeypatch: pytest.MonkeyPatch, argv: list[str], environment: dict[str, str]
) -> None:
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    parsed = parse_checksum(argv)
    assert parsed is not None
    assert guess_archives(*parsed, os.environ) is None


def test_a_head_start_nobody_takes_is_stopped(home: Home) -> None:
    hash_ahead.start_hashing(home.archive)
    (started,) = hash_ahead._head_starts.values()
    hash_ahead.cancel_head_starts()
    assert started._process.returncode is not None
    assert not hash_ahead._head_starts
