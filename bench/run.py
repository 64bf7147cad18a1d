"""Benchmark hyperkvasir against the tools users would otherwise reach for.

One run makes its own data, starts a private nginx on 127.0.0.1 (one port unlimited, one
throttled per connection), measures every row with its peers back to back, and prints a
Markdown table of times, ratios, targets and peak memory. See bench/README.md.

    python bench/run.py            # full run, writes bench/results/latest.md
    python bench/run.py --quick    # small sizes, a smoke run
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import os
import re
import shutil
import signal
import sys
import traceback
from collections.abc import Iterator, Sequence
from pathlib import Path
from types import FrameType

# `python bench/run.py` puts bench/ on the path, not the repository: add it for `bench.*`.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.measure import memory_floor
from bench.nginx import Nginx, NginxError, serve
from bench.report import MEMORY_LIMIT, Row, failed_row, machine_line, markdown_table
from bench.rows import groups
from bench.script import stale_script
from bench.workspace import LABELED_IMAGES, Settings, Workspace, human, log
from hyperkvasir_cli import __version__

GROUPS = groups()
REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "bench" / "results" / "latest.md"
WORK_FOLDERS = ("www", "runs", "nginx", "manifests")
FULL = Settings(
    size=2**30,
    throttled_size=64 * 2**20,
    rate="1m",
    zip_size=2**30,
    images=100_000,
    repeat=5,
    budget=45.0,
    jobs=2,
    work=REPO / "bench" / "work" / "full",
)
QUICK = dataclasses.replace(
    FULL,
    size=64 * 2**20,
    throttled_size=8 * 2**20,
    zip_size=32 * 2**20,
    images=3_000,
    repeat=3,
    budget=5.0,
    work=REPO / "bench" / "work" / "quick",  # a quick run must not replace the full data
    lan_size=32 * 10**6,
    real_members=200,
)
_SIZE = re.compile(r"^(\d+(?:\.\d+)?)([KMG]?)i?B?$", re.IGNORECASE)
_NGINX_RATE = re.compile(r"^\d+[km]?$", re.IGNORECASE)


def parse_size(text: str) -> int:
    """Bytes from `1G`, `64M`, `512K` (binary units) or a plain number."""
    match = _SIZE.match(text.strip())
    if not match:
        raise argparse.ArgumentTypeError(f"not a size like 1G, 64M or 512K: {text!r}")
    factor = {"": 1, "K": 2**10, "M": 2**20, "G": 2**30}[match[2].upper()]
    return int(float(match[1]) * factor)


def nginx_rate(text: str) -> str:
    if not _NGINX_RATE.match(text):
        raise argparse.ArgumentTypeError(f"not an nginx rate like 1m or 256k: {text!r}")
    return text


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python bench/run.py",
        description="Benchmark hyperkvasir against curl, aria2c, sha256sum, bsdtar and unzip.",
    )
    add = parser.add_argument
    add("--quick", action="store_true", help="small sizes for a smoke run (no results file)")
    add("--size", type=parse_size, help="random file for the unlimited download (default 1G)")
    add("--throttled-size", type=parse_size, help="file for the throttled rows (default 64M)")
    add("--rate", type=nginx_rate, help="nginx limit_rate per connection (default 1m)")
    add("--lan-size", type=parse_size, help="file for the lab-mirror rows (default 400 MB)")
    add("--lan-rate", type=nginx_rate, help="limit_rate of the lab mirror (default 20m)")
    add("--zip-size", type=parse_size, help="size of the labeled-images zip (default 1G)")
    add("--real-members", type=int, help="members of the real-size zip (default 2000)")
    add("--real-member-size", type=parse_size, help="their average size (default 370000)")
    add("--images", type=int, help="images in the tree for `stats --images` (default 100000)")
    add("--repeat", type=int, help="runs per row at most, median reported (default 5)")
    add("--budget", type=float, help="seconds after which a row starts no new round (default 45)")
    add("--jobs", type=int, help="--jobs for extract (default 2)")
    add("--only", action="append", choices=list(GROUPS), help="run only these rows (repeatable)")
    add("--work", type=Path, help="work folder (default bench/work/full or quick)")
    add("--keep", action="store_true", help="keep the data for the next run")
    add("--results", type=Path, help=f"write the table here (default {RESULTS} on full runs)")
    return parser


def settings_from(args: argparse.Namespace) -> Settings:
    """The profile's sizes (full or --quick), with every option given on the command line."""
    given = {
        field.name: getattr(args, field.name)
        for field in dataclasses.fields(Settings)
        if getattr(args, field.name) is not None
    }
    settings = dataclasses.replace(QUICK if args.quick else FULL, **given)
    return dataclasses.replace(settings, work=settings.work.resolve())


