"""The README's examples are what the program does.

Every ```console block is a transcript generated from real runs and must be exactly what
the program prints now (tests/readme_transcripts.py: how they are run and normalised;
`python -m tests.readme_transcripts --write` regenerates them). The blocks after
`<!-- tested: ci -->` (a CI workflow) and `<!-- tested: cron -->` (a cron wrapper) run
their `hyperkvasir` commands too, each in a fresh folder, against the same small copy of
the dataset (tests/small_copy.py) on the test server.
"""

from __future__ import annotations

import json
import os
import re
import shlex
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from tests.cli import Result, run_cli
from tests.conftest import FakeClock
from tests.http_server import LocalServer
from tests.readme_transcripts import REGENERATE, console_blocks, parse, transcribe
from tests.small_copy import serve_small_copy

README = Path(__file__).resolve().parent.parent / "README.md"
FENCE = re.compile(r"^```(?P<info>[^\n`]*)\n(?P<body>.*?)^```[ \t]*$", re.M | re.S)
MARKER = re.compile(r"<!--\s*tested:\s*(?P<name>[\w-]+)\s*-->\s*$")
EXIT_COMMENT = re.compile(r"#\s*exit\s+(?P<code>\d+)\b")
REDIRECT = re.compile(r"^\d*>")
# Commands whose --json output the project promises parses (the list).
JSON_COMMANDS = ("parts", "download", "checksum", "stats", "split", "sync")


# Reading the README -------------------------------------------------------------------------


@dataclass(frozen=True)
class Example:
    """One `hyperkvasir ...` command of the CI or cron example."""

    line: int
    argv: list[str]
    exit_code: int = 0
    stdout_to: str | None = None

    def __str__(self) -> str:
        return f"README.md:{self.line}: hyperkvasir {shlex.join(self.argv)}"


def fenced_blocks(text: str) -> list[tuple[str, str, int, str]]:
    """(info string, marker name or "", first body line number, body) of every block."""
    blocks = []
    for match in FENCE.finditer(text):
        before = text[: match.start()].rstrip("\n").rsplit("\n", 1)[-1]
        marker = MARKER.search(before)
        line = text.count("\n", 0, match.start("body")) + 1
        blocks.append(
            (match["info"].strip(), marker["name"] if marker else "", line, match["body"])
        )
    return blocks


def parse_command(command: str, line: int) -> Example | None:
    """An Example from a shell line that runs hyperkvasir, else None.

    Shell syntax is limited to what the README uses: words, quotes, a trailing comment
    (`# exit N` gives the expected exit code), and redirections (`> FILE` is kept for
    stdout; any other redirection ends the command).
    """
    expected = EXIT_COMMENT.search(command)
    words = shlex.split(command, comments=True)
    if not words or words[0] != "hyperkvasir":
        return None
    argv: list[str] = []
    stdout_to = None
    rest = iter(words[1:])
    for word in rest:
        if word == ">":
            stdout_to = next(rest)
        elif REDIRECT.match(word):
            break
        else:
            argv.append(word)
    code = int(expected["code"]) if expected else 0
    return Example(line, argv, code, stdout_to)


def marked_block(text: str, name: str) -> tuple[int, str]:
    found = [(line, body) for _, marker, line, body in fenced_blocks(text) if marker == name]
    assert len(found) == 1, f"README.md needs exactly one block after <!-- tested: {name} -->"
    return found[0]


def script_examples(body: str, first_line: int) -> list[Example]:
    """The hyperkvasir commands of a shell script or of a CI workflow's `run:` lines."""
    examples = []
    for index, raw in enumerate(body.splitlines()):
        command = raw.strip()
        if command.startswith(("- run:", "run:")):
            command = command.split("run:", 1)[1].strip()
        example = parse_command(command, first_line + index)
        if example is not None:
            examples.append(example)
    return examples


def run_example(example: Example, folder: Path) -> Result:
    result = run_cli(*example.argv)
    assert result.exit_code == example.exit_code, (
        f"{example}: exit {result.exit_code}, README says {example.exit_code}\n{result.stderr}"
    )
    if example.stdout_to is not None:
        (folder / example.stdout_to).write_text(result.stdout)
    return result


