"""The README's console examples, generated from real runs.

    python -m tests.readme_transcripts           # check: a diff, and exit 1, where stale
    python -m tests.readme_transcripts --write   # rewrite the blocks from real runs

Every ```console block of README.md is a transcript. Its `$ hyperkvasir ...` lines are run
in order, in-process, against a small copy of the dataset (`small_copy.py`: the real part
and file names and folder layout, two images per class) served by the test server on
127.0.0.1, with a manifest made from the bundled one (same parts and URL paths, the same
values pinned; the small copy's sizes, checksums and counts). The runs share one fresh home
folder: the data folder and config file are the platform defaults under it, the working
folder is the data folder, and the clock is a fake one that starts at TRANSCRIPT_TIME and
moves only when the program sleeps. A block after the line `<!-- console: fresh -->`
runs in a home folder of its own (the blocks after it go on in the shared one). `cd`
lines change the working folder; `sha256sum` lines run for real; `export AWS_...` (the
reader's object store) and any `s3://` URL start moto's S3 server with the bucket
`lab-datasets`, which stands in for it; any other command is refused (write a ```text
block by hand for it).

What a command prints: stdout and stderr interleaved as a terminal shows them; with
`--json`, the document on stdout only; with `> FILE`, stderr only (stdout goes to FILE).
A trailing `# exit N` gives the exit code the run must have (else 0).

Normalisation (the only differences allowed between a run and the README, because they
depend on the run): the home folder is shown as HOME_SHOWN, the server's port as
PORT_SHOWN, every transfer rate as RATE_SHOWN, every time stamp as TIME_SHOWN, every
duration (`in 3s`, `ETA 1m 2s`) as 0s and every JSON `"seconds"` as 0.01; trailing spaces
are dropped.

Trimming: a line `...` in the shown output stands for lines left out. The lines before
the first `...` are the output's first lines, those after the last `...` its last lines,
and a run of lines between two `...` is found by its first line (the first line after the
previous run equal to it, else the most similar one). `--write` keeps each block's `...`
where they are and fills in the rest from the run; delete the `...` of a block to show
its whole output, or add them to trim it.
"""

from __future__ import annotations

import argparse
import contextlib
import difflib
import os
import random
import re
import shlex
import shutil
import string
import subprocess
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

README = Path(__file__).resolve().parent.parent / "README.md"
REGENERATE = "python -m tests.readme_transcripts --write"

HOME_SHOWN = "/home/ana"
PORT_SHOWN = "8000"
RATE_SHOWN = "1.2 MiB/s"
COLUMNS = 100
TRANSCRIPT_TIME = datetime(2026, 11, 27, 15, 48, 27, tzinfo=timezone.utc)
TIME_SHOWN = "2026-11-27T15:48:27Z"

