"""Every ranged request asks for a known piece (`bytes=a-b`) and no piece is asked for twice:
after a kill, a resume with more connections fetches what was missing and little more."""

from __future__ import annotations

import hashlib
import itertools
import json
import re
from pathlib import Path

from tests.child import Child
from tests.cli import run_cli
from tests.conftest import FakeClock
from tests.downloads import archive, part_entry, random_bytes, write_manifest
from tests.http_server import LocalServer

FILE = "hyper-kvasir-labeled-images.zip"
MIB = 1024 * 1024
CLOSED_RANGE = re.compile(r"^bytes=(\d+)-(\d+)$")


def recorded(sidecar: Path) -> int:
    """Bytes the sidecar counts as on disk (0 while it is absent or being replaced)."""
    try:
        return sum(s["done"] for s in json.loads(sidecar.read_text())["segments"])
    except (OSError, ValueError, KeyError):
        return 0


def closed_ranges(server: LocalServer, since: int) -> list[tuple[int, int]]:
    """The byte ranges (first, last) of the file's GETs logged after ``since``; every one
    must be closed and carry If-Range."""
    ranges = []
    for request in server.log[since:]:
        if request.method != "GET" or request.path != "/" + FILE:
            continue
        assert request.range is not None, "a request without Range"
        match = CLOSED_RANGE.match(request.range)
        assert match, f"an open-ended range: {request.range}"
        first, last = int(match[1]), int(match[2])
        assert first == 0 or request.if_range, f"{request.range} without If-Range"
        ranges.append((first, last))
    return ranges


def test_a_resume_with_more_connections_fetches_only_what_was_missing(
    tmp_path: Path,
    http_server: LocalServer,
    data_dir: Path,
    config_path: Path,
    fake_clock: FakeClock,
) -> None:
    size = 24 * MIB
    content = random_bytes(size, seed=16)
    http_server.put(FILE, content)
    manifest = write_manifest(
        tmp_path / "manifest.yaml",
        [part_entry("labeled-images", FILE, [http_server.url(FILE)], content)],
    )
    # Two connections at a slow pace, killed at about a quarter: large pieces stay unfinished.
    faults = http_server.fault(FILE)
    faults.rate = 8 * MIB
    env = {"HYPERKVASIR_DATA_DIR": str(data_dir), "HYPERKVASIR_CONFIG": str(config_path)}
    argv = ["download", "labeled-images", "--manifest", str(manifest), "-n", "2"]
    child = Child(*argv, env=env)
    sidecar = data_dir / "archives" / f"{FILE}.part.json"
    try:
        child.wait_for(lambda: recorded(sidecar) >= size // 4, "a quarter of the file recorded")
        child.kill()
    finally:
        child.close()
    missing = size - recorded(sidecar)
    assert 0 < missing < size
    faults.rate = None
    mark = len(http_server.log)

    result = run_cli("download", "labeled-images", "--manifest", str(manifest), "-n", "4", "--json")

    assert result.exit_code == 0, result.stderr
    assert (
        hashlib.sha256(archive(data_dir, FILE).read_bytes()).digest()
        == hashlib.sha256(content).digest()
    )
    assert result.json()["parts"][0]["connections"] == 4
    ranges = sorted(closed_ranges(http_server, mark))
    assert len(ranges) >= 4
    # No byte asked for twice, and only what the sidecar did not count as on disk.
    assert all(a[1] < b[0] for a, b in itertools.pairwise(ranges))
    asked = sum(last - first + 1 for first, last in ranges)
    assert asked == missing
    sent = sum(r.body_bytes for r in http_server.log[mark:] if r.path == "/" + FILE)
    assert sent <= missing * 1.05
