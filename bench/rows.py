"""The measured rows. Each group runs hyperkvasir and its peers in turn, round after round.

Every group takes the :class:`Workspace` and returns its rows; a command that is missing
or fails makes its row "not available" rather than stopping the run.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
import signal
import sys
from collections.abc import Callable, Mapping
from pathlib import Path

from bench import report
from bench.data import DataFile
from bench.measure import (
    Check,
    Contender,
    Run,
    Sample,
    measure_round_robin,
    run_command,
    unavailable,
)
from bench.report import Row, failed_row
from bench.workspace import (
    LABELED,
    LABELED_IMAGES,
    Cli,
    Workspace,
    count_images,
    fresh,
    human,
    settle,
    sha256_of,
)

CURL_THEN_SHA256SUM = 'curl -fsS -o "$1" "$2" && sha256sum "$1"'
FIND_XARGS_SHA256SUM = 'find "$1" -type f -print0 | xargs -0 sha256sum > /dev/null'
HASHLIB_LOOP = """\
import hashlib, sys
digest = hashlib.sha256()
with open(sys.argv[1], "rb") as handle:
    while block := handle.read(1 << 20):
        digest.update(block)
print(digest.hexdigest())
"""
# The hashing that `checksum` does, against the bare loop, in one interpreter: the
# throughput comparison, without the fixed cost of starting a command line.
IN_PROCESS_HASHING = """\
import hashlib, statistics, sys, time
from pathlib import Path
from hyperkvasir_cli.core.hashing import hash_file
path = Path(sys.argv[1])
def bare():
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()
def ours():
    return hash_file(path).digests["sha256"]
times = {"ours": [], "bare": []}
for _ in range(3):
    for name, run in (("bare", bare), ("ours", ours)):
        started = time.perf_counter()
        run()
        times[name].append(time.perf_counter() - started)
