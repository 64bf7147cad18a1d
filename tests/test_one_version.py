"""A download is always wholly one version of the file, whatever the server does.

End to end against the local server: a server that sends no validators (no ETag, no
Last-Modified), and a cache that honours Range whatever If-Range says. In every test the
file changes between (or during) runs with the same size, the manifest pins no sha256 (so
a spliced file would be accepted and recorded), and the bytes on disk are compared with
the one version that must be there. Without validators, a continuation within a run asks
again for the OVERLAP_BYTES before its offset and compares them: the tests check the
ranges asked for, so that a drop costs no byte fetched, and that a change is caught.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from hyperkvasir_cli.transfer.connection import PROBE_BYTES
from hyperkvasir_cli.transfer.resume import OVERLAP_BYTES
from tests.cli import Result, run_cli
from tests.conftest import FakeClock
from tests.downloads import archive, leftovers, part_entry, write_manifest, zip_bytes
from tests.http_server import LocalServer
from tests.same import assert_same_bytes

FILE = "hyper-kvasir-segmented-images.zip"
PART = "segmented-images"
SIZE = 2 * 1024 * 1024 + 321
HALF = SIZE // 2


class Site:
    """One part on the local server, described by a manifest that pins only its size."""

    def __init__(self, server: LocalServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
        self.server = server
        self.manifest = tmp_path / "manifest.yaml"
        self.monkeypatch = monkeypatch
        entry = part_entry(PART, FILE, [server.url(FILE)], zip_bytes(SIZE), pin_sha=False)
        write_manifest(self.manifest, [entry])

    def serve(self, content: bytes, *, validators: bool = True, etag: bool = True) -> None:
        self.server.put(
            FILE, content, etag_enabled=validators and etag, last_modified_enabled=validators
        )

    def download(self, *args: str, connections: int = 1) -> Result:
        return run_cli(
            "download", PART, "--manifest", str(self.manifest), "-n", str(connections), *args
        )

    def interrupted_at_half(self) -> None:
        """A first run that stops at half the file, leaving the partial for the next."""
        self.monkeypatch.setenv("HYPERKVASIR_RETRIES", "0")
        faults = self.server.fault(FILE)
        faults.drop_after, faults.drops_left = HALF, 1
        first = self.download()
        assert first.exit_code == 4, first.stderr
        self.monkeypatch.delenv("HYPERKVASIR_RETRIES")
        # Only the partial and its sidecar: the final name appears only once verified.
        assert leftovers(self.data_dir) == [f"{FILE}.part", f"{FILE}.part.json"]

    @property
    def data_dir(self) -> Path:
        return Path(os.environ["HYPERKVASIR_DATA_DIR"])

    def gets_since(self, index: int) -> list[tuple[str | None, str | None, int]]:
        """(Range, If-Range, status) of every GET after the first ``index`` requests."""
        return [
            (r.range, r.if_range, r.status) for r in self.server.log[index:] if r.method == "GET"
        ]


@pytest.fixture
def site(
    http_server: LocalServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fake_clock: FakeClock
) -> Site:
    return Site(http_server, tmp_path, monkeypatch)


OLD = zip_bytes(SIZE, seed=1)
NEW = zip_bytes(SIZE, seed=2)  # the same size: only the bytes tell the versions apart


# A server without validators -----------------------------------------------------------


@pytest.mark.parametrize("changed", [True, False], ids=["file-changed", "file-unchanged"])
def test_without_validators_a_partial_is_never_continued(site: Site, changed: bool) -> None:
    site.serve(OLD, validators=False)
    site.interrupted_at_half()
    current = NEW if changed else OLD
    site.serve(current, validators=False)
    before = len(site.server.log)
    result = site.download("--json")
    assert result.exit_code == 0, result.stderr
    assert_same_bytes(archive(site.data_dir, FILE), current)
    # Nothing from the first run was kept: this run asked for the file from byte 0.
    first_range = site.gets_since(before)[0][0]
    assert first_range is None or first_range.startswith("bytes=0-"), first_range
    (outcome,) = result.json()["parts"]
    # Every byte once, and the overlap that the request after the first one compared.
    assert (outcome["resumed_from"], outcome["bytes_fetched"]) == (0, SIZE + OVERLAP_BYTES)
    assert "cannot be pinned to one version" in result.stderr


# Ranges: the first request, and a continuation from byte N with its overlap.
FIRST = f"bytes=0-{PROBE_BYTES - 1}"


def continued_from(offset: int) -> str:
    return f"bytes={offset - OVERLAP_BYTES}-{SIZE - 1}"


def test_without_validators_a_drop_mid_run_gives_one_version(site: Site) -> None:
    """The file changes on the server at the very byte where the connection drops."""
    site.serve(OLD, validators=False)
    faults = site.server.fault(FILE)
    faults.replace_after_bytes = (HALF, NEW)
    faults.drop_after, faults.drops_left = HALF, 1
    result = site.download("--json")
    assert result.exit_code == 0, result.stderr
    assert_same_bytes(archive(site.data_dir, FILE), NEW)
    # The retry compared the bytes before the drop, found another version, started over.
    assert [r for r, _, _ in site.gets_since(0)] == [
        FIRST,
        continued_from(PROBE_BYTES),
        continued_from(HALF),  # NEW's bytes: not appended
        FIRST,
        continued_from(PROBE_BYTES),
    ]
    (said,) = [line for line in result.stderr.splitlines() if "starting over" in line]
    assert f"changed on the server: the {OVERLAP_BYTES} bytes before byte {HALF}" in said
    assert result.json()["parts"][0]["restarts"] == 1


def test_without_validators_a_drop_costs_no_byte_already_fetched(site: Site) -> None:
    site.serve(OLD, validators=False)
    faults = site.server.fault(FILE)
    faults.drop_after, faults.drops_left = HALF, 1
    result = site.download("--json")
    assert result.exit_code == 0, result.stderr
    assert_same_bytes(archive(site.data_dir, FILE), OLD)
    # The retry asked for the rest and the overlap before it, nothing more.
    ranges = [r for r, _, _ in site.gets_since(0)]
    assert ranges == [FIRST, continued_from(PROBE_BYTES), continued_from(HALF)]
    sent = site.server.body_bytes(FILE)
    (outcome,) = result.json()["parts"]
    assert sent == outcome["bytes_fetched"] == SIZE + 2 * OVERLAP_BYTES
    assert (outcome["restarts"], outcome["resumed_from"]) == (0, 0)


def test_without_validators_a_change_after_the_first_request_is_caught(site: Site) -> None:
    """The file changes between the first request (the first MiB) and the next one."""
    site.serve(OLD, validators=False)
    site.server.fault(FILE).replace_after_bytes = (PROBE_BYTES, NEW)
    result = site.download("--json")
    assert result.exit_code == 0, result.stderr
    assert_same_bytes(archive(site.data_dir, FILE), NEW)
    assert [r for r, _, _ in site.gets_since(0)] == [FIRST, continued_from(PROBE_BYTES)] * 2
    assert result.json()["parts"][0]["restarts"] == 1
    assert f"the {OVERLAP_BYTES} bytes before byte {PROBE_BYTES}" in result.stderr


def test_without_validators_several_connections_become_one_and_say_why(site: Site) -> None:
    """A piece of another connection would start where nothing is on disk to compare
    with: the file changes while the first request runs, and no other version gets in."""
    site.serve(OLD, validators=False)
    site.server.fault(FILE).replace_after_bytes = (PROBE_BYTES // 2, NEW)
    result = site.download("--json", connections=4)
    assert result.exit_code == 0, result.stderr
    assert_same_bytes(archive(site.data_dir, FILE), NEW)
    # One request at a time, each continuation with its overlap.
    assert [r for r, _, _ in site.gets_since(0)] == [FIRST, continued_from(PROBE_BYTES)] * 2
    (outcome,) = result.json()["parts"]
    assert (outcome["connections"], outcome["restarts"]) == (1, 1)
    notes = [line for line in result.stderr.splitlines() if "one connection" in line]
    assert len(notes) == 2  # said for each start, the first and the one after the change
    assert "sends no ETag or Last-Modified" in notes[0]


def test_with_validators_several_connections_still_share_the_file(site: Site) -> None:
    site.serve(OLD)
    result = site.download("--json", connections=4)
    assert result.exit_code == 0, result.stderr
    assert_same_bytes(archive(site.data_dir, FILE), OLD)
    assert result.json()["parts"][0]["connections"] > 1
    assert "one connection" not in result.stderr
    # No overlap: no byte crosses the wire twice.
    assert site.server.body_bytes(FILE) == SIZE


# A cache that honours Range whatever If-Range says -----------------------------------------


@pytest.mark.parametrize("etag", [True, False], ids=["etag", "last-modified-only"])
def test_a_206_of_another_version_starts_over_never_appended(site: Site, etag: bool) -> None:
    site.serve(OLD, etag=etag)
    site.interrupted_at_half()
    site.serve(NEW, etag=etag)  # new validators, same size
    site.server.fault(FILE).ignore_if_range = True
    before = len(site.server.log)
    result = site.download("--json")
    assert result.exit_code == 0, result.stderr
    assert_same_bytes(archive(site.data_dir, FILE), NEW)
    # The cache really answered the stale If-Range with a 206 from its new copy...
    resumed = site.gets_since(before)[0]
    assert (resumed[0] or "").startswith(f"bytes={HALF}-") and resumed[1] and resumed[2] == 206
    # ...and that 206 was not appended: the download started over.
    (outcome,) = result.json()["parts"]
    assert (outcome["action"], outcome["resumed_from"]) == ("restarted", 0)
    (said,) = [line for line in result.stderr.splitlines() if "starting over" in line]
    assert "changed on the server" in said


def test_a_change_mid_run_behind_such_a_cache_gives_one_version(site: Site) -> None:
    site.serve(OLD)
    faults = site.server.fault(FILE)
    faults.ignore_if_range = True
    faults.replace_after_bytes = (HALF, NEW)
    faults.drop_after, faults.drops_left = HALF, 1
    result = site.download("--json")
    assert result.exit_code == 0, result.stderr
    assert_same_bytes(archive(site.data_dir, FILE), NEW)
    assert any(status == 206 and if_range for _, if_range, status in site.gets_since(1))
    assert result.json()["parts"][0]["restarts"] == 1


def test_a_206_that_starts_elsewhere_than_asked_is_never_appended(site: Site) -> None:
    """A broken proxy answers the resumed request with bytes from further on."""
    site.serve(OLD)
    site.interrupted_at_half()
    site.server.fault(FILE).misplace_range_once = 4096
    result = site.download("--json")
    assert result.exit_code == 0, result.stderr
    assert_same_bytes(archive(site.data_dir, FILE), OLD)
    (said,) = [line for line in result.stderr.splitlines() if "starting over" in line]
    assert f"206 starts at {HALF + 4096}, asked for {HALF}" in said
    assert result.json()["parts"][0]["resumed_from"] == 0
