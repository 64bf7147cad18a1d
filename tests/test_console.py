"""Output for people and for logs: bars only on a terminal, throttled plain lines otherwise."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
import typer

from hyperkvasir_cli.cli.console import Console, PlainProgress
from hyperkvasir_cli.cli.runtime import run_guarded
from hyperkvasir_cli.core.errors import IntegrityError
from hyperkvasir_cli.core.progress import SilentProgress
from hyperkvasir_cli.core.worker_threads import SharedProgress
from tests.cli import run_cli
from tests.conftest import FakeClock


def test_plain_progress_writes_at_most_one_line_every_few_seconds(
    capsys: pytest.CaptureFixture[str],
) -> None:
    clock = FakeClock()
    console = Console(stderr_is_tty=False, clock=clock)
    progress = console.progress()
    assert isinstance(progress, PlainProgress)
    progress.start("file.zip", 1000 * 1024)
    for _ in range(100):  # 100 chunks over 10 fake seconds
        clock.elapsed += 0.1
        progress.advance(10 * 1024)
    progress.finish()
    err = capsys.readouterr().err
    lines = err.splitlines()
    assert 3 <= len(lines) <= 5  # start, one every 5 s, end
    assert all(line[:4].isdigit() and line[19] == "Z" for line in lines)  # timestamped
    assert "\r" not in err
    assert "100.0%" in lines[-1]


def test_quiet_reports_nothing_but_errors(capsys: pytest.CaptureFixture[str]) -> None:
    console = Console(quiet=True, stderr_is_tty=False)
    assert isinstance(console.progress(), SilentProgress)
    console.info("hello")
    console.error(IntegrityError("checksum mismatch: expected a, found b", hint="fetch again"))
    assert capsys.readouterr().err == (
        "error: checksum mismatch: expected a, found b\nhint: fetch again\n"
    )


def test_small_file_counts_stay_silent_in_logs(capsys: pytest.CaptureFixture[str]) -> None:
    progress = Console(stderr_is_tty=False, clock=FakeClock()).progress("files")
    progress.start("reading headers", 20)
    progress.advance(20)
    progress.finish()
    assert capsys.readouterr().err == ""


def test_a_phase_joining_a_running_task_logs_no_second_start(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """checksum --extracted hashes the archive and checks the tree at once: one task, one
    start line, and the joined total in the lines that follow."""
    clock = FakeClock()
    shared = SharedProgress(Console(stderr_is_tty=False, clock=clock).progress(), "checking x")
    shared.start("hashing", 1000)
    clock.elapsed += 1
    shared.advance(100)
    shared.start("tree", 3000, completed=500)
    for _ in range(10):
        clock.elapsed += 1
        shared.advance(340)
    shared.finish()
    shared.finish()
    lines = capsys.readouterr().err.splitlines()
    assert [line for line in lines if "started" in line] == [lines[0]]
    assert lines[0].endswith("checking x: started, 1000 B in all")
    # 3,500 B processed in 11 s: the 500 B the tree check found done are not in the rate.
    assert lines[-1].endswith("checking x: 100.0% 3.9 KiB of 3.9 KiB, 318 B/s, ETA 0s")


@pytest.mark.parametrize(
    "args",
    [
        ["parts", "--json"],
        ["config", "show", "--json"],
        ["download", "labeled-images", "--json"],
        ["resume", "--json"],
        ["checksum", "--json"],
        ["extract", "labeled-images", "--json"],
        ["stats", "labeled-images", "--json"],
        ["split", "--json"],
        ["sync", "--json"],
    ],
    ids=lambda args: args[0] if args[0] != "config" else "config-show",
)
def test_json_gets_a_document_on_stdout_even_when_the_command_fails(
    config_path: Path, args: list[str]
) -> None:
    """A CI step reading stdout gets one JSON document, whatever stopped the command."""
    config_path.parent.mkdir(parents=True, exist_ok=True)
    config_path.write_text("data_dir: [broken\n")
    result = run_cli(*args)
    assert result.exit_code == 3
    document = result.json()
    assert document["ok"] is False
    assert document["error"]["exit_code"] == 3
    assert str(config_path) in document["error"]["message"]
    assert "error:" in result.stderr  # the log keeps its error line too


def test_a_usage_error_under_json_is_a_document_too() -> None:
    result = run_cli("extract", "no-such-part", "--json")
    assert result.exit_code == 2
    error = result.json()["error"]
    assert error["exit_code"] == 2 and "labeled-images" in error["message"]
    assert error["hint"]


def test_a_mistyped_option_is_one_error_line_and_a_json_document() -> None:
    result = run_cli("split", "--seed", "x", "--json")
    assert result.exit_code == 2
    assert result.stderr.splitlines()[0].startswith("error: Invalid value for '--seed'")
    assert "hint: see `hyperkvasir split --help`" in result.stderr
    assert "╭" not in result.stderr  # no boxed usage text
    error = result.json()["error"]
    assert error["exit_code"] == 2 and "--seed" in error["message"]


def test_option_errors_drop_the_validation_library_prefix() -> None:
    result = run_cli("stats", "--format", "xml")
    assert result.exit_code == 2
    assert "Value error" not in result.stderr
    assert "'xml' is not one of" in result.stderr
    assert result.stdout == ""


def _guarded(exc: BaseException, *, json_output: bool = False) -> int:
    def action() -> None:
        raise exc

    with pytest.raises(typer.Exit) as stopped:
        run_guarded(Console(stderr_is_tty=False), action, json_output=json_output)
    return stopped.value.exit_code


def test_a_closed_pipe_stops_quietly_with_the_sigpipe_status(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("hyperkvasir_cli.cli.runtime.quiet_broken_pipe", lambda: 141)
    assert _guarded(BrokenPipeError(32, "Broken pipe")) == 141
    assert capsys.readouterr().err == ""


def test_a_place_the_system_refuses_is_a_clear_error_not_a_bug(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    refused = OSError(30, "Read-only file system", str(tmp_path / "splits"))
    assert _guarded(refused, json_output=True) == 2
    out, err = capsys.readouterr()
    assert err.startswith(f"error: cannot use {tmp_path / 'splits'}: Read-only file system")
    assert "bug" not in err
    assert json.loads(out)["error"]["exit_code"] == 2
    assert _guarded(OSError(28, "No space left on device", "x")) == 7


def test_an_os_error_naming_no_file_is_still_reported_as_a_bug(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert _guarded(OSError(22, "Invalid argument")) == 1
    assert "this is a bug" in capsys.readouterr().err


def test_a_piped_table_keeps_long_paths_whole(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from rich.table import Table

    monkeypatch.delenv("COLUMNS", raising=False)
    long_path = "/scratch/" + "very-long-folder-name/" * 8 + "hyper-kvasir-labeled-images.zip"
    table = Table("part", "path")
    table.add_row("labeled-images", long_path)
    Console(stderr_is_tty=False).render(table)
    out = capsys.readouterr().out
    assert long_path in out and "…" not in out


@pytest.mark.parametrize(
    "command",
    [
        [],
        ["parts"],
        ["download"],
        ["resume"],
        ["checksum"],
        ["extract"],
        ["stats"],
        ["split"],
        ["sync"],
        ["config"],
        ["config", "show"],
        ["config", "set"],
        ["config", "init"],
    ],
    ids=lambda command: " ".join(command) or "hyperkvasir",
)
def test_help_speaks_of_values_not_python_types(command: list[str]) -> None:
    result = run_cli(*command, "--help")
    assert result.exit_code == 0
    for python_type in ("<bool>", "<list[str]>", "<path>", "<str>", "<int>", "<float>"):
        assert python_type not in result.stdout, python_type


@pytest.mark.parametrize("group", [[], ["config"]], ids=["hyperkvasir", "config"])
def test_the_list_of_commands_keeps_each_summary_whole(
    group: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Wide enough for every summary on one line, none is cut where its docstring wraps."""
    from hyperkvasir_cli.cli.app import app

    monkeypatch.setenv("COLUMNS", "500")
    result = run_cli(*group, "--help")
    assert result.exit_code == 0
    rows = [line.strip("│ ").split(None, 1) for line in result.stdout.splitlines()]
    shown = {row[0]: row[1].strip(" │") for row in rows if len(row) == 2}
    root = typer.main.get_command(app)
    parent = root.commands[group[0]] if group else root  # type: ignore[attr-defined]
    for name, command in parent.commands.items():
        summary = " ".join((command.help or "").split("\n\n")[0].split())
        assert shown[name] == summary, name


class _ClosedPipe(io.StringIO):
    def write(self, text: str) -> int:
        raise BrokenPipeError(32, "Broken pipe")

    def fileno(self) -> int:
        raise io.UnsupportedOperation


def test_a_table_into_a_closed_pipe_is_a_broken_pipe_not_rich_exiting_1(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from rich.table import Table

    monkeypatch.setattr("sys.stdout", _ClosedPipe())
    table = Table("part")
    table.add_row("labeled-images")
    with pytest.raises(BrokenPipeError):
        Console(stderr_is_tty=False).render(table)


def test_a_log_line_says_100_percent_only_when_every_byte_is_done(
    capsys: pytest.CaptureFixture[str],
) -> None:
    clock = FakeClock()
    progress = Console(stderr_is_tty=False, clock=clock).progress()
    progress.start("file.zip", 100_000)
    clock.elapsed += 6
    progress.advance(99_960)  # 99.96%: logged as 99.9%, not 100.0%
    clock.elapsed += 6
    progress.advance(40)
    progress.finish()
    lines = capsys.readouterr().err.splitlines()
    assert sum("100.0%" in line for line in lines) == 1 and "100.0%" in lines[-1]
    assert any("99.9%" in line for line in lines)
