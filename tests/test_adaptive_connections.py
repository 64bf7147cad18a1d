"""The number of connections adapts when the user left it to its default: the first
connection fetches alone for a second, and its rate says whether the link is one it fills
(loopback, a LAN, a fast mirror: more connections only cost CPU there) or one that limits
each connection (the others join). A count the user chose (option, environment, config
file) is used as it is.

Rates are measured with the session's clock. :class:`LinkClock` makes time the bytes the
server has sent divided by a link rate, so a test runs at full speed while the program
sees the link it describes. Nothing waits."""

from __future__ import annotations

import hashlib
import itertools
from pathlib import Path
from types import SimpleNamespace
from typing import cast

import pytest

from hyperkvasir_cli.transfer.connection import (
    DECIDE_SECONDS,
    FAST_LINK_RATE,
    PROBE_BYTES,
    ConnectionJob,
    ConnectionWorker,
    SharedState,
)
from hyperkvasir_cli.transfer.segments import MAX_PIECE
from hyperkvasir_cli.transfer.sidecar import Segment, Sidecar
from tests.cli import run_cli
from tests.conftest import FakeClock
from tests.downloads import archive, part_entry, random_bytes, write_manifest
from tests.http_server import LocalServer

FILE = "hyper-kvasir-labeled-images.zip"
MIB = 1024 * 1024
SMALL = 24 * MIB
LARGE = 96 * MIB


class LinkClock(FakeClock):
    """Time as a link of ``rate`` bytes per second makes it: the file's bytes the server
    has sent so far, over the rate."""

    def __init__(self, server: LocalServer, rate: float) -> None:
        super().__init__()
        self.server, self.rate = server, rate

    def monotonic(self) -> float:
        return self.elapsed + self.server.body_bytes(FILE) / self.rate


def use_clock(monkeypatch: pytest.MonkeyPatch, clock: FakeClock) -> None:
    from hyperkvasir_cli.cli import runtime

    monkeypatch.setattr(runtime, "clock_factory", lambda: clock)


def serve(tmp_path: Path, server: LocalServer, size: int) -> tuple[Path, bytes]:
    content = random_bytes(size, seed=41)
    server.put(FILE, content)
    manifest = write_manifest(
        tmp_path / "manifest.yaml",
        [part_entry("labeled-images", FILE, [server.url(FILE)], content)],
    )
    return manifest, content


@pytest.fixture
def served(tmp_path: Path, http_server: LocalServer) -> tuple[Path, bytes]:
    """A file of SMALL bytes: enough for several pieces."""
    return serve(tmp_path, http_server, SMALL)


@pytest.fixture
def served_large(tmp_path: Path, http_server: LocalServer) -> tuple[Path, bytes]:
    """A file of LARGE bytes: more than a second's worth at FAST_LINK_RATE."""
    return serve(tmp_path, http_server, LARGE)


def ranges_asked(server: LocalServer) -> list[tuple[int, int]]:
    """(first, last) of every GET of the file, in the order they were asked."""
    asked = []
    for request in server.log:
        if request.method == "GET" and request.path == "/" + FILE:
            assert request.range is not None and request.range.startswith("bytes=")
            first, last = request.range[len("bytes=") :].split("-")
            asked.append((int(first), int(last)))
    return asked


def download(manifest: Path, data_dir: Path, *options: str) -> dict[str, object]:
    result = run_cli("download", "labeled-images", "--manifest", str(manifest), *options, "--json")
    assert result.exit_code == 0, result.stderr
    (part,) = result.json()["parts"]
    assert isinstance(part, dict)
    return part


def same_file(data_dir: Path, content: bytes) -> bool:
    digest = hashlib.sha256(archive(data_dir, FILE).read_bytes()).digest()
    return digest == hashlib.sha256(content).digest()


def download_over_link(
    served: tuple[Path, bytes],
    server: LocalServer,
    data_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
    rate: float,
) -> tuple[dict[str, object], list[tuple[int, int]]]:
    """Download the served file over a link of ``rate`` bytes a second: the part's report
    and the ranges asked, once the file is known to be the one served."""
    manifest, content = served
    use_clock(monkeypatch, LinkClock(server, rate=rate))
    part = download(manifest, data_dir)
    assert same_file(data_dir, content)
    return part, ranges_asked(server)