o, b = statistics.median(times["ours"]), statistics.median(times["bare"])
print(f"{o / b:.4f} {o:.4f} {b:.4f}")
"""
HELP_REPEAT = 11
FAST_REPEAT = 7
CONNECTIONS = "8"


def _measure(
    ws: Workspace,
    contenders: Mapping[str, Contender],
    repeat: int | None = None,
    budget: float | None = None,
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
        **measure_round_robin(runnable, repeat=repeat, budget=budget or ws.settings.budget),
        **skipped,
    }


def _prints_sha256(expected: str) -> Check:
    def check(run: Run) -> str | None:
        return None if run.stdout.split()[:1] == [expected] else "printed another sha256"

    return check


def _has_file(path: Path, size: int) -> Check:
    def check(run: Run) -> str | None:
        if path.is_file() and path.stat().st_size == size:
            return None
        return f"exited 0 but {path.name} is missing or of the wrong size"

    return check


def _has_images(tree: Path, images: int) -> Check:
    def check(run: Run) -> str | None:
        found = count_images(tree) if tree.is_dir() else 0
        return None if found == images else f"exited 0 but left {found} of {images} images"

    return check


def _prints_json(run: Run) -> str | None:
    try:
        json.loads(run.stdout)
    except ValueError:
        return "exited 0 but --json printed no JSON document"
    return None


def _curl(ws: Workspace, file: DataFile, *, throttled: bool) -> Contender:
    folder = ws.runs / "curl"

    def task() -> Run:
        fresh(folder)
        settle()
        url = ws.url(file, throttled=throttled)
        return run_command(["bash", "-c", CURL_THEN_SHA256SUM, "bash", str(folder / "f"), url])

    return Contender(task, _prints_sha256(file.sha256), ("curl", "sha256sum"))


def _download(ws: Workspace, part: str, file: DataFile, *, throttled: bool) -> Contender:
    """`hyperkvasir download` into a fresh home each run (a verified part is not refetched)."""
    manifest = ws.manifest(part, file, throttled=throttled)
    connections = ["--connections", CONNECTIONS] if throttled else []
    home = f"download-{part}"

    def task() -> Run:
        cli = ws.cli(home, manifest)
        settle()
        return cli.run("download", part, *connections, "--json")

    archive = ws.runs / home / "data" / "archives" / file.path.name
    return Contender(task, _has_file(archive, file.size))


def help_rows(ws: Workspace) -> list[Row]:
    samples = _measure(
        ws,
        {
            "ours": Contender(lambda: run_command([str(ws.exe), "--help"])),
            "python": Contender(lambda: run_command([sys.executable, "-c", "pass"])),
        },
        repeat=HELP_REPEAT,
    )
    python = samples["python"]
    notes = (f"Python start-up alone: {python.seconds:.3f} s",) if python.available else ()
    target = report.seconds_below(0.3)
    return [Row("`hyperkvasir --help` (median)", samples["ours"], None, target, notes=notes)]


def download_rows(ws: Workspace) -> list[Row]:
    name = f"download vs `curl -o f && sha256sum f` ({human(ws.settings.size)}, unlimited)"
    if ws.server is None:
        return [failed_row(name, ws.why_no_server)]
    file = ws.random_file
    samples = _measure(
        ws,
        {
            "ours": _download(ws, "bench-random", file, throttled=False),
            "curl": _curl(ws, file, throttled=False),
        },
    )
    notes = ("hyperkvasir with its default connections",)
    return [Row(name, samples["ours"], samples["curl"], report.ratio_at_most(1.0), notes=notes)]


def _aria2c(ws: Workspace, file: DataFile) -> Contender:
    folder = ws.runs / "aria2c"

    def task() -> Run:
        fresh(folder)
        settle()
        return run_command(
            [
                *("aria2c", "-x8", "-s8", "-k1M", f"--checksum=sha-256={file.sha256}"),
                *("-d", str(folder), "-o", file.path.name, "--allow-overwrite=true"),
                *("--console-log-level=warn", "--summary-interval=0"),
                *("--show-console-readout=false", ws.url(file, throttled=True)),
            ]
        )

    return Contender(task, _has_file(folder / file.path.name, file.size), ("aria2c",))


def throttled_rows(ws: Workspace) -> list[Row]:
    size, rate = human(ws.settings.throttled_size), ws.settings.rate_text
    names = (
        f"download --connections 8 vs `aria2c -x8 -s8` ({size}, {rate} per connection)",
        f"download --connections 8 vs `curl -o f && sha256sum f` ({size}, {rate})",
    )
    if ws.server is None:
        return [failed_row(name, ws.why_no_server) for name in names]
    file = ws.throttled_file
    samples = _measure(
        ws,
        {
            "ours": _download(ws, "bench-throttled", file, throttled=True),
            "aria2c": _aria2c(ws, file),
            "curl": _curl(ws, file, throttled=True),
        },
    )
    ours = samples["ours"]
    aria_note = "aria2c -k1M, so a small file is split 8 ways as a 3.9 GB one is; with --checksum"
    return [
        Row(names[0], ours, samples["aria2c"], report.ratio_at_most(1.1), notes=(aria_note,)),
        Row(names[1], ours, samples["curl"], report.times_faster(5), notes=("same runs as above",)),
    ]


def _segments_done(sidecar: Path) -> int:
    """Bytes the partial download's sidecar says are on disk (0 while unreadable)."""
    try:
        segments = json.loads(sidecar.read_text())["segments"]
        return sum(int(segment["done"]) for segment in segments)
    except (OSError, ValueError, KeyError, TypeError):
        return 0


def _with_memory_of(run: Run, other: Run) -> Run:
    """``run`` with the worse peak memory of the two runs."""
    return dataclasses.replace(
        run,
        peak_rss=max(run.peak_rss, other.peak_rss),
        peak_tree_pss=max(run.peak_tree_pss, other.peak_tree_pss),
    )


