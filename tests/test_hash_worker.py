"""The hashing process of checksum's head start (core/hash_worker.py): the digests of
whole files read a block at a time, what it reports, and what the command does when the
process dies."""

from __future__ import annotations

import hashlib
import os
import signal
import threading
from pathlib import Path

import pytest

from hyperkvasir_cli.core import hash_ahead, hash_worker, hashing

BLOCK = 10_000


def report(path: Path, algorithms: list[str]) -> list[str]:
    """The lines hash_to writes for ``path``."""
    read_end, write_end = os.pipe()
    try:
        hash_worker.hash_to(str(path), algorithms, write_end)
    finally:
        os.close(write_end)
    with os.fdopen(read_end, "rb") as lines:
        return lines.read().decode().splitlines()


def expected(data: bytes) -> str:
    return f"d {len(data)} {hashlib.sha256(data).hexdigest()} {hashlib.md5(data).hexdigest()}"


@pytest.fixture
def small_pieces(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(hash_worker, "READ_SIZE", BLOCK)
    monkeypatch.setattr(hash_worker, "REPORT_STEP", 3 * BLOCK)


@pytest.mark.parametrize("size", [0, 1, BLOCK - 1, BLOCK, BLOCK + 1, 7 * BLOCK + 3])
def test_every_byte_is_hashed_once_in_order(tmp_path: Path, small_pieces: None, size: int) -> None:
    data = os.urandom(size)
    path = tmp_path / "archive.zip"
    path.write_bytes(data)
    lines = report(path, ["sha256", "md5"])
    assert lines[-1] == expected(data)
    progress = [int(line.split()[1]) for line in lines[:-1]]
    assert all(line.startswith("p ") for line in lines[:-1])
    assert sum(progress) <= size and all(step >= 3 * BLOCK for step in progress)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no named pipes here")
def test_a_pipe_is_read(tmp_path: Path, small_pieces: None) -> None:
    data = os.urandom(100_003)
    fifo = tmp_path / "archive.zip"
    os.mkfifo(fifo)

    def write() -> None:
        with fifo.open("wb") as handle:
            handle.write(data)

    writer = threading.Thread(target=write)
    writer.start()
    lines = report(fifo, ["sha256", "md5"])
    writer.join()
    assert lines[-1] == expected(data)


def test_a_file_that_cannot_be_opened_is_reported(tmp_path: Path) -> None:
    (line,) = report(tmp_path / "absent.zip", ["sha256"])
    assert line.startswith("e ") and "absent.zip" in line


def test_a_hashing_process_that_dies_leaves_the_file_to_be_read_again(tmp_path: Path) -> None:
    """Whatever ends the hashing process early, the command gets no digest from it and
    reads the file itself."""
    path = tmp_path / "archive.zip"
    with path.open("wb") as handle:
        handle.truncate(256 * 1024 * 1024)  # sparse: ~0.2 s to hash, nothing on disk
        handle.seek(100)
        handle.write(b"not all zeros")
    hash_ahead.start_hashing(path)
    (started,) = hash_ahead._head_starts.values()
    pid = started._process.pid  # type: ignore[attr-defined]
    os.kill(pid, signal.SIGKILL if hasattr(signal, "SIGKILL") else signal.SIGTERM)
    found = hashing.hash_file(path)
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(1 << 20):
            digest.update(block)
    assert found.digests["sha256"] == digest.hexdigest()
    assert not hash_ahead._head_starts