@pytest.fixture
def small_dataset(
    tmp_path: Path, http_server: LocalServer, monkeypatch: pytest.MonkeyPatch
) -> Path:
    """HYPERKVASIR_MANIFEST names the small copy on the test server; returns it."""
    manifest = serve_small_copy(http_server, tmp_path / "site")
    monkeypatch.setenv("HYPERKVASIR_MANIFEST", str(manifest))
    return manifest


# The console transcripts --------------------------------------------------------------------


def test_every_console_transcript_is_what_the_program_prints() -> None:
    _, stale = transcribe(README.read_text(encoding="utf-8"))
    diffs = "\n\n".join(each.diff() for each in stale)
    assert not stale, (
        f"{len(stale)} README transcripts differ from what the program prints:\n\n{diffs}\n\n"
        f"If the new output is right, run `{REGENERATE}` and review the README's diff."
    )


def test_readme_has_json_examples_of_every_reporting_command() -> None:
    commands = [
        parse(command).argv
        for block in console_blocks(README.read_text(encoding="utf-8"))
        for command in block.commands
    ]
    with_json = {argv[1] for argv in commands if argv[0] == "hyperkvasir" and "--json" in argv}
    missing = [c for c in JSON_COMMANDS if c not in with_json]
    assert not missing, f"add a `$ hyperkvasir COMMAND --json` example for: {missing}"


def test_trimmed_output_keeps_its_first_and_last_lines_and_finds_the_middle() -> None:
    from tests.readme_transcripts import render

    output = "\n".join(f"line {n}" for n in range(10))
    assert render(output, ["old 0", "...", "line 5", "...", "old 9"]) == [
        "line 0",
        "...",
        "line 5",
        "...",
        "line 9",
    ]
    assert render(output, ["...", "old 7", "old 8", "old 9"]) == [
        "...",
        "line 7",
        "line 8",
        "line 9",
    ]
    assert render("a\nb", ["x", "...", "y"]) == ["a", "b"]  # nothing left out: no `...`
    assert render(output, []) == output.splitlines()


def test_the_ci_workflow_syncs_then_does_nothing(
    small_dataset: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fake_clock: FakeClock
) -> None:
    first_line, body = marked_block(README.read_text(encoding="utf-8"), "ci")
    workflow = yaml.safe_load(body)
    (job,) = workflow["jobs"].values()
    workspace = tmp_path / "workspace"
    workspace.mkdir()
    monkeypatch.chdir(workspace)
    for key, value in job["env"].items():
        monkeypatch.setenv(key, str(value))
    # The workflow keys its cache on a manifest committed in the repository: put ours there.
    committed = workspace / job["env"]["HYPERKVASIR_MANIFEST"]
    committed.parent.mkdir(parents=True)
    committed.write_bytes(small_dataset.read_bytes())
    examples = script_examples(body, first_line)
    assert [e.argv[0] for e in examples] == ["sync", "checksum"]
    for example in examples:
        run_example(example, workspace)
    assert json.loads((workspace / "checksum-report.json").read_text())["ok"] is True
    data_dir = Path(os.environ["HYPERKVASIR_DATA_DIR"])
    assert (workspace / data_dir / "labeled-images").is_dir()
    # A cache hit: the same steps again fetch nothing.
    second = run_example(examples[0], workspace)
    assert "downloaded" not in second.stderr
    assert run_cli("sync", "--json").json()["bytes_fetched"] == 0


def test_the_cron_wrapper_is_silent_when_nothing_is_to_do(
    small_dataset: Path, fake_clock: FakeClock
) -> None:
    first_line, body = marked_block(README.read_text(encoding="utf-8"), "cron")
    (example,) = script_examples(body, first_line)
    assert "--quiet" in example.argv and "--wait-lock" in example.argv
    assert run_cli("download", "segmented-images").exit_code == 0
    first = run_cli(*example.argv)  # extracts what was only downloaded
    assert first.exit_code == 0 and first.stdout == "" and first.stderr == ""
    again = run_cli(*example.argv)
    assert again.exit_code == 0 and again.stdout == "" and again.stderr == ""