def resume_rows(ws: Workspace) -> list[Row]:
    size = human(ws.settings.throttled_size)
    name = f"download --connections 8 killed at half, then resumed ({size}, throttled)"
    if ws.server is None:
        return [failed_row(name, ws.why_no_server)]
    server, file = ws.server, ws.throttled_file
    cli = ws.cli("resume", ws.manifest("bench-throttled", file, throttled=True))
    download = ("download", "bench-throttled", "--connections", CONNECTIONS, "--json")
    sidecar = cli.archive(file).with_name(file.path.name + ".part.json")
    server.wait_idle()
    mark = server.log_mark()
    settle()
    first = cli.run(*download, kill_when=lambda: _segments_done(sidecar) >= file.size // 2)
    if first.exit_code != -signal.SIGKILL:
        why = first.failure() if not first.succeeded else "it finished before reaching half way"
        return [failed_row(name, f"could not kill the download at half way: {why}")]
    killed_at = _segments_done(sidecar)
    server.wait_idle()
    second = cli.run(*download)
    if not second.succeeded:
        return [failed_row(name, second.failure())]
    idle = server.wait_idle()
    served = sum(r.body_bytes for r in server.requests_since(mark) if r.uri == f"/{file.path.name}")
    final = cli.archive(file)
    intact = final.is_file() and sha256_of(final) == file.sha256
    percent = 100 * (served - file.size) / file.size
    notes = [
        f"time of the resumed run; killed at {100 * killed_at / file.size:.0f}% "
        f"after {first.seconds:.1f} s",
        f"nginx served {human(served)} for a {human(file.size)} file",
        "sha256 ok" if intact else "sha256 WRONG",
    ]
    if not idle:
        notes.append("nginx still had open connections: the count may be low")
    return [
        Row(
            name,
            Sample((_with_memory_of(second, first),)),
            None,
            report.percent_at_most(5),
            value=percent if intact else float("inf"),
            value_text=f"{percent:.2f}% re-fetched",
            notes=tuple(notes),
        )
    ]


def checksum_rows(ws: Workspace) -> list[Row]:
    cli, notes = ws.labeled_home
    file = ws.labeled_zip
    archive = str(cli.archive(file))

    def ours() -> Run:
        settle()
        return cli.run("checksum", LABELED, "--json")

    samples = _measure(
        ws,
        {
            "ours": Contender(ours, _prints_json),
            "hashlib": Contender(
                lambda: run_command([sys.executable, "-c", HASHLIB_LOOP, archive]),
                _prints_sha256(file.sha256),
            ),
            "sha256sum": Contender(
                lambda: run_command(["sha256sum", archive]),
                _prints_sha256(file.sha256),
                ("sha256sum",),
            ),
        },
    )
    what = f"({human(file.size)} zip)"
    return [
        Row(
            f"checksum vs a bare hashlib loop {what}",
            samples["ours"],
            samples["hashlib"],
            report.ratio_at_most(1.1),
            notes=tuple(notes),
        ),
        Row(
            f"checksum vs `sha256sum` {what}",
            samples["ours"],
            samples["sha256sum"],
            report.faster_than_peer(),
        ),
        _in_process_hashing_row(archive, what),
    ]


def _in_process_hashing_row(archive: str, what: str) -> Row:
    """checksum's hashing against the bare loop, both timed inside one interpreter."""
    name = f"checksum hashing vs a bare hashlib loop, in-process throughput {what}"
    run = run_command([sys.executable, "-c", IN_PROCESS_HASHING, archive])
    if not run.succeeded:
        return failed_row(name, run.failure() or "failed")
    ratio, ours, bare = (float(x) for x in run.stdout.split()[:3])
    return Row(
        name,
        Sample((run,)),
        None,
        report.ratio_at_most(1.1),
        value=ratio,
        value_text=f"{ratio:.2f}",
        notes=(f"median of 3: {ours:.3f} s vs {bare:.3f} s; no interpreter start-up",),
    )


def _unpacker(tool: str, argv: Callable[[Path], list[str]], folder: Path) -> Contender:
    def task() -> Run:
        fresh(folder)
        settle()
        return run_command(argv(folder))

    return Contender(task, _has_images(folder / LABELED, LABELED_IMAGES), (tool,))


def _our_unpacker(cli: Cli, jobs: int, folder: Path) -> Contender:
    def task() -> Run:
        fresh(folder)
        settle()
        return cli.run("extract", LABELED, "--jobs", str(jobs), "--to", str(folder))

    return Contender(task, _has_images(folder / LABELED, LABELED_IMAGES))


def _unpack_in(
    ws: Workspace, cli: Cli, archive: str, folder: Path, peers: list[str]
) -> dict[str, Sample]:
    """hyperkvasir and ``peers`` unpacking ``archive`` into the same ``folder``, in turn.

    One folder for all: where a folder lies on ext4 (its block group, the free space and
    pending discards around it) changed the same bsdtar run from 2.3 s to 9.5 s here, so
    contenders writing to folders of their own would measure the folders, not the tools.
    """
    commands = {
        "bsdtar": lambda to: ["bsdtar", "-xf", archive, "-C", str(to)],
        "unzip": lambda to: ["unzip", "-q", archive, "-d", str(to)],
    }
    # A home of its own (the archive linked in), so the main home's record of its tree,
    # which the `checksum --extracted` rows read, stays as it was.
    home = dataclasses.replace(cli, home=ws.runs / f"{folder.name}-home")
    linked = home.data_dir / "archives" / Path(archive).name
    fresh(linked.parent)
    linked.symlink_to(archive)
    contenders = {"ours": _our_unpacker(home, ws.settings.jobs, folder)}
    contenders.update({peer: _unpacker(peer, commands[peer], folder) for peer in peers})
    try:
        return _measure(ws, contenders, budget=ws.settings.budget * 2)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def extract_rows(ws: Workspace) -> list[Row]:
    cli, notes = ws.labeled_home
    file = ws.labeled_zip
    archive = str(cli.archive(file))
    samples = _unpack_in(ws, cli, archive, ws.runs / "unpacked", ["bsdtar", "unzip"])
    what = f"({LABELED_IMAGES:,} members, {human(file.size)})"
    ours_sample = samples["ours"]
    jobs_note = (f"--jobs {ws.settings.jobs}; one folder for all, in turn", *notes)
    return [
        Row(
            f"extract vs `bsdtar -xf` {what}",
            ours_sample,
            samples["bsdtar"],
            report.ratio_at_most(1.0),
            notes=jobs_note,
        ),
        Row(
            f"extract vs `unzip -q` {what}",
            ours_sample,
            samples["unzip"],
            report.faster_than_peer(),
        ),
        *_extract_in_memory_rows(ws, cli, archive, what),
    ]


SHM = Path("/dev/shm")


def _extract_in_memory_rows(ws: Workspace, cli: Cli, archive: str, what: str) -> list[Row]:
    """The same pair into tmpfs: without the disk's journal and write-back, whose state
    swings a disk-bound extraction by a factor of two from one run to the next."""
    size = Path(archive).stat().st_size
    if not SHM.is_dir() or shutil.disk_usage(SHM).free < 3 * size:
        return []
    samples = _unpack_in(ws, cli, archive, SHM / "hyperkvasir-bench-unpacked", ["bsdtar"])
    return [
        Row(
            f"extract vs `bsdtar -xf`, both into tmpfs {what}",
            samples["ours"],
            samples["bsdtar"],
            report.ratio_at_most(1.0),
            notes=(f"--jobs {ws.settings.jobs}; /dev/shm",),
        )
    ]


def _labeled_tree(ws: Workspace) -> tuple[Cli, list[str]]:
    cli, notes = ws.labeled_home
    return cli, notes + ws.install_tree(cli, ws.labeled_zip, LABELED_IMAGES)


def extracted_rows(ws: Workspace) -> list[Row]:
    cli, notes = _labeled_tree(ws)

    def ours() -> Run:
        settle()
        return cli.run("checksum", LABELED, "--extracted", "--json")

    def find_xargs() -> Run:
        settle()
        return run_command(["bash", "-c", FIND_XARGS_SHA256SUM, "bash", str(cli.tree)])

    samples = _measure(
        ws,
        {
            "ours": Contender(ours, _prints_json),
            "xargs": Contender(find_xargs, tools=("find", "xargs", "sha256sum")),
        },
    )
    peer = "`find -type f -print0 | xargs -0 sha256sum`"
    name = f"checksum --extracted vs {peer} ({LABELED_IMAGES:,} files)"
    target = report.times_faster(1.5)
    return [Row(name, samples["ours"], samples["xargs"], target, notes=tuple(notes))]


def _stats(ws: Workspace, cli: Cli, *extra: str, repeat: int | None = None) -> Sample:
    task = Contender(lambda: cli.run("stats", LABELED, *extra, "--json"), _prints_json)
    return _measure(ws, {"ours": task}, repeat)["ours"]


def stats_rows(ws: Workspace) -> list[Row]:
    cli, notes = _labeled_tree(ws)
    plain = _stats(ws, cli, repeat=FAST_REPEAT)
    images = _stats(ws, cli, "--images", repeat=FAST_REPEAT)
    tree = f"{LABELED_IMAGES:,}-image tree"
    return [
        Row(f"stats ({tree}, median)", plain, None, report.seconds_below(1.0), notes=tuple(notes)),
        Row(f"stats --images ({tree}, median)", images, None, None, notes=("no target",)),
    ]


def stats_scale_rows(ws: Workspace) -> list[Row]:
    file = ws.tiny_zip
    cli = ws.cli("tiny", ws.manifest(LABELED, file))
    notes = ws.install_archive(cli, LABELED, file)
    notes += ws.install_tree(cli, file, ws.settings.images)
    name = f"stats --images ({ws.settings.images:,} tiny images)"
    return [
        Row(name, _stats(ws, cli, "--images"), None, report.seconds_below(20), notes=tuple(notes))
    ]


GROUPS: dict[str, Callable[[Workspace], list[Row]]] = {
    "help": help_rows,
    "download": download_rows,
    "throttled": throttled_rows,
    "resume": resume_rows,
    "checksum": checksum_rows,
    "extract": extract_rows,
    "extracted": extracted_rows,
    "stats": stats_rows,
    "stats-scale": stats_scale_rows,
}