def test_a_link_one_connection_fills_is_fetched_over_one_connection(
    served_large: tuple[Path, bytes],
    http_server: LocalServer,
    data_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    part, asked = download_over_link(
        served_large, http_server, data_dir, monkeypatch, 2 * FAST_LINK_RATE
    )
    assert part["connections"] == 1
    assert asked[0] == (0, PROBE_BYTES - 1)
    # Pieces while it decides (a second's worth: 128 MiB would do, the file has 96), then
    # nothing more to decide: no byte asked for twice, none missed, in order.
    assert all(a[1] + 1 == b[0] for a, b in itertools.pairwise(asked))
    assert asked[-1][1] == LARGE - 1


def test_once_a_second_showed_a_fast_link_the_rest_is_one_request(
    served_large: tuple[Path, bytes],
    http_server: LocalServer,
    data_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    rate = FAST_LINK_RATE * 1.25  # 80 MiB/s: decided after about 80 of the 96 MiB
    part, asked = download_over_link(served_large, http_server, data_dir, monkeypatch, rate)
    assert part["connections"] == 1
    assert all(a[1] + 1 == b[0] for a, b in itertools.pairwise(asked))
    last_first, last_end = asked[-1]
    assert last_end == LARGE - 1
    # The last request started once a second had gone and asked for everything left.
    assert last_first >= rate * DECIDE_SECONDS
    # Pieces sized to end that second, not for four connections: few requests in all.
    assert all(b - a + 1 <= MAX_PIECE for a, b in asked[:-1]) and len(asked) <= 4


@pytest.mark.parametrize(
    "rate",
    [
        pytest.param(8 * MIB, id="mirror-limiting-each-connection"),
        # The real server: its first MiB takes four seconds, and that decides it.
        pytest.param(256 * 1024, id="slow-server"),
    ],
)
def test_a_link_one_connection_cannot_fill_lets_the_others_join(
    rate: int,
    served: tuple[Path, bytes],
    http_server: LocalServer,
    data_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    part, asked = download_over_link(served, http_server, data_dir, monkeypatch, rate)
    assert part["connections"] == 4  # the default
    assert asked[0] == (0, PROBE_BYTES - 1)
    ordered = sorted(asked)
    assert all(a[1] + 1 == b[0] for a, b in itertools.pairwise(ordered))
    assert ordered[-1][1] == SMALL - 1


@pytest.mark.parametrize(
    "how",
    ["option", "environment", "config file"],
)
def test_a_count_the_user_chose_is_used_as_it_is_even_on_a_fast_link(
    how: str,
    served: tuple[Path, bytes],
    http_server: LocalServer,
    data_dir: Path,
    config_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    manifest, content = served
    options: tuple[str, ...] = ()
    if how == "option":
        options = ("--connections", "3")
    elif how == "environment":
        monkeypatch.setenv("HYPERKVASIR_CONNECTIONS", "3")
    else:
        config_path.parent.mkdir(parents=True, exist_ok=True)
        held = config_path.read_text() if config_path.exists() else ""
        config_path.write_text(held + "connections: 3\n")
    use_clock(monkeypatch, LinkClock(http_server, rate=4 * FAST_LINK_RATE))
    part = download(manifest, data_dir, *options)
    assert part["connections"] == 3
    assert same_file(data_dir, content)
    assert len(ranges_asked(http_server)) > 3


class Joiners:
    """What a decision started: the number of connections asked to join."""

    def __init__(self) -> None:
        self.started: list[int] = []

    def __call__(self, count: int) -> None:
        self.started.append(count)


def deciding_worker(connections: int = 4) -> tuple[ConnectionWorker, SharedState, Joiners]:
    joiners = Joiners()
    # Only what a decision reads of the job: the count asked for, and whom to tell.
    job = SimpleNamespace(connections=connections, add_connections=joiners, clock=FakeClock())
    sidecar = Sidecar(
        url="http://mirror/f",
        size=1024 * MIB,
        etag='"v1"',
        segments=[Segment(start=0, end=MIB, done=MIB), Segment(start=MIB, end=1024 * MIB)],
    )
    shared = SharedState(sidecar=sidecar, deciding=True, deciding_since=0.0)
    worker = ConnectionWorker(cast(ConnectionJob, job), shared, probe=False)
    return worker, shared, joiners


@pytest.mark.parametrize(
    ("pieces", "lone"),
    [
        # loopback: 64 MiB pieces in 0.08 s each, a second's worth decides
        ([(64 * MIB, 0.08)] * 13, True),
        # a 1 Gbit/s LAN: 110 MiB/s
        ([(MIB, 0.01), (32 * MIB, 0.29), (64 * MIB, 0.58), (64 * MIB, 0.58)], True),
        # nginx's limit_rate 20m: its first 20 MiB come at once, then 20 MiB/s
        ([(MIB, 0.001), (16 * MIB, 0.01), (32 * MIB, 0.75), (64 * MIB, 3.2)], False),
        # the real server: the first MiB alone takes four seconds
        ([(MIB, 4.0)], False),
    ],
)
def test_a_second_of_the_first_connection_decides(
    pieces: list[tuple[int, float]], lone: bool
) -> None:
    worker, shared, joiners = deciding_worker()
    now = 0.0
    for moved, seconds in pieces:
        assert shared.deciding
        now += seconds
        worker._decide(moved, now)
    assert not shared.deciding  # decided with the last piece, not before
    assert shared.lone is lone
    if lone:
        assert shared.allowed == 1 and joiners.started == [0]
        assert worker._connections() == 1
    else:
        assert joiners.started == [3] and shared.allowed == 4


def test_a_clock_that_does_not_move_never_decides() -> None:
    worker, shared, joiners = deciding_worker()
    for _ in range(100):
        worker._decide(64 * MIB, 0.0)
    assert worker._deciding_piece() == MAX_PIECE  # the rest in few requests
    assert shared.deciding and not shared.lone and joiners.started == []


def test_the_threshold_is_well_above_a_slow_server_and_below_a_fast_link() -> None:
    # The real server gives 0.2-0.3 MB/s per connection and a lab mirror limited per
    # connection 20 MiB/s: both get every connection; loopback and a 1 Gbit/s LAN
    # link (about 110 MiB/s) one connection fills do not need more.
    assert 20 * MIB < FAST_LINK_RATE < 110 * MIB