FENCE = re.compile(r"^```(?P<info>[^\n`]*)\n(?P<body>.*?)^```[ \t]*$", re.M | re.S)
FRESH = re.compile(r"<!--\s*console:\s*fresh\s*-->\s*$")
EXIT_COMMENT = re.compile(r"#\s*exit\s+(?P<code>\d+)\b")
RATE = re.compile(r"\b\d+(?:\.\d+)? (?:B|KiB|MiB|GiB|TiB)/s\b")
TIME = re.compile(r"\b\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ\b")
DURATION = re.compile(r"\b(in|ETA) (?:\d+h ?\d+m|(?:\d+m ?)?\d+s)\b")
SECONDS = re.compile(r'"seconds": \d+(?:\.\d+)?')
PORT = re.compile(r"\b127\.0\.0\.1:\d+")
ELLIPSIS = "..."
BUCKET = "lab-datasets"  # the bucket the README's object storage examples name
# Variables of the machine that would change where requests go or whom they trust.
NETWORK_VARIABLES = frozenset(
    {"SSL_CERT_FILE", "SSL_CERT_DIR", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"}
    | {f"{n}_proxy" for n in ("http", "https", "all", "no", "ftp")}
    | {f"{n}_PROXY" for n in ("HTTP", "HTTPS", "ALL", "NO", "FTP")}
)


class TranscriptError(Exception):
    """A block cannot be replayed as written (a command it cannot run, a wrong exit code)."""


# Reading the README -------------------------------------------------------------------------


@dataclass
class Command:
    line: int  # README line of the `$ ` line
    text: str  # what follows `$ `
    shown: list[str]  # the output lines the README shows under it

    @property
    def where(self) -> str:
        return f"README.md:{self.line}: `{self.text}`"


@dataclass
class Block:
    start: int  # offsets of the body in the README text
    end: int
    fresh: bool
    commands: list[Command] = field(default_factory=list)


def console_blocks(text: str) -> list[Block]:
    blocks = []
    for match in FENCE.finditer(text):
        if match["info"].strip() != "console":
            continue
        before = text[: match.start()].rstrip("\n").rsplit("\n", 1)[-1]
        block = Block(match.start("body"), match.end("body"), FRESH.search(before) is not None)
        first = text.count("\n", 0, match.start("body")) + 1
        for index, line in enumerate(match["body"].splitlines()):
            if line.startswith("$ "):
                block.commands.append(Command(first + index, line[2:], []))
            elif block.commands:
                block.commands[-1].shown.append(line)
            else:
                raise TranscriptError(f"README.md:{first + index}: a console block starts with $")
        blocks.append(block)
    return blocks


# Running a command -------------------------------------------------------------------------


@dataclass(frozen=True)
class Ran:
    exit_code: int
    output: str


@dataclass
class Invocation:
    argv: list[str]
    exit_code: int = 0
    stdout_to: str | None = None


def parse(command: Command) -> Invocation:
    """The words of a `$ ` line, its `> FILE` and its `# exit N`; shell syntax is limited
    to what the README needs."""
    expected = EXIT_COMMENT.search(command.text)
    words = shlex.split(command.text, comments=True)
    invocation = Invocation([], int(expected["code"]) if expected else 0)
    rest = iter(words)
    for word in rest:
        if word == ">":
            invocation.stdout_to = next(rest)
        else:
            invocation.argv.append(word)
    return invocation


class Session:
    """One home folder with the small copy served, the environment and clock set for it."""

    def __init__(self) -> None:
        from tests.http_server import LocalServer
        from tests.small_copy import serve_small_copy

        self.home = make_home()
        self.data_dir = self.home / ".local" / "share" / "hyperkvasir"
        self.data_dir.mkdir(parents=True)
        self.server = LocalServer().start()
        self.manifest = serve_small_copy(self.server, self.home / "small-copy")
        self.cwd = self.data_dir
        self.object_store: dict[str, str] = {}
        self._moto: Any = None

    def close(self) -> None:
        self.server.stop()
        if self._moto is not None:
            self._moto.stop()
        shutil.rmtree(self.home, ignore_errors=True)

    def use_object_store(self) -> None:
        """Start moto's S3 server (once) with the examples' bucket, for `s3://` examples."""
        if self._moto is not None:
            return
        from tests.s3_server import Bucket, MotoServer

        self._moto = MotoServer().start()
        self.object_store = self._moto.environment()
        Bucket(BUCKET, self._moto.endpoint).client.create_bucket(Bucket=BUCKET)
        os.environ.update(self.object_store)

    @contextlib.contextmanager
    def active(self) -> Iterator[None]:
        """The environment, working folder and clock of this session, restored after."""
        import platformdirs

        from hyperkvasir_cli.cli import runtime
        from hyperkvasir_cli.core import config
        from tests.conftest import FakeClock

        saved_env, saved_cwd = dict(os.environ), os.getcwd()
        saved_clock, saved_config_path = runtime.clock_factory, config.default_config_path
        clock = FakeClock()
        clock.now_value = TRANSCRIPT_TIME
        for name in list(os.environ):
            if name.startswith(("HYPERKVASIR_", "XDG_", "AWS_")) or name in NETWORK_VARIABLES:
                del os.environ[name]
        os.environ.update(
            HOME=str(self.home),
            HYPERKVASIR_MANIFEST=str(self.manifest),
            COLUMNS=str(COLUMNS),
            TZ="UTC",
            **self.object_store,
        )
        os.chdir(self.cwd)
        runtime.clock_factory = lambda: clock
        # The platform's own default (the test suite points it at each test's folder).
        config.default_config_path = lambda: (
            Path(platformdirs.user_config_dir("hyperkvasir")) / "config.yaml"
        )
        try:
            yield
        finally:
            runtime.clock_factory = saved_clock
            config.default_config_path = saved_config_path
            self.cwd = Path(os.getcwd())
            os.chdir(saved_cwd)
            os.environ.clear()
            os.environ.update(saved_env)

    def run(self, command: Command) -> Ran:
        invocation = parse(command)
        name = invocation.argv[0] if invocation.argv else ""
        if "s3://" in command.text:
            self.use_object_store()
        if name == "hyperkvasir":
            ran = self._hyperkvasir(invocation)
        elif name == "export" and all(w.startswith("AWS_") for w in invocation.argv[1:]):
            # The reader's object store: the session's own (moto's server) stands in for it.
            self.use_object_store()
            ran = Ran(0, "")
        elif name == "cd" and len(invocation.argv) == 2:
            os.chdir(Path(invocation.argv[1].replace("~", str(self.home), 1)))
            ran = Ran(0, "")
        elif name == "sha256sum" and shutil.which("sha256sum"):
            done = subprocess.run(invocation.argv, capture_output=True, text=True, check=False)
            ran = Ran(done.returncode, done.stdout + done.stderr)
        else:
            raise TranscriptError(
                f"{command.where}: only hyperkvasir, cd, sha256sum and `export AWS_...` can be "
                "replayed here; "
                "show other commands in a ```text block"
            )
        if ran.exit_code != invocation.exit_code:
            raise TranscriptError(
                f"{command.where}: exit {ran.exit_code}, the README says "
                f"{invocation.exit_code}:\n{self.normalise(ran.output)}"
            )
        return Ran(ran.exit_code, self.normalise(ran.output))

    def _hyperkvasir(self, invocation: Invocation) -> Ran:
        from typer.testing import CliRunner

        from hyperkvasir_cli.cli.app import app

        args = invocation.argv[1:]
        result = CliRunner().invoke(app, args, catch_exceptions=False)
        if invocation.stdout_to is not None:
            Path(invocation.stdout_to).write_text(result.stdout)
            return Ran(result.exit_code, result.stderr)
        if "--json" in args or "-j" in args:
            return Ran(result.exit_code, result.stdout)
        return Ran(result.exit_code, result.output)

    def normalise(self, text: str) -> str:
        """Only what depends on the run: the home folder, the port, rates, times and
        durations (some are measured by the real clock: extraction, record times)."""
        for home in {str(self.home.resolve()), str(self.home)}:
            text = text.replace(home, HOME_SHOWN)
        text = PORT.sub(f"127.0.0.1:{PORT_SHOWN}", text)
        text = RATE.sub(RATE_SHOWN, text)
        text = TIME.sub(TIME_SHOWN, text)
        text = DURATION.sub(r"\1 0s", text)
        text = SECONDS.sub('"seconds": 0.01', text)
        return "\n".join(line.rstrip() for line in text.splitlines()).rstrip("\n")


def make_home() -> Path:
    """A new folder whose path is as long as HOME_SHOWN, so that tables holding paths keep
    their layout when the path is shown as HOME_SHOWN."""
    room = len(HOME_SHOWN) - len("/tmp/hk")
    if room < 1:
        raise TranscriptError(f"HOME_SHOWN {HOME_SHOWN!r} is too short to stand for /tmp/hk...")
    letters = string.ascii_lowercase + string.digits
    for _ in range(200):
        home = Path("/tmp/hk" + "".join(random.choice(letters) for _ in range(room)))
        try:
            home.mkdir()
        except FileExistsError:
            continue
        return home
    raise TranscriptError("no free folder /tmp/hk?? for a transcript's home")


# Trimming -------------------------------------------------------------------------------------


def render(output: str, shown: Sequence[str]) -> list[str]:
    """``output`` trimmed where ``shown`` has `...` lines (see the module docstring)."""
    lines = output.splitlines() if output else []
    runs: list[list[str]] = [[]]
    for line in shown:
        if line.strip() == ELLIPSIS:
            runs.append([])
        else:
            runs[-1].append(line)
    if len(runs) == 1:
        return lines
    head, *middle, tail = runs
    tail_start = max(len(lines) - len(tail), len(head))
    picked: list[tuple[int, int]] = [(0, min(len(head), len(lines)))]
    position = picked[0][1]
    for run in middle:
        if not run:
            continue
        found = _find(run[0], lines, position, tail_start)
        if found is None:
            continue
        end = min(found + len(run), tail_start)
        picked.append((found, end))
        position = end
    picked.append((tail_start, len(lines)))
    rendered: list[str] = []
    shown_to = 0
    for start, end in picked:
        if start > shown_to:
            rendered.append(ELLIPSIS)
        rendered += lines[start:end]
        shown_to = max(shown_to, end)
    return rendered


def _find(anchor: str, lines: Sequence[str], start: int, stop: int) -> int | None:
    """Where ``anchor`` is in lines[start:stop]: the first equal line, else the most
    similar one (a line that changed a little), else None."""
    window = lines[start:stop]
    if anchor in window:
        return start + window.index(anchor)
    close = difflib.get_close_matches(anchor, window, n=1, cutoff=0.6)
    return start + window.index(close[0]) if close else None


# The whole README -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Stale:
    command: Command
    shown: list[str]
    printed: list[str]

    def diff(self) -> str:
        return "\n".join(
            difflib.unified_diff(
                self.shown,
                self.printed,
                f"README.md:{self.command.line} {self.command.text}",
                "what the program prints",
                lineterm="",
            )
        )


def transcribe(text: str) -> tuple[str, list[Stale]]:
    """The README with every console block replayed, and the commands whose shown output
    differs from what they print now."""
    stale: list[Stale] = []
    pieces: list[str] = []
    done = 0
    shared: Session | None = None
    try:
        for block in console_blocks(text):
            if block.fresh:
                session = Session()
            else:
                shared = shared or Session()
                session = shared
            body = []
            try:
                with session.active():
                    for command in block.commands:
                        printed = render(session.run(command).output, command.shown)
                        if printed != command.shown:
                            stale.append(Stale(command, command.shown, printed))
                        body += [f"$ {command.text}", *printed]
            finally:
                if session is not shared:
                    session.close()
            pieces += [text[done : block.start], "\n".join(body) + "\n"]
            done = block.end
    finally:
        if shared is not None:
            shared.close()
    pieces.append(text[done:])
    return "".join(pieces), stale


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.readme_transcripts")
    parser.add_argument("--write", action="store_true", help="rewrite README.md's blocks")
    parser.add_argument("--readme", type=Path, default=README)
    args = parser.parse_args(argv)
    text = args.readme.read_text("utf-8")
    try:
        new_text, stale = transcribe(text)
    except TranscriptError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    if args.write:
        if new_text != text:
            args.readme.write_text(new_text, "utf-8")
        print(f"{len(stale)} transcripts rewritten in {args.readme}")
        return 0
    for each in stale:
        print(each.diff(), end="\n\n")
    if stale:
        print(f"{len(stale)} transcripts differ from what the program prints; run `{REGENERATE}`")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
