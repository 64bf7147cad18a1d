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


# What the checksum path may have loaded when the hash begins: the standard library, YAML
# (the guess reads the manifest) and the few modules of the head start. The command line
# (typer), the models (pydantic) and the rest load while the hash runs.
LOADED_LATER = (
    "typer",
    "click",
    "rich",
    "pydantic",
    "httpx",
    "subprocess",
    "hyperkvasir_cli.cli.app",
    "hyperkvasir_cli.cli.runtime",
    "hyperkvasir_cli.core.config",
    "hyperkvasir_cli.core.manifest",
    "hyperkvasir_cli.core.hashing",
    "hyperkvasir_cli.ops.session",
)

BEGIN_PROBE = """
import json, os, sys
from hyperkvasir_cli.cli.head_start import begin
from hyperkvasir_cli.core import hash_ahead
begin(sys.argv[1:], os.environ)
(started,) = hash_ahead._head_starts.values()
print(json.dumps({
    "path": str(started.path),
    "worker": type(started._process).__name__,
    "loaded": [m for m in json.loads(os.environ["LATER"]) if m in sys.modules],
}))
"""


def test_the_hash_begins_before_the_command_line_loads(home: Home, tmp_path: Path) -> None:
    """The entry point's first step, as it runs in a fresh process: the archive's hash
    has started (in a fork on Linux) while none of the heavy libraries is loaded yet."""
    import json

    env = {
        **os.environ,
        "HYPERKVASIR_CONFIG": str(tmp_path / "home" / "config.yaml"),
        "LATER": json.dumps(LOADED_LATER),
    }
    argv = ["checksum", "labeled-images", "--json", "-m", str(home.manifest), "-d", str(home.data)]
    run = subprocess.run(
        [sys.executable, "-c", BEGIN_PROBE, *argv],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    found = json.loads(run.stdout)
    assert found["path"] == os.path.abspath(home.archive)
    assert found["loaded"] == []
    if sys.platform.startswith("linux"):
        assert found["worker"] == "_ForkedWorker"


FORK_PROBE = """
import json, os, sys
from pathlib import Path
from hyperkvasir_cli.core import hash_ahead
fifo = Path(sys.argv[1])
kept = os.open(sys.argv[2], os.O_WRONLY | os.O_CREAT)  # a file the parent holds, a lock say
hash_ahead.start_hashing(fifo)
(started,) = hash_ahead._head_starts.values()
pid = started._process.pid
writer = os.open(fifo, os.O_WRONLY)  # returns once the child opened it: set up by then
fds = {int(fd): os.readlink(f"/proc/{pid}/fd/{fd}") for fd in os.listdir(f"/proc/{pid}/fd")}
own_session = os.getsid(pid) != os.getsid(0)
os.close(writer)
hash_ahead.cancel_head_starts()
print(json.dumps({"fds": fds, "own_session": own_session, "ended": started._process.poll()}))
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the fork is Linux's")
def test_the_forked_hash_holds_none_of_the_programs_files(tmp_path: Path) -> None:
    """The fork keeps only its report pipe and the file it hashes (stdin, stdout and
    stderr are /dev/null: a pipe the user reads ends with the command, not with the
    hash), in a session of its own (Ctrl-C is the command's), and is collected."""
    import json

    fifo = tmp_path / "archive.zip"
    os.mkfifo(fifo)
    run = subprocess.run(
        [sys.executable, "-c", FORK_PROBE, str(fifo), str(tmp_path / "held")],
        capture_output=True,
        text=True,
        check=True,
    )
    found = json.loads(run.stdout)
    fds = {int(fd): target for fd, target in found["fds"].items()}
    assert [fds[fd] for fd in (0, 1, 2)] == [os.devnull] * 3
    assert fds[3].startswith("pipe:")
    assert set(fds) - {0, 1, 2, 3} == {4} and fds[4] == str(fifo)
    assert found["own_session"]
    assert found["ended"] is not None


def test_no_fork_while_another_thread_runs() -> None:
    """A fork copies only the thread that calls it: with another thread (which may hold
    a lock) the worker is a new interpreter instead."""
    import threading

    stop = threading.Event()
    other = threading.Thread(target=stop.wait)
    other.start()
    try:
        assert not hash_ahead._can_fork()
    finally:
        stop.set()
        other.join()


def test_the_console_script_freezes_its_objects_on_the_way_out(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """However the command ends (always SystemExit), the collector is told to leave what
    it loaded alone at exit (see entry.main)."""
    import gc

    from hyperkvasir_cli.cli import entry

    frozen: list[bool] = []
    monkeypatch.setattr(gc, "freeze", lambda: frozen.append(True))
    monkeypatch.setattr(sys, "argv", ["hyperkvasir", "--version"])
    with pytest.raises(SystemExit):
        entry.main()
    assert frozen == [True]
