"""Members on demand: what `ls --remote` and `download --class` cost on the wire and in time.

    python bench/members.py                 # the rows below, ~6 minutes; writes results/members.md
    python bench/members.py --zip-size 64M  # smaller and quicker

Rows (every byte and request counted from nginx's access log, not from our own report):

- `ls labeled-images --remote --json` on a labeled zip of the real shape (10,664 members),
  then again: requests and bytes against the size of the end records and the directory;
- the same for a ZIP64 zip of 99,417 members (the unlabeled zip's count; tiny members);
- `download labeled-images --class polyp -n 4` from the throttled port (0.25 MB/s per
  connection, as the real server gives), against the whole archive with the same
  connections: bytes, requests and time; and remotezip extracting the same members;
- the same download killed with SIGKILL a third of the way, then run again: bytes fetched
  twice.

remotezip is installed into a virtualenv of its own under the work folder (never into the
project's environment).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import data
from bench.measure import run_command
from bench.nginx import Nginx, Request, rate_bytes, serve
from bench.workspace import LABELED, PUBLISHED_COUNTS, Cli, human, log

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "bench" / "results" / "members.md"
UNLABELED_IMAGES = 99_417
POLYPS = "*/polyps/*"
END_RECORDS = 22 + 20 + 56


@dataclass
class Line:
    row: str
    figures: str
    target: str
    ok: bool | None
    notes: str = ""


def _zip64_unlabeled(path: Path) -> data.DataFile:
    """A ZIP64 zip with 99,417 tiny stored members at the unlabeled zip's paths."""
    params = {"kind": "unlabeled-zip64", "count": UNLABELED_IMAGES}
    made = data._reusable(path, params)
    if made is not None:
        return made
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED, allowZip64=True) as archive:
        for index in range(UNLABELED_IMAGES):
            name = f"unlabeled-images/images/{index:08x}-5a1e-4c3b-9d2f-{index:012x}.jpg"
            info = zipfile.ZipInfo(name, date_time=(2020, 1, 1, 0, 0, 0))
            archive.writestr(info, b"\xff\xd8" + os.urandom(64) + b"\xff\xd9")
    return data._stamped(path, params)


def _directory_size(path: Path) -> tuple[int, int]:
    """(central directory bytes, members) of a local zip."""
    with zipfile.ZipFile(path) as archive:
        infos = archive.infolist()
        end = archive.start_dir  # type: ignore[attr-defined]
    return path.stat().st_size - end - END_RECORDS, len(infos)


def _manifest(work: Path, name: str, file: data.DataFile, url: str, root: str) -> Path:
    import yaml

    part = {
        "name": name,
        "file": file.path.name,
        "urls": [url],
        "size": file.size,
        "sha256": file.sha256,
        "kind": "zip",
        "root": root,
    }
    if name == LABELED:
        part["expected"] = {"files": sum(PUBLISHED_COUNTS.values()), "classes": PUBLISHED_COUNTS}
    path = work / "manifests" / f"members-{name}.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump({"dataset": "hyper-kvasir", "parts": [part]}))
    return path


def _home(work: Path, name: str, manifest: Path, exe: Path) -> Cli:
    home = work / "runs" / name
    shutil.rmtree(home, ignore_errors=True)
    home.mkdir(parents=True)
    return Cli(exe, manifest, home)


def _traffic(server: Nginx, mark: int, file: str) -> tuple[int, int, list[Request]]:
    server.wait_idle()
    requests = [r for r in server.requests_since(mark) if r.uri == f"/{file}"]
    return len(requests), sum(r.body_bytes for r in requests), requests


def listing_rows(server: Nginx, cli: Cli, name: str, file: data.DataFile, what: str) -> list[Line]:
    directory, members = _directory_size(file.path)
    mark = server.log_mark()
    first = cli.run("ls", name, "--remote", "--json")
    count, body, requests = _traffic(server, mark, file.path.name)
    listed = json.loads(first.stdout)["count"] if first.succeeded else -1
    limit = directory + END_RECORDS + 64 * 1024
    suffix_first = bool(requests) and requests[0].range.startswith("bytes=-")
    how = "suffix range first" if suffix_first else "no suffix range"
    shape = f"{what}: {members:,} members, directory {human(directory)}"
    lines = [
        Line(
            f"`ls {name} --remote --json` ({shape})",
            f"{first.seconds:.2f} s; {count} requests ({how}), "
            f"{body:,} B ({body - directory:,} B over the directory)",
            "≤ 2 round trips; bytes ≤ end records + directory + 64 KiB",
            first.succeeded and listed == members and body <= limit and suffix_first,
            f"listed {listed:,}; limit {limit:,} B; second round trip = "
            f"{count - 1} ranges at once" + ("" if first.succeeded else f"; {first.failure()}"),
        )
    ]
    mark = server.log_mark()
    again = cli.run("ls", name, "--remote", "--json")
    count, body, requests = _traffic(server, mark, file.path.name)
    statuses = ",".join(str(r.status) for r in requests)
    lines.append(
        Line(
            f"`ls {name} --remote` again ({what})",
            f"{again.seconds:.2f} s; {count} request (HTTP {statuses}), {body:,} B",
            "1 conditional request",
            again.succeeded and count == 1,
        )
    )
    return lines


