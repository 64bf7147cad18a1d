"""Streaming file hashes: a reused buffer, large reads, flat memory."""

from __future__ import annotations

import hashlib
from pathlib import Path

from hyperkvasir_cli.progress import ProgressReporter, SilentProgress

READ_SIZE = 4 * 1024 * 1024


def hash_file(
    path: Path,
    algorithm: str = "sha256",
    progress: ProgressReporter | None = None,
    label: str | None = None,
) -> str:
    """Hex digest of the whole file; the file is read once, 4 MiB at a time."""
    reporter = progress or SilentProgress()
    digest = hashlib.new(algorithm)
    buffer = bytearray(READ_SIZE)
    view = memoryview(buffer)
    reporter.start(label or f"hashing {path.name}", path.stat().st_size)
    try:
        with path.open("rb", buffering=0) as handle:
            while True:
                count = handle.readinto(buffer)
                if not count:
                    break
                digest.update(view[:count])
                reporter.advance(count)
    finally:
        reporter.finish()
    return digest.hexdigest()


def sha256_file(
    path: Path, progress: ProgressReporter | None = None, label: str | None = None
) -> str:
    return hash_file(path, "sha256", progress, label)
