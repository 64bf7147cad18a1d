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

from hyperkvasir_cli.transfer import connection
from hyperkvasir_cli.transfer.connection import (
    DECIDE_SECONDS,
    FAST_LINK_RATE,
    PROBE_BYTES,
    ConnectionJob,
    SharedState,
    adapt,
)
from hyperkvasir_cli.transfer.range_request import CHUNK_SIZE
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


@pytest.mark.parametrize(
    "rate",
    [
        pytest.param(2 * FAST_LINK_RATE, id="loopback-or-fast-mirror"),
        pytest.param(FAST_LINK_RATE * 1.25, id="just-fast-enough"),
    ],
)
def test_a_link_one_connection_fills_is_fetched_as_one_connection_would(
    rate: float,
    served_large: tuple[Path, bytes],
    http_server: LocalServer,
    data_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    part, asked = download_over_link(served_large, http_server, data_dir, monkeypatch, rate)
    assert part["connections"] == 1
    # The first MiB, then the rest in one request: what `--connections 1` asks.
    assert asked == [(0, PROBE_BYTES - 1), (PROBE_BYTES, LARGE - 1)]
    assert http_server.body_bytes(FILE) == LARGE


@pytest.mark.parametrize(
    "rate",
    [
        pytest.param(8 * MIB, id="mirror-limiting-each-connection"),
        # The real server: a second is a quarter of its first MiB, and that decides it.
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
    # The first connection's request was cut a little ahead of where it was after a
    # second: every byte was taken once (what the server had already pushed past the cut
    # into the sockets' buffers when the connection closed is dropped, never written).
    decided_at = rate * DECIDE_SECONDS
    assert part["bytes_fetched"] == SMALL
    assert SMALL <= http_server.body_bytes(FILE) <= SMALL + 8 * MIB
    later = sorted(asked[1:])
    assert later[0][0] <= decided_at + CHUNK_SIZE + 64 * 1024 < later[-1][0]
    assert later[-1][1] == SMALL - 1


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
        self.preallocated: list[int] = []

    def __call__(self, count: int) -> None:
        self.started.append(count)


class StepClock(FakeClock):
    def monotonic(self) -> float:
        return self.elapsed


def deciding(
    offset: int, monkeypatch: pytest.MonkeyPatch
) -> tuple[ConnectionJob, SharedState, Joiners, StepClock, Segment]:
    """A 1 GiB download whose first connection, alone while the count adapts, is at
    ``offset`` of its request for the whole file."""
    joiners, clock = Joiners(), StepClock()
    # Only what a decision reads of the job: the count asked for, the clock, whom to tell,
    # and the file to preallocate (recorded here, not done: 1 GiB of disk for nothing).
    job = SimpleNamespace(connections=4, add_connections=joiners, clock=clock, fd=-1)
    monkeypatch.setattr(
        connection, "preallocate", lambda fd, size: joiners.preallocated.append(size)
    )
    in_flight = Segment(start=0, end=1024 * MIB, done=offset)
    shared = SharedState(
        sidecar=Sidecar(url="http://mirror/f", size=1024 * MIB, etag='"v1"', segments=[in_flight]),
        deciding=True,
    )
    shared.busy.add(id(in_flight))
    return cast(ConnectionJob, job), shared, joiners, clock, in_flight


@pytest.mark.parametrize(
    ("fetched", "lone"),
    [
        (800 * MIB, True),  # loopback
        (110 * MIB, True),  # a 1 Gbit/s LAN
        (40 * MIB, False),  # nginx's limit_rate 20m: 20 MiB at once, then 20 MiB/s
        (256 * 1024, False),  # the real server
    ],
)
def test_a_second_of_the_first_connection_decides(
    fetched: int, lone: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    job, shared, joiners, clock, in_flight = deciding(fetched, monkeypatch)
    shared.fetched = fetched
    clock.elapsed = 0.99
    adapt(job, shared)
    assert shared.deciding and joiners.started == []  # not before a second
    clock.elapsed = 1.0
    adapt(job, shared)
    assert not shared.deciding and shared.lone is lone
    segments = shared.sidecar.segments
    if lone:
        # Nothing cut, nobody started: the request for the whole file goes on.
        assert joiners.started == [] and joiners.preallocated == [] and segments == [in_flight]
        assert in_flight.end == 1024 * MIB
    else:
        # Cut on a 64 KiB boundary past the write that may be in progress, and the rest
        # shared: three joiners, each with its first piece reserved right after the cut.
        assert joiners.started == [3] and shared.allowed == 4
        assert joiners.preallocated == [1024 * MIB]  # the joiners write out of order
        assert in_flight.end is not None and in_flight.end % (64 * 1024) == 0
        assert fetched + CHUNK_SIZE <= in_flight.end <= fetched + CHUNK_SIZE + 64 * 1024
        reserved = sorted(shared.reserved, key=lambda s: s.start)
        assert reserved[0].start == in_flight.end and len(reserved) == 3
        assert all(a.end == b.start for a, b in itertools.pairwise(segments))
        assert segments[-1].end == 1024 * MIB


def test_a_clock_that_does_not_move_never_decides(monkeypatch: pytest.MonkeyPatch) -> None:
    job, shared, joiners, _, in_flight = deciding(512 * MIB, monkeypatch)
    shared.fetched = 512 * MIB
    for _ in range(100):
        adapt(job, shared)
    assert shared.deciding and not shared.lone and joiners.started == []
    assert shared.sidecar.segments == [in_flight]


def test_the_threshold_is_well_above_a_slow_server_and_below_a_fast_link() -> None:
    # The real server gives 0.2-0.3 MB/s per connection and a lab mirror limited per
    # connection 20 MiB/s: both get every connection; loopback and a 1 Gbit/s LAN
    # link (about 110 MiB/s) one connection fills do not need more.
    assert 20 * MIB < FAST_LINK_RATE < 110 * MIB
