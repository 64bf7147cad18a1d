"""What the row modules share: measuring contenders round by round, the checks a run must
pass to count, and the commands run as contenders (hyperkvasir's and its peers')."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Mapping
from pathlib import Path

from bench.data import DataFile
from bench.measure import Check, Contender, Run, Sample, measure_round_robin, run_command
from bench.measure import unavailable as unavailable
from bench.workspace import Cli, Workspace, count_images, fresh, settle

CURL_THEN_SHA256SUM = 'curl -fsS -o "$1" "$2" && sha256sum "$1"'
READ_BLOCK = 1 << 20


def measure(
    ws: Workspace,
    contenders: Mapping[str, Contender],
    repeat: int | None = None,
    budget: float | None = None,
    min_rounds: int = 1,
) -> dict[str, Sample]:
    """Measure the contenders whose programs are installed; report the others as skipped."""
    skipped = {}
    runnable = {}
    for name, contender in contenders.items():
        reason = ws.missing(*contender.tools)
        if reason is None:
            runnable[name] = contender
        else:
            skipped[name] = unavailable(reason)
    repeat = repeat or ws.settings.repeat
    return {
        **measure_round_robin(
            runnable,
            repeat=repeat,
            budget=budget or ws.settings.budget,
            min_rounds=min(min_rounds, repeat),
        ),
        **skipped,
    }


def prints_sha256(expected: str) -> Check:
    def check(run: Run) -> str | None:
        return None if run.stdout.split()[:1] == [expected] else "printed another sha256"

    return check


def has_file(path: Path, size: int) -> Check:
    def check(run: Run) -> str | None:
        if path.is_file() and path.stat().st_size == size:
            return None
        return f"exited 0 but {path.name} is missing or of the wrong size"

    return check


def has_images(tree: Path, images: int) -> Check:
    def check(run: Run) -> str | None:
        found = count_images(tree) if tree.is_dir() else 0
        return None if found == images else f"exited 0 but left {found} of {images} images"

    return check


def prints_json(run: Run) -> str | None:
    try:
        json.loads(run.stdout)
    except ValueError:
        return "exited 0 but --json printed no JSON document"
    return None


def warm(path: Path) -> None:
    """Read ``path`` through, so that every contender finds it in the page cache."""
    with path.open("rb", buffering=0) as handle:
        while handle.read(16 * READ_BLOCK):
            pass


def discard_tree(folder: Path) -> None:
    """Remove ``folder`` and flush the removal, so no run pays for another's write-back."""
    shutil.rmtree(folder, ignore_errors=True)
    settle()


def curl_then_sha256sum(ws: Workspace, file: DataFile, url: str) -> Contender:
    folder = ws.runs / "curl"

    def task() -> Run:
        fresh(folder)
        settle()
        return run_command(["bash", "-c", CURL_THEN_SHA256SUM, "bash", str(folder / "f"), url])

    return Contender(task, prints_sha256(file.sha256), ("curl", "sha256sum"))


def aria2c(ws: Workspace, file: DataFile, url: str, *options: str) -> Contender:
    """aria2c with ``options`` (connections, splits), verifying the sha256 as it ends."""
    folder = ws.runs / "aria2c"

    def task() -> Run:
        fresh(folder)
        settle()
        return run_command(
            [
                "aria2c",
                *options,
                f"--checksum=sha-256={file.sha256}",
                *("-d", str(folder), "-o", file.path.name, "--allow-overwrite=true"),
                *("--console-log-level=warn", "--summary-interval=0"),
                *("--show-console-readout=false", "--download-result=hide", url),
            ]
        )

    return Contender(task, has_file(folder / file.path.name, file.size), ("aria2c",))


def our_download(
    ws: Workspace, part: str, file: DataFile, manifest: Path, *options: str
) -> Contender:
    """`hyperkvasir download` into a fresh home each run (a verified part is not refetched)."""
    home = f"download-{part}-{'-'.join(options) or 'default'}"

    def task() -> Run:
        cli = ws.cli(home, manifest)
        settle()
        return cli.run("download", part, *options, "--json")

    archive = ws.runs / home / "data" / "archives" / file.path.name
    return Contender(task, has_file(archive, file.size))


def run_in(cli: Cli, *args: str) -> Run:
    """One command of ``cli`` after a `sync`, so no earlier write-back is paid for."""
    settle()
    return cli.run(*args)


def cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
