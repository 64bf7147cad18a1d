"""`file://` sources (a lab mirror on a shared file system) behave as HTTP ones do:
ranges for several connections, resume after a failed read, and a changed file is
fetched anew, never appended to the old one's partial (the transport honours If-Range).
"""

from __future__ import annotations

import email.utils
import os
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from hyperkvasir_cli.transfer import file_transport
from hyperkvasir_cli.transfer.file_transport import FileTransport
from tests.cli import Result, run_cli
from tests.conftest import FakeClock
from tests.downloads import archive, leftovers, part_entry, write_manifest, zip_bytes
from tests.same import assert_same_bytes

FILE = "hyper-kvasir-videos.zip"
PART = "labeled-videos"
MIB = 1024 * 1024
SIZE = 9 * MIB + 77
FAIL_AT = 3 * MIB + 5


class Mirror:
    """A folder holding the part, a manifest naming it by `file://` URL (size pinned,
    sha256 not: a spliced file would be accepted), and the reads that fail on purpose."""

    def __init__(self, tmp_path: Path, data_dir: Path, monkeypatch: pytest.MonkeyPatch):
        self.path = tmp_path / "mirror" / FILE
        self.path.parent.mkdir()
        self.data_dir = data_dir
        self.monkeypatch = monkeypatch
        self.manifest = tmp_path / "manifest.yaml"
        entry = part_entry(PART, FILE, [self.path.as_uri()], zip_bytes(SIZE), pin_sha=False)
        write_manifest(self.manifest, [entry])

    def put(self, content: bytes) -> None:
        """Write the file; a rewrite gets a later mtime, as a copy onto the mirror does."""
        before = self.path.stat().st_mtime_ns if self.path.exists() else None
        self.path.write_bytes(content)
        if before is not None:
            os.utime(self.path, ns=(before + 10**9, before + 10**9))

    def download(self, *args: str) -> Result:
        return run_cli("download", PART, "--manifest", str(self.manifest), *args)

    def fail_reads_once_at(self, offset: int) -> None:
        """The next read that crosses ``offset`` of the file fails (an NFS mount going away)."""
        original = file_transport._FileStream.__iter__
        armed = [True]

        def failing(stream: file_transport._FileStream) -> Iterator[bytes]:
            position = stream._start
            for chunk in original(stream):
                if armed[0] and position <= offset < position + len(chunk):
                    armed[0] = False
                    yield chunk[: offset - position]
                    raise httpx.ReadError("Input/output error")
                position += len(chunk)
                yield chunk

        self.monkeypatch.setattr(file_transport._FileStream, "__iter__", failing)

    def interrupted(self) -> None:
        """A first run whose read fails at FAIL_AT, with no retry left: the partial stays."""
        self.monkeypatch.setenv("HYPERKVASIR_RETRIES", "0")
        self.fail_reads_once_at(FAIL_AT)
        first = self.download("-n", "1")
        assert first.exit_code == 4, first.stderr
        self.monkeypatch.delenv("HYPERKVASIR_RETRIES")
        assert (self.data_dir / "archives" / f"{FILE}.part").stat().st_size >= FAIL_AT

    @property
    def archive(self) -> bytes:
        return archive(self.data_dir, FILE).read_bytes()


@pytest.fixture
def mirror(
    tmp_path: Path, data_dir: Path, monkeypatch: pytest.MonkeyPatch, fake_clock: FakeClock
) -> Mirror:
    return Mirror(tmp_path, data_dir, monkeypatch)


OLD = zip_bytes(SIZE, seed=11)
NEW = zip_bytes(SIZE, seed=12)


def test_several_connections_read_ranges_of_a_file_url(mirror: Mirror) -> None:
    mirror.put(OLD)
    result = mirror.download("-n", "2", "--json")
    assert result.exit_code == 0, result.stderr
    assert_same_bytes(mirror.archive, OLD)
    assert result.json()["parts"][0]["connections"] == 2
    assert leftovers(mirror.data_dir) == [FILE]


def test_a_failed_read_is_resumed_from_where_it_stopped(mirror: Mirror) -> None:
    mirror.put(OLD)
    mirror.interrupted()
    result = mirror.download("-n", "1", "--json")
    assert result.exit_code == 0, result.stderr
    assert_same_bytes(mirror.archive, OLD)
    (outcome,) = result.json()["parts"]
    assert (outcome["action"], outcome["resumed_from"]) == ("resumed", FAIL_AT)
    assert outcome["bytes_fetched"] == SIZE - FAIL_AT


def test_a_file_changed_since_the_partial_is_fetched_anew(mirror: Mirror) -> None:
    mirror.put(OLD)
    mirror.interrupted()
    mirror.put(NEW)  # the same size, other bytes, a later mtime
    result = mirror.download("-n", "1", "--json")
    assert result.exit_code == 0, result.stderr
    assert_same_bytes(mirror.archive, NEW)
    (outcome,) = result.json()["parts"]
    assert (outcome["action"], outcome["resumed_from"]) == ("restarted", 0)
    (said,) = [line for line in result.stderr.splitlines() if "starting over" in line]
    assert "changed on the server" in said


def test_the_file_transport_answers_a_stale_if_range_with_the_whole_file(tmp_path: Path) -> None:
    """RFC 9110: a Range whose If-Range names another version gets a 200 with every byte."""
    path = tmp_path / FILE
    path.write_bytes(OLD)
    url = "file://localhost" + path.as_posix()
    with httpx.Client(transport=FileTransport()) as client:
        head = client.head(url)
        etag, last_modified = head.headers["etag"], head.headers["last-modified"]
        for current in (etag, last_modified):
            ranged = client.get(url, headers={"Range": "bytes=100-", "If-Range": current})
            assert ranged.status_code == 206
            assert_same_bytes(ranged.content, OLD[100:])
        stale_date = email.utils.formatdate(path.stat().st_mtime - 3600, usegmt=True)
        for stale in ('"0-0"', stale_date):
            whole = client.get(url, headers={"Range": "bytes=100-", "If-Range": stale})
            assert whole.status_code == 200
            assert_same_bytes(whole.content, OLD)
            assert "content-range" not in whole.headers
