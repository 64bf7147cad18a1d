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

from hyperkvasir_cli.cli.head_start import begin, parse_checksum
from hyperkvasir_cli.core import hashing
from tests.checksum_homes import LABELED_ZIP, Home, flip_byte, make_home
from tests.cli import run_cli


@pytest.fixture
def home(tmp_path: Path, data_dir: Path) -> Iterator[Home]:
    yield make_home(data_dir, tmp_path / "manifest.yaml")
    hashing._head_starts.clear()  # a failed test leaves no head start to later ones


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
    assert os.path.abspath(home.archive) in hashing._head_starts
    result = run_cli(*argv, "--json")
    assert result.exit_code == 0, result.stderr
    assert not hashing._head_starts  # taken
    (item,) = result.json()["items"]
    assert item["result"] == "ok"


def test_a_file_changed_after_the_head_start_is_read_again(home: Home) -> None:
    hashing.start_hashing(home.archive)
    flip_byte(home.archive, home.archive.stat().st_size // 2)
    os.utime(home.archive, ns=(1, 1))  # whatever the clock's resolution, another mtime
    found = hashing.hash_file(home.archive)
    assert found.digests["sha256"] == hashlib.sha256(home.archive.read_bytes()).hexdigest()
    assert not hashing._head_starts


def test_a_head_start_for_other_algorithms_is_not_taken(home: Home) -> None:
    hashing.start_hashing(home.archive, ("sha256",))
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