def _selected(file: data.DataFile) -> tuple[int, int, int]:
    """(members, compressed bytes, archive bytes) of the polyps in ``file``."""
    with zipfile.ZipFile(file.path) as archive:
        polyps = [i for i in archive.infolist() if "/polyps/" in i.filename]
    return len(polyps), sum(i.compress_size for i in polyps), file.size


def _remotezip_python(work: Path) -> Path | None:
    """A virtualenv of its own with remotezip (the peer), made on first use."""
    venv = work / "peers" / "remotezip"
    python = venv / "bin" / "python"
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        installed = subprocess.run(
            [str(python), "-m", "pip", "install", "-q", "remotezip"], check=False
        )
        if installed.returncode != 0:
            return None
    return python


REMOTEZIP_SCRIPT = """
import sys, fnmatch
from remotezip import RemoteZip
url, target = sys.argv[1], sys.argv[2]
with RemoteZip(url) as archive:
    names = [n for n in archive.namelist() if fnmatch.fnmatchcase(n, "*/polyps/*")]
    for name in names:
        archive.extract(name, target)  # zipfile checks each member's CRC-32 as it reads
print(len(names))
"""


def download_rows(
    server: Nginx, work: Path, exe: Path, file: data.DataFile, connections: int, rate: str
) -> list[Line]:
    members, selected, archive = _selected(file)
    directory, _ = _directory_size(file.path)
    manifest = _manifest(work, LABELED, file, server.url(file.path.name, throttled=True), LABELED)
    n = str(connections)
    cli = _home(work, "members-class", manifest, exe)
    mark = server.log_mark()
    ours = cli.run("download", LABELED, "--class", "polyp", "-n", n, "--json")
    count, body, _ = _traffic(server, mark, file.path.name)
    fetched = json.loads(ours.stdout).get("fetched", -1) if ours.succeeded else -1
    whole_cli = _home(work, "members-whole", manifest, exe)
    mark = server.log_mark()
    whole = whole_cli.run("download", LABELED, "-n", n, "--json")
    whole_count, whole_body, _ = _traffic(server, mark, file.path.name)
    # Bytes on the wire of the two runs (the selection's include the directory's).
    byte_ratio = body / whole_body if whole_body else float("nan")
    time_ratio = ours.seconds / whole.seconds if whole.succeeded else float("nan")
    request_limit = max(members // 16, connections)
    lines = [
        Line(
            f"`download {LABELED} --class polyp -n {n}` ({members:,} of 10,664 members, "
            f"{human(selected)} of {human(archive)}; {rate} per connection)",
            f"{ours.seconds:.1f} s; {count} requests; {body:,} B = "
            f"{body / (selected + directory):.3f} x (selected + directory)",
            "bytes ≤ 1.05 x (selected + directory); requests ≤ max(members/16, connections)+1",
            ours.succeeded
            and fetched == members
            and body <= 1.05 * (selected + directory)
            and count <= request_limit + 1,
            f"fetched {fetched:,}; +1 request: the directory's",
        ),
        Line(
            f"the same against the whole archive, `download {LABELED} -n {n}`",
            f"{whole.seconds:.1f} s ({whole_count} requests, {whole_body:,} B); time ratio "
            f"{time_ratio:.3f}, byte ratio on the wire {byte_ratio:.3f} (selected members "
            f"alone: {selected / archive:.3f})",
            "time ratio ≤ 1.2 x byte ratio",
            whole.succeeded and time_ratio <= 1.2 * byte_ratio,
            "nginx sends each request's first second at once (limit_rate), so a short "
            "transfer gains relatively more",
        ),
    ]
    again_mark = server.log_mark()
    again = cli.run("download", LABELED, "--class", "polyp", "-n", n)
    again_count, again_body, _ = _traffic(server, again_mark, file.path.name)
    lines.append(
        Line(
            "the same `download --class polyp` again",
            f"{again.seconds:.2f} s; {again_count} request, {again_body:,} B",
            "1 conditional request",
            again.succeeded and again_count == 1,
        )
    )
    lines.append(_remotezip_line(server, work, file, members, selected))
    lines.append(_kill_line(server, work, exe, manifest, file, members, selected, n))
    return lines


def _remotezip_line(
    server: Nginx, work: Path, file: data.DataFile, members: int, selected: int
) -> Line:
    python = _remotezip_python(work)
    if python is None:
        return Line("remotezip, the same members", "not available", "-", None, "pip failed")
    target = work / "runs" / "remotezip"
    shutil.rmtree(target, ignore_errors=True)
    mark = server.log_mark()
    url = server.url(file.path.name, throttled=True)
    peer = run_command([str(python), "-c", REMOTEZIP_SCRIPT, url, str(target)])
    count, body, _ = _traffic(server, mark, file.path.name)
    return Line(
        "remotezip 0.12 extracting the same members (one connection, as it works)",
        f"{peer.seconds:.1f} s; {count} requests; {body:,} B",
        "(peer)",
        None,
        f"extracted {peer.stdout.strip() or peer.failure()} of {members:,}; "
        f"one request per member, no resume",
    )


def _kill_line(
    server: Nginx,
    work: Path,
    exe: Path,
    manifest: Path,
    file: data.DataFile,
    members: int,
    selected: int,
    n: str,
) -> Line:
    cli = _home(work, "members-kill", manifest, exe)
    tree = cli.data_dir / LABELED
    mark = server.log_mark()

    def a_third_written() -> bool:
        polyps = tree / "lower-gi-tract" / "pathological-findings" / "polyps"
        with contextlib.suppress(OSError):
            return len([p for p in os.listdir(polyps) if p.endswith(".jpg")]) >= members // 3
        return False

    killed = cli.run("download", LABELED, "--class", "polyp", "-n", n, kill_when=a_third_written)
    resumed = cli.run("download", LABELED, "--class", "polyp", "-n", n, "--json")
    _, body, _ = _traffic(server, mark, file.path.name)
    directory, _ = _directory_size(file.path)
    twice = body - selected - directory
    ok = resumed.succeeded and killed.exit_code == -9
    checked = cli.run("checksum", LABELED, "--extracted", "--json")
    ok = ok and checked.succeeded
    return Line(
        "`download --class polyp` killed (SIGKILL) a third of the way, then again",
        f"resumed run {resumed.seconds:.1f} s; fetched twice: {twice:,} B "
        f"({100 * twice / selected:.1f}% of the selection)",
        "complete, CRC-exact (checksum --extracted), little fetched twice",
        ok,
        f"killed run: exit {killed.exit_code} after {killed.seconds:.1f} s",
    )


def steady_rows(
    work: Path, exe: Path, file: data.DataFile, connections: int, rate: int
) -> list[Line]:
    """Ours and remotezip against a server that throttles every response from its first
    byte (tests/http_server.py with its `rate` fault: no first-second burst, unlike
    nginx's limit_rate, which lets a 13 KB member through unthrottled)."""
    from tests.http_server import LocalServer

    members, selected, _ = _selected(file)
    server = LocalServer().start()
    try:
        server.put(file.path.name, file.path.read_bytes())
        server.fault(file.path.name).rate = rate
        url = server.url(file.path.name)
        manifest = _manifest(work, LABELED, file, url, LABELED)
        cli = _home(work, "members-steady", manifest, exe)
        ours = cli.run("download", LABELED, "--class", "polyp", "-n", str(connections), "--json")
        ours_requests = len(server.gets(file.path.name))
        ours_bytes = server.body_bytes(file.path.name)
        server.log.clear()
        python = _remotezip_python(work)
        if python is None:
            return []
        target = work / "runs" / "remotezip-steady"
        shutil.rmtree(target, ignore_errors=True)
        peer = run_command([str(python), "-c", REMOTEZIP_SCRIPT, url, str(target)])
        peer_requests = len(server.gets(file.path.name))
        peer_bytes = server.body_bytes(file.path.name)
    finally:
        server.stop()
    fetched = json.loads(ours.stdout).get("fetched", -1) if ours.succeeded else -1
    return [
        Line(
            f"`download {LABELED} --class polyp -n {connections}`, every response throttled "
            f"from its first byte ({human(rate)}/s, no burst)",
            f"{ours.seconds:.1f} s; {ours_requests} requests; {ours_bytes:,} B",
            "—",
            ours.succeeded and fetched == members,
            f"fetched {fetched:,} of {members:,} ({human(selected)})",
        ),
        Line(
            "remotezip, the same members from the same server",
            f"{peer.seconds:.1f} s; {peer_requests} requests; {peer_bytes:,} B",
            "(peer)",
            None,
            f"extracted {peer.stdout.strip() or peer.failure()}; time ratio ours/remotezip "
            f"{ours.seconds / peer.seconds:.2f}",
        ),
    ]


def table(lines: list[Line]) -> str:
    out = ["| row | figures | target | ok | notes |", "|---|---|---|---|---|"]
    for line in lines:
        mark = "—" if line.ok is None else "✓" if line.ok else "✗"
        out.append(f"| {line.row} | {line.figures} | {line.target} | {mark} | {line.notes} |")
    return "\n".join(out)


@contextlib.contextmanager
def nginx(work: Path, rate: str) -> Iterator[Nginx]:
    binary = shutil.which("nginx") or shutil.which("nginx", path="/usr/sbin:/sbin")
    if binary is None:
        raise SystemExit("nginx is needed (apt-get install nginx)")
    with serve(binary, work / "nginx", work / "www", rate) as server:
        yield server


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--zip-size", default="128M", help="labeled zip size (default 128M)")
    parser.add_argument("--rate", default="256k", help="nginx limit_rate per connection")
    parser.add_argument("--connections", type=int, default=4)
    parser.add_argument("--work", type=Path, default=REPO / "bench" / "work" / "members")
    parser.add_argument("--keep", action="store_true", help="keep the work folder")
    parser.add_argument("--only-steady", action="store_true", help="only the no-burst rows")
    parser.add_argument("--skip-steady", action="store_true", help="leave the no-burst rows out")
    parser.add_argument("--results", type=Path, default=RESULTS, help="where to write the table")
    args = parser.parse_args()
    units = {"K": 2**10, "M": 2**20, "G": 2**30}
    size = int(args.zip_size[:-1]) * units[args.zip_size[-1].upper()]
    work: Path = args.work.resolve()
    exe = Path(sys.executable).parent / "hyperkvasir"
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    started = time.monotonic()
    www = work / "www"
    log(f"making a labeled zip of {human(size)} and a ZIP64 zip of {UNLABELED_IMAGES:,} members")
    labeled = data.labeled_zip(
        www / "hyper-kvasir-labeled-images.zip",
        PUBLISHED_COUNTS,
        size // sum(PUBLISHED_COUNTS.values()),
    )
    unlabeled = _zip64_unlabeled(www / "hyper-kvasir-unlabeled-images.zip")
    lines: list[Line] = []
    try:
        if args.only_steady:
            lines += steady_rows(work, exe, labeled, args.connections, rate_bytes(args.rate))
            return _finish(
                lines, labeled, args.rate, started, RESULTS.with_name("members-steady.md")
            )
        with nginx(work, args.rate) as server:
            log("listing")
            for name, file, root, what in (
                (LABELED, labeled, LABELED, "labeled zip"),
                ("unlabeled-images", unlabeled, "unlabeled-images", "ZIP64"),
            ):
                url = server.url(file.path.name)
                cli = _home(work, f"ls-{name}", _manifest(work, name, file, url, root), exe)
                lines += listing_rows(server, cli, name, file, what)
            log("downloading a class, throttled")
            lines += download_rows(server, work, exe, labeled, args.connections, args.rate)
        if not args.skip_steady:
            log("the same class from a server that throttles from the first byte")
            lines += steady_rows(work, exe, labeled, args.connections, rate_bytes(args.rate))
    finally:
        if not args.keep:
            for folder in ("runs", "nginx", "manifests"):
                shutil.rmtree(work / folder, ignore_errors=True)
    return _finish(lines, labeled, args.rate, started, args.results)


def _finish(
    lines: list[Line], labeled: data.DataFile, rate: str, started: float, results: Path
) -> int:
    text = (
        f"Members on demand, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; load "
        f"average {os.getloadavg()[0]:.2f}; labeled zip {human(labeled.size)} "
        f"(10,664 members at the real paths and per-class counts), throttled port "
        f"{rate}/s per connection; {time.monotonic() - started:.0f} s in all.\n\n"
        + table(lines)
        + "\n"
    )
    print(text)
    results.parent.mkdir(parents=True, exist_ok=True)
    results.write_text(f"# Members on demand: benchmark results\n\n{text}")
    log(f"wrote {results}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
