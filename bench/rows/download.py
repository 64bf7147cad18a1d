"""Downloads from the private nginx: unlimited (a fast mirror), throttled like a lab mirror
on a LAN and like the real server, and killed then resumed. Every download is verified:
hyperkvasir checks the sha256 while it fetches; curl is followed by sha256sum and aria2c
runs with --checksum."""

from __future__ import annotations

import dataclasses
import json
import signal
from pathlib import Path

from bench import report
from bench.measure import Contender, Run, Sample
from bench.report import Row, failed_row
from bench.rows.common import aria2c, curl_then_sha256sum, measure, our_download
from bench.workspace import Workspace, human, settle, sha256_of

# hyperkvasir's default (the `connections` setting): a ceiling that adapts to the link.
DEFAULT_CONNECTIONS = 4
RANDOM_PART = "bench-random"


def noting_connections(contender: Contender, used: list[str]) -> Contender:
    """``contender`` (a `download --json`), appending to ``used`` the connections each of
    its runs used, as its JSON says (its stdout is dropped once the run is checked)."""

    def task() -> Run:
        run = contender.task()
        try:
            used.append(str(json.loads(run.stdout)["parts"][0]["connections"]))
        except (ValueError, KeyError, IndexError, TypeError):
            used.append("?")
        return run

    return dataclasses.replace(contender, task=task)


def said(used: list[str]) -> str:
    """ "1" when every run used one connection, else each run's count in turn."""
    return used[0] if len(set(used)) == 1 else ", ".join(used)


def download_rows(ws: Workspace) -> list[Row]:
    """1 GiB from nginx on loopback, unlimited: against curl + sha256sum and aria2c -x4,
    and more connections against one."""
    size = human(ws.settings.size)
    names = (
        f"download vs `curl -o f && sha256sum f` ({size}, unlimited)",
        f"download vs `aria2c -x4 --checksum` ({size}, unlimited)",
        f"download (default connections) vs --connections 1 ({size}, unlimited)",
        f"download --connections 8 vs --connections 1 ({size}, unlimited)",
    )
    if ws.server is None:
        return [failed_row(name, ws.why_no_server) for name in names]
    file = ws.random_file
    manifest = ws.manifest(RANDOM_PART, file)
    url = ws.url(file)
    used: list[str] = []
    samples = measure(
        ws,
        {
            "ours": noting_connections(our_download(ws, RANDOM_PART, file, manifest), used),
            "one": our_download(ws, RANDOM_PART, file, manifest, "--connections", "1"),
            "eight": our_download(ws, RANDOM_PART, file, manifest, "--connections", "8"),
            "curl": curl_then_sha256sum(ws, file, url),
            "aria2c": aria2c(ws, file, url, "-x4"),
        },
    )
    ours, one = samples["ours"], samples["one"]
    default = f"the default (at most {DEFAULT_CONNECTIONS}, adapting): used {said(used)}"
    return [
        Row(names[0], ours, samples["curl"], report.ratio_at_most(0.7), sides=f"{default}; 1"),
        Row(names[1], ours, samples["aria2c"], report.ratio_at_most(1.0), sides=f"{default}; 4"),
        Row(
            names[2],
            ours,
            one,
            report.ratio_at_most(1.0),
            sides=f"{default}; 1 connection",
            notes=("the peer is hyperkvasir with one connection: same runs as above",),
        ),
        Row(
            names[3],
            samples["eight"],
            one,
            report.ratio_at_most(1.0),
            sides="8 connections; 1 connection",
            notes=("both hyperkvasir",),
        ),
    ]


def lan_rows(ws: Workspace) -> list[Row]:
    """A lab mirror on a LAN: nginx at 20 MiB/s per connection, eight connections each."""
    size, rate = human(ws.settings.lan_size), ws.settings.lan_rate_text
    name = f"download --connections 8 vs `aria2c -x8 -s8` ({size}, {rate} per connection)"
    if ws.server is None:
        return [failed_row(name, ws.why_no_server)]
    file = ws.lan_file
    rate_name = ws.settings.lan_rate
    manifest = ws.manifest("bench-lan", file, rate=rate_name)
    samples = measure(
        ws,
        {
            "ours": our_download(ws, "bench-lan", file, manifest, "--connections", "8"),
            "aria2c": aria2c(ws, file, ws.url(file, rate=rate_name), "-x8", "-s8"),
        },
    )
    return [
        Row(
            name,
            samples["ours"],
            samples["aria2c"],
            report.ratio_at_most(1.0),
            sides="8; 8",
            notes=("aria2c with --checksum",),
        )
    ]


