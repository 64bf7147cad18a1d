"""The README's examples, run for real against a small copy of the dataset on 127.0.0.1.

Every ```console block is a transcript. Its `$ hyperkvasir ...` lines run in order, in
one shared data folder that is also the working folder, with `HYPERKVASIR_MANIFEST`
pointing at a manifest that serves small zips (the real part and file names, the real
layout inside) from the `http_server` fixture; other `$` lines (`cd`, `sha256sum`) are
the reader's and are skipped. A command must exit 0, or the N of a trailing `# exit N`;
`> FILE` sends its stdout to FILE. A `--json` command must print one JSON document, and
where the README shows that document, the document printed must have the keys shown.

The blocks after `<!-- tested: ci -->` (a CI workflow) and `<!-- tested: cron -->` (a
cron wrapper) run their `hyperkvasir` commands too, each in a fresh folder.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.cli import Result, run_cli
from tests.conftest import FakeClock
from tests.http_server import LocalServer
from tests.s3_server import Bucket
from tests.side_files import bundled_groups, small_side_files
from tests.zips import (
    BuiltArchive,
    build_labeled_images,
    build_labeled_videos,
    build_segmented_images,
    build_unlabeled_images,
    write_zip,
)

README = Path(__file__).resolve().parent.parent / "README.md"
FENCE = re.compile(r"^```(?P<info>[^\n`]*)\n(?P<body>.*?)^```[ \t]*$", re.M | re.S)
MARKER = re.compile(r"<!--\s*tested:\s*(?P<name>[\w-]+)\s*-->\s*$")
EXIT_COMMENT = re.compile(r"#\s*exit\s+(?P<code>\d+)\s*$")
REDIRECT = re.compile(r"^\d*>")
# Commands whose --json output the project promises parses (the list).
JSON_COMMANDS = ("parts", "download", "checksum", "stats", "split", "sync")

# Official split spellings of the eight classes the split files name differently.
OFFICIAL_SPELLING = {
    "cecum": "normal-cecum",
    "hemorrhoids": "hemorroids",
    "polyps": "polyp",
    "pylorus": "normal-pylorus",
    "z-line": "normal-z-line",
    "barretts-short-segment": "short-segment-barretts",
    "esophagitis-a": "oesophagitis-a",
    "esophagitis-b-d": "oesophagitis-b-d",
}


# The small dataset ------------------------------------------------------------------------


def official_split_csv(labeled: BuiltArchive, folds: int) -> bytes:
    """The official file format (`;`, official spellings, bare file names) for ``labeled``."""
    lines = ["file-name;class-name;split-index"]
    for index, member in enumerate(sorted(labeled.data_files)):
        label = member.split("/")[3]
        name = OFFICIAL_SPELLING.get(label, label)
        lines.append(f"{member.rsplit('/', 1)[1]};{name};{index % folds}")
    return ("\n".join(lines) + "\n").encode()


def build_small_dataset(folder: Path) -> dict[str, tuple[bytes, dict[str, Any]]]:
    """Every part of the bundled manifest as small files: name -> (content, manifest entry)."""
    labeled = build_labeled_images(folder / "hyper-kvasir-labeled-images.zip", per_class=2)
    segmented = build_segmented_images(folder / "hyper-kvasir-segmented-images.zip", pairs=4)
    unlabeled = build_unlabeled_images(folder / "hyper-kvasir-unlabeled-images.zip", count=5)
    videos = build_labeled_videos(folder / "hyper-kvasir-videos.zip", per_finding=2)
    everything: dict[str, bytes] = {}
    for built in (labeled, segmented, unlabeled, videos):
        everything.update(built.members)
    write_zip(folder / "hyper-kvasir.zip", everything)
    parts: dict[str, tuple[bytes, dict[str, Any]]] = {}
    for name, built, expected in (
        ("labeled-images", labeled, {"files": 46, "classes": dict(labeled.classes)}),
        ("segmented-images", segmented, {"files": 8}),
        ("unlabeled-images", unlabeled, {"files": 5}),
        ("labeled-videos", videos, {"files": 6}),
    ):
        entry = {"name": name, "file": built.path.name, "kind": "zip", "root": name}
        parts[name] = (built.path.read_bytes(), {**entry, "expected": expected})
    bundled = ["labeled-images", "segmented-images", "unlabeled-images", "labeled-videos"]
    full = {"name": "full", "file": "hyper-kvasir.zip", "kind": "zip", "contains": bundled}
    parts["full"] = ((folder / "hyper-kvasir.zip").read_bytes(), full)
    for name, file, folds in (
        ("official-splits", "2_fold_split.csv", 2),
        ("official-splits-5fold", "5_fold_split.csv", 5),
    ):
        parts[name] = (official_split_csv(labeled, folds), {"name": name, "file": file})
    parts.update(small_side_files(labeled.members, unlabeled.members, videos.members))
    return parts


def serve_small_dataset(server: LocalServer, folder: Path) -> Path:
    """Put every part on ``server``; write and return a manifest describing them."""
    entries = []
    for content, entry in build_small_dataset(folder).values():
        server.put(entry["file"], content)
        pinned = {"size": len(content), "sha256": hashlib.sha256(content).hexdigest()}
        entries.append({**entry, "urls": [server.url(entry["file"])], **pinned})
    manifest = folder / "manifest.yaml"
    document = {
        "dataset": "hyper-kvasir",
        "version": "2020",
        "parts": entries,
        "groups": bundled_groups(),
    }
    manifest.write_text(yaml.safe_dump(document, sort_keys=False))
    return manifest


# Reading the README -------------------------------------------------------------------------


@dataclass(frozen=True)
class Example:
    """One `$ hyperkvasir ...` line of the README and the output shown under it."""

    line: int
    argv: list[str]
    exit_code: int = 0
    stdout_to: str | None = None
    shown: str = ""

    @property
    def wants_json(self) -> bool:
        return "--json" in self.argv or "-j" in self.argv

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


def parse_command(command: str, line: int, shown: str = "") -> Example | None:
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
    return Example(line, argv, code, stdout_to, shown)


def console_examples(text: str) -> list[Example]:
    examples = []
    for info, _marker, first_line, body in fenced_blocks(text):
        if info != "console":
            continue
        lines = body.splitlines()
        for index, raw in enumerate(lines):
            if not raw.startswith("$ "):
                continue
            following = []
            for later in lines[index + 1 :]:
                if later.startswith("$ "):
                    break
                following.append(later)
            example = parse_command(raw[2:], first_line + index, "\n".join(following))
            if example is not None:
                examples.append(example)
    return examples


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


# Running the examples -------------------------------------------------------------------------


def same_keys(shown: Any, printed: Any, where: str = "$") -> list[str]:
    """Where ``printed`` lacks keys that ``shown`` has (at the top: differs in keys).

    The README trims long lists and maps to a few entries, so below the top level the
    shown keys need only be present; list items are compared with the printed first one.
    """
    problems = []
    if isinstance(shown, dict) and isinstance(printed, dict):
        if where == "$" and set(shown) != set(printed):
            problems.append(f"{where}: README shows {sorted(shown)}, printed {sorted(printed)}")
        for key in shown:
            if key in printed:
                problems += same_keys(shown[key], printed[key], f"{where}.{key}")
            elif where != "$":
                problems.append(f"{where}: README shows key {key!r}, not printed")
    elif isinstance(shown, list) and isinstance(printed, list) and shown and printed:
        problems += same_keys(shown[0], printed[0], f"{where}[0]")
    return problems


def shown_json(example: Example) -> Any:
    """The JSON document the README shows under an example, or None when it shows none."""
    try:
        return json.loads(example.shown)
    except ValueError:
        return None


def run_example(example: Example, folder: Path) -> Result:
    result = run_cli(*example.argv)
    assert result.exit_code == example.exit_code, (
        f"{example}: exit {result.exit_code}, README says {example.exit_code}\n{result.stderr}"
    )
    if example.stdout_to is not None:
        (folder / example.stdout_to).write_text(result.stdout)
    if example.wants_json and example.exit_code == 0:
        try:
            printed = result.json()
        except ValueError as exc:
            raise AssertionError(f"{example}: stdout is not JSON: {exc}\n{result.stdout}") from exc
        shown = shown_json(example)
        assert shown is not None or not example.shown.strip(), (
            f"{example}: the README shows output that is not one JSON document"
        )
        if shown is not None:
            problems = same_keys(shown, printed)
            assert not problems, f"{example}: the JSON shown differs: {problems}"
    return result


@pytest.fixture
def small_dataset(
    tmp_path: Path, http_server: LocalServer, monkeypatch: pytest.MonkeyPatch
) -> Path:
    """HYPERKVASIR_MANIFEST names the small dataset on the test server; returns it."""
    manifest = serve_small_dataset(http_server, tmp_path / "site")
    monkeypatch.setenv("HYPERKVASIR_MANIFEST", str(manifest))
    return manifest


@pytest.fixture
def in_data_dir(data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    data_dir.mkdir(parents=True, exist_ok=True)
    monkeypatch.chdir(data_dir)
    return data_dir


def test_readme_has_json_examples_of_every_reporting_command() -> None:
    examples = console_examples(README.read_text(encoding="utf-8"))
    with_json = {e.argv[0] for e in examples if e.wants_json}
    missing = [c for c in JSON_COMMANDS if c not in with_json]
    assert not missing, f"add a `$ hyperkvasir COMMAND --json` example for: {missing}"


def test_console_examples_run_in_order(
    small_dataset: Path, in_data_dir: Path, fake_clock: FakeClock, s3_bucket: Bucket
) -> None:
    # `push` and `export --to s3://` examples name the lab's bucket; moto's server holds it.
    with contextlib.suppress(Exception):  # made by an earlier test in this process
        s3_bucket.client.create_bucket(Bucket="lab-datasets")
    examples = console_examples(README.read_text(encoding="utf-8"))
    assert len(examples) >= 20
    for example in examples:
        run_example(example, in_data_dir)


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