def results_path(args: argparse.Namespace) -> Path | None:
    """Only a full run of every row replaces the committed results, unless told otherwise."""
    if args.results is not None:
        return Path(args.results)
    return None if args.quick or args.only else RESULTS


@contextlib.contextmanager
def nginx_server(settings: Settings) -> Iterator[tuple[Nginx | None, str]]:
    """The running server, or None and the reason why there is none."""
    binary = shutil.which("nginx") or shutil.which("nginx", path="/usr/sbin:/sbin")
    if binary is None:
        yield None, "skipped: nginx not installed (apt-get install nginx)"
        return
    with contextlib.ExitStack() as stack:
        try:
            server = stack.enter_context(
                serve(
                    binary,
                    settings.work / "nginx",
                    settings.work / "www",
                    settings.rate,
                    settings.lan_rate,
                )
            )
        except NginxError as exc:
            yield None, f"skipped: {exc}"
            return
        yield server, ""


def console_script() -> Path:
    """The `hyperkvasir` a user of this Python runs: the one installed beside it."""
    return Path(sys.executable).parent / "hyperkvasir"


def run_groups(settings: Settings, groups: Sequence[str], rows: list[Row]) -> None:
    exe = console_script()
    (settings.work / "www").mkdir(parents=True, exist_ok=True)
    with nginx_server(settings) as (server, why_no_server):
        workspace = Workspace(settings, exe, server, why_no_server)
        for name in groups:
            log(f"measuring: {name}")
            try:
                rows.extend(GROUPS[name](workspace))
            # A broken row must not cost the other rows (a procedure that stops with
            # SystemExit, as bench/s3_rows.py does when run alone, included).
            except (Exception, SystemExit) as exc:
                traceback.print_exc()
                rows.append(failed_row(name, f"benchmark error: {type(exc).__name__}: {exc}"))


def describe(settings: Settings, floor: int, load: float) -> str:
    return "\n".join(
        [
            machine_line(REPO, __version__, load),
            "",
            f"Data: a {human(settings.size)} random file (unlimited download); "
            f"a {human(settings.lan_size)} random file served at {settings.lan_rate_text} "
            "per connection (a lab mirror on a LAN); "
            f"a {human(settings.throttled_size)} random file served at {settings.rate_text} "
            f"per connection (throttled rows); a labeled-images zip of {LABELED_IMAGES:,} "
            f"deflated JPEG-like members (~{human(settings.zip_size)}) and one of "
            f"{settings.real_members:,} members of ~{human(settings.real_member_size)} (the "
            "real zip's average), their bulk deflating as JPEG scan data does; "
            f"{settings.images:,} tiny JPEGs for `stats --images` at scale.",
            "",
            f"Times: median of up to {settings.repeat} rounds per row, rounds stop after "
            f"{settings.budget:g} s; in each round hyperkvasir and its peers run back to back. "
            f"Every ok also needs hyperkvasir's peak memory < {MEMORY_LIMIT // 10**6} MB: the "
            "larger of ru_maxrss from wait4 (the largest single process of the command's "
            "tree) and the sampled sum of PSS over the tree; no command reports less than "
            f"{floor / 10**6:.1f} MB, the size of the launcher it is forked from "
            "(bench/launcher.py).",
        ]
    )


def cleanup(work: Path) -> None:
    """Remove what the benchmark made, never anything else in a folder given with --work."""
    for name in WORK_FOLDERS:
        shutil.rmtree(work / name, ignore_errors=True)
    with contextlib.suppress(OSError):
        work.rmdir()


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    # A plain `kill` must stop nginx and clean up too, as Ctrl-C does.
    signal.signal(signal.SIGTERM, _interrupt)
    settings = settings_from(args)
    stale = stale_script(console_script(), REPO / "pyproject.toml")
    if stale is not None:
        log(f"error: {stale}")
        return 2
    groups = args.only or list(GROUPS)
    rows: list[Row] = []
    load = os.getloadavg()[0]  # other work on the machine skews every time below
    interrupted = False
    try:
        run_groups(settings, groups, rows)
    except KeyboardInterrupt:
        interrupted = True
        log("interrupted: the rows measured so far follow")
    finally:
        if not args.keep:
            cleanup(settings.work)
    text = f"{describe(settings, memory_floor(), load)}\n\n{markdown_table(rows)}\n"
    print(text)
    target = None if interrupted else results_path(args)
    if target is not None:
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(f"# Benchmark results\n\n{text}")
        log(f"wrote {target}")
    return 130 if interrupted else 0


if __name__ == "__main__":
    sys.exit(main())
