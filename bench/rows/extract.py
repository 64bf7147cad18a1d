"""`extract` against bsdtar and unzip, on two shapes of the labeled zip (10,662 members of
~98 KB; 2,000 of the real average size, ~370 KB), on disk and into tmpfs.

Every run unpacks into a folder of its own, made fresh for it; before each run the
previous runs' folders are removed and flushed (`sync`) and the archive is read through,
so every contender starts with the archive in the page cache and no write-back pending.
"""

from __future__ import annotations

import dataclasses
import itertools
import shutil
from collections.abc import Callable
from pathlib import Path

from bench import report
from bench.data import DataFile
from bench.measure import Contender, Run, Sample, run_command
from bench.report import Row
from bench.rows.common import discard_tree, has_images, measure, warm
from bench.workspace import LABELED, LABELED_IMAGES, Cli, Workspace, human

SHM = Path("/dev/shm")
# Enough rounds for a spread: a disk-bound run varies from one round to the next.
MIN_ROUNDS = 5

Command = Callable[[Path], list[str]]


class Rounds:
    """Fresh folders under ``base``: each run gets a new one; the previous ones go first."""

    def __init__(self, base: Path) -> None:
        self.base = base
        self._count = itertools.count()

    def next_folder(self, name: str) -> Path:
        discard_tree(self.base)
        folder = self.base / f"{name}-{next(self._count)}"
        folder.mkdir(parents=True)
        return folder

    def close(self) -> None:
        shutil.rmtree(self.base, ignore_errors=True)


def _contender(
    rounds: Rounds,
    name: str,
    archive: Path,
    images: int,
    command: Command,
    env: dict[str, str] | None,
    tools: tuple[str, ...],
) -> Contender:
    last: list[Path] = []

    def task() -> Run:
        folder = rounds.next_folder(name)
        warm(archive)
        last[:] = [folder]
        return run_command(command(folder), env=env)

    def check(run: Run) -> str | None:
        return has_images(last[0] / LABELED, images)(run)

    return Contender(task, check, tools)


def _unpack(
    ws: Workspace, cli: Cli, file: DataFile, images: int, base: Path, peers: tuple[str, ...]
) -> dict[str, Sample]:
    archive = cli.archive(file)
    # A home of its own (the archive linked in), so the main home's record of its tree,
    # which the `checksum --extracted` and stats rows read, stays as it was.
    home = dataclasses.replace(cli, home=ws.runs / f"{base.name}-home")
    linked = home.data_dir / "archives" / archive.name
    shutil.rmtree(home.home, ignore_errors=True)
    linked.parent.mkdir(parents=True)
    linked.symlink_to(archive)
    jobs = str(ws.settings.jobs)
    commands: dict[str, tuple[Command, dict[str, str] | None, tuple[str, ...]]] = {
        "ours": (
            lambda to: home.argv("extract", LABELED, "--jobs", jobs, "--to", str(to)),
            home.environ(),
            (),
        ),
        "bsdtar": (lambda to: ["bsdtar", "-xf", str(archive), "-C", str(to)], None, ("bsdtar",)),
        "unzip": (lambda to: ["unzip", "-q", str(archive), "-d", str(to)], None, ("unzip",)),
    }
    rounds = Rounds(base)
    contenders = {
        name: _contender(rounds, name, archive, images, *commands[name])
        for name in ("ours", *peers)
    }
    try:
        return measure(ws, contenders, budget=ws.settings.budget * 3, min_rounds=MIN_ROUNDS)
    finally:
        rounds.close()


def _shape_rows(
    ws: Workspace, cli: Cli, file: DataFile, images: int, notes: list[str], shape: str
) -> list[Row]:
    jobs = ws.settings.jobs
    what = f"({shape}, {human(file.size)})"
    sides = f"{jobs} worker processes; 1"
    on_disk = _unpack(
        ws, cli, file, images, ws.runs / f"unpacked-{file.path.stem}", ("bsdtar", "unzip")
    )
    rows = [
        Row(
            f"extract vs `bsdtar -xf` {what}",
            on_disk["ours"],
            on_disk["bsdtar"],
            report.ratio_at_most(1.0),
            notes=(f"--jobs {jobs}; a fresh folder per run", *notes),
            sides=sides,
        ),
        Row(
            f"extract vs `unzip -q` {what}",
            on_disk["ours"],
            on_disk["unzip"],
            report.faster_than_peer(),
            notes=("same runs as above",),
            sides=sides,
        ),
    ]
    if SHM.is_dir() and shutil.disk_usage(SHM).free > 3 * file.size:
        in_memory = _unpack(
            ws, cli, file, images, SHM / f"hyperkvasir-bench-{file.path.stem}", ("bsdtar",)
        )
        rows.append(
            Row(
                f"extract vs `bsdtar -xf`, both into tmpfs {what}",
                in_memory["ours"],
                in_memory["bsdtar"],
                report.ratio_at_most(1.0),
                notes=(f"--jobs {jobs}; /dev/shm, a fresh folder per run",),
                sides=sides,
            )
        )
    return rows


def extract_rows(ws: Workspace) -> list[Row]:
    cli, notes = ws.labeled_home
    shape = f"{LABELED_IMAGES:,} members of ~{human(ws.settings.zip_size // LABELED_IMAGES)}"
    return _shape_rows(ws, cli, ws.labeled_zip, LABELED_IMAGES, notes, shape)


def extract_real_rows(ws: Workspace) -> list[Row]:
    cli, notes = ws.real_home
    members = sum(ws.real_counts.values())
    shape = f"{members:,} members of ~{human(ws.settings.real_member_size)}, the real average"
    return _shape_rows(ws, cli, ws.real_zip, members, notes, shape)


GROUPS = {"extract": extract_rows, "extract-real": extract_real_rows}
