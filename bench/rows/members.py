"""Members on demand: `ls --remote` and `download --class` on the wire (issue 13).

Bytes and requests come from nginx's access log, not from our own report. The listing
rows use the 10,662-image zip (the real directory's shape) and a ZIP64 zip of 99,417
members; the download rows use the zip of real-size members (~370 KB), from the throttled
port, against the whole archive with the same connections and against remotezip (in a
virtualenv of its own under the work folder). `bench/members.py` runs the same rows on
their own, with a few more (see its docstring).
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

from bench import members as m
from bench import report
from bench.measure import Run, Sample, run_command
from bench.nginx import Nginx
from bench.report import Row, Target
from bench.workspace import LABELED, Workspace, fresh, log

CONNECTIONS = 4


def _sample(run: Run) -> Sample:
    return Sample((run,)) if run.succeeded else Sample((run,), run.failure())


def _listing(
    ws: Workspace, server: Nginx, name: str, file: m.data.DataFile, what: str
) -> list[Row]:
    directory, members = m._directory_size(file.path)
    manifest = m._manifest(ws.settings.work, name, file, server.url(file.path.name), name)
    cli = ws.cli(f"members-ls-{name}", manifest)
    mark = server.log_mark()
    first = cli.run("ls", name, "--remote", "--json")
    count, body, requests = m._traffic(server, mark, file.path.name)
    listed = json.loads(first.stdout)["count"] if first.succeeded else -1
    over = (body - directory) / 1024
    suffix = bool(requests) and requests[0].range.startswith("bytes=-")
    rows = [
        Row(
            f"`ls {name} --remote --json` ({what}: {members:,} members, directory {directory:,} B)",
            _sample(first),
            target=Target("≤ +64 KiB over the directory", lambda kib: kib <= 64),
            value=over if listed == members and suffix else float("inf"),
            value_text=f"+{over:.1f} KiB",
            notes=(f"{count} requests (the tail by suffix range, then the directory at once)",),
        )
    ]
    mark = server.log_mark()
    again = cli.run("ls", name, "--remote", "--json")
    count, body, requests = m._traffic(server, mark, file.path.name)
    statuses = ",".join(str(r.status) for r in requests)
    rows.append(
        Row(
            f"`ls {name} --remote` again ({what})",
            _sample(again),
            target=Target("1 request", lambda n: n == 1),
            value=float(count),
            value_text=f"{count} request",
            notes=(f"HTTP {statuses}, {body} B",),
        )
    )
    return rows


def listing_rows(ws: Workspace) -> list[Row]:
    if ws.server is None:
        return [report.failed_row("ls --remote", ws.why_no_server)]
    log("making a ZIP64 zip of 99,417 members")
    unlabeled = m._zip64_unlabeled(ws.www / "hyper-kvasir-unlabeled-images.zip")
    return _listing(ws, ws.server, LABELED, ws.labeled_zip, "labeled zip") + _listing(
        ws, ws.server, "unlabeled-images", unlabeled, "ZIP64"
    )


def download_rows(ws: Workspace) -> list[Row]:
    server = ws.server
    if server is None:
        return [report.failed_row("download --class", ws.why_no_server)]
    file = ws.real_zip
    members, selected, archive = m._selected(file)
    directory, _ = m._directory_size(file.path)
    manifest = ws.manifest(LABELED, file, throttled=True)
    n = str(CONNECTIONS)
    mark = server.log_mark()
    ours = ws.cli("members-class", manifest).run(
        "download", LABELED, "--class", "polyp", "-n", n, "--json"
    )
    count, body, _ = m._traffic(server, mark, file.path.name)
    mark = server.log_mark()
    whole = ws.cli("members-whole", manifest).run("download", LABELED, "-n", n, "--json")
    _, whole_body, _ = m._traffic(server, mark, file.path.name)
    byte_ratio = body / whole_body if whole_body else float("nan")
    wire = body / (selected + directory)
    rows = [
        Row(
            f"`download {LABELED} --class polyp -n {n}`, throttled ({members} of "
            f"{sum(ws.real_counts.values()):,} real-size members)",
            _sample(ours),
            target=Target("≤ 1.05 x (selected + directory)", lambda r: r <= 1.05),
            value=wire,
            value_text=f"{wire:.3f} x",
            notes=(f"{count} requests, {body:,} B",),
            sides=n,
        ),
        Row(
            f"`download --class polyp` vs the whole archive, same connections ({archive:,} B)",
            _sample(ours),
            _sample(whole),
            target=Target("≤ 1.2 x the byte ratio", lambda r: r <= 1.2),
            value=(ours.seconds / whole.seconds) / byte_ratio if whole.succeeded else None,
            value_text=f"time {ours.seconds / whole.seconds:.3f} / bytes {byte_ratio:.3f}"
            if whole.succeeded
            else None,
            sides=f"{n}; {n}",
        ),
    ]
    rows.append(_remotezip_row(ws, server, file, ours, members))
    rows.append(_kill_row(ws, server, file, manifest, members, selected + directory))
    return rows


def _remotezip_row(
    ws: Workspace, server: Nginx, file: m.data.DataFile, ours: Run, members: int
) -> Row:
    python = m._remotezip_python(ws.settings.work)
    name = "`download --class polyp` vs remotezip, the same members, throttled"
    if python is None:
        return report.failed_row(name, "pip could not install remotezip")
    target = fresh(ws.runs / "remotezip")
    mark = server.log_mark()
    url = server.url(file.path.name, throttled=True)
    peer = run_command([str(python), "-c", m.REMOTEZIP_SCRIPT, url, str(target)])
    count, _, _ = m._traffic(server, mark, file.path.name)
    return Row(
        name,
        _sample(ours),
        _sample(peer),
        notes=(
            f"remotezip: {count} requests (one per member), no resume; nginx lets each "
            "request's first second through unthrottled",
            f"extracted {peer.stdout.strip()} of {members}",
        ),
        sides=f"{CONNECTIONS}; 1",
    )


def _kill_row(
    ws: Workspace, server: Nginx, file: m.data.DataFile, manifest: Path, members: int, once: int
) -> Row:
    cli = ws.cli("members-kill", manifest)
    polyps = cli.tree / "lower-gi-tract" / "pathological-findings" / "polyps"

    def a_third_written() -> bool:
        try:
            return len([p for p in os.listdir(polyps) if p.endswith(".jpg")]) >= members // 3
        except OSError:
            return False

    n = str(CONNECTIONS)
    mark = server.log_mark()
    killed = cli.run("download", LABELED, "--class", "polyp", "-n", n, kill_when=a_third_written)
    resumed = cli.run("download", LABELED, "--class", "polyp", "-n", n)
    _, body, _ = m._traffic(server, mark, file.path.name)
    checked = cli.run("checksum", LABELED, "--extracted")
    twice = 100 * max(0, body - once) / once
    ok = killed.exit_code == -9 and checked.succeeded
    shutil.rmtree(cli.home, ignore_errors=True)
    return Row(
        "`download --class polyp` killed (SIGKILL) a third of the way, then again",
        _sample(resumed),
        target=report.percent_at_most(5),
        value=twice if ok else float("inf"),
        value_text=f"{twice:.2f}% re-fetched",
        notes=(
            f"killed after {killed.seconds:.1f} s; checksum --extracted "
            f"{'ok' if checked.succeeded else 'failed'}",
        ),
        sides=n,
    )


GROUPS = {"members-ls": listing_rows, "members-download": download_rows}