def throttled_rows(ws: Workspace) -> list[Row]:
    """The real server's pace, scaled: 1 MiB/s per connection."""
    size, rate = human(ws.settings.throttled_size), ws.settings.rate_text
    names = (
        f"download --connections 8 vs `aria2c -x8 -s8` ({size}, {rate} per connection)",
        f"download --connections 8 vs `curl -o f && sha256sum f` ({size}, {rate})",
    )
    if ws.server is None:
        return [failed_row(name, ws.why_no_server) for name in names]
    file = ws.throttled_file
    manifest = ws.manifest("bench-throttled", file, throttled=True)
    url = ws.url(file, throttled=True)
    samples = measure(
        ws,
        {
            "ours": our_download(ws, "bench-throttled", file, manifest, "--connections", "8"),
            "aria2c": aria2c(ws, file, url, "-x8", "-s8", "-k1M"),
            "curl": curl_then_sha256sum(ws, file, url),
        },
    )
    ours = samples["ours"]
    aria_note = "aria2c -k1M, so a small file is split 8 ways as a 3.9 GB one is; with --checksum"
    return [
        Row(
            names[0],
            ours,
            samples["aria2c"],
            report.ratio_at_most(1.1),
            notes=(aria_note,),
            sides="8; 8",
        ),
        Row(
            names[1],
            ours,
            samples["curl"],
            report.times_faster(5),
            notes=("same runs as above",),
            sides="8; 1",
        ),
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
    """Eight connections killed at half way, then four: what the resume asked nginx for,
    against what was missing (the sidecar's count at the kill)."""
    size = human(ws.settings.throttled_size)
    name = f"download --connections 8 killed at half, then --connections 4 ({size}, throttled)"
    if ws.server is None:
        return [failed_row(name, ws.why_no_server)]
    server, file = ws.server, ws.throttled_file
    cli = ws.cli("resume", ws.manifest("bench-throttled", file, throttled=True))
    download = ("download", "bench-throttled", "--json", "--connections")
    sidecar = cli.archive(file).with_name(file.path.name + ".part.json")
    server.wait_idle()
    settle()
    first = cli.run(*download, "8", kill_when=lambda: _segments_done(sidecar) >= file.size // 2)
    if first.exit_code != -signal.SIGKILL:
        why = first.failure() if not first.succeeded else "it finished before reaching half way"
        return [failed_row(name, f"could not kill the download at half way: {why}")]
    server.wait_idle()
    missing = file.size - _segments_done(sidecar)
    mark = server.log_mark()
    second = cli.run(*download, "4")
    if not second.succeeded:
        return [failed_row(name, second.failure())]
    idle = server.wait_idle()
    served = sum(r.body_bytes for r in server.requests_since(mark) if r.uri == f"/{file.path.name}")
    final = cli.archive(file)
    intact = final.is_file() and sha256_of(final) == file.sha256
    ratio = served / missing if missing else float("inf")
    notes = [
        f"time of the resumed run; killed at {100 * (file.size - missing) / file.size:.0f}% "
        f"after {first.seconds:.1f} s",
        f"the resume was served {human(served)} for {human(missing)} missing",
        "sha256 ok" if intact else "sha256 WRONG",
    ]
    if not idle:
        notes.append("nginx still had open connections: the count may be low")
    return [
        Row(
            name,
            Sample((_with_memory_of(second, first),)),
            None,
            report.Target("≤ 1.05 x missing, sha256 ok", lambda value: value <= 1.05),
            value=ratio if intact else float("inf"),
            value_text=f"{ratio:.3f} x missing",
            notes=tuple(notes),
            sides="8, then 4; —",
        )
    ]


GROUPS = {
    "download": download_rows,
    "lan": lan_rows,
    "throttled": throttled_rows,
    "resume": resume_rows,
}
