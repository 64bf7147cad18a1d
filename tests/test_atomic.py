"""Files the program rewrites (config, sidecars, split files) change whole or not at all."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest

from hyperkvasir_cli.core.atomic import atomic_write_bytes


def test_a_rewrite_that_fails_half_way_leaves_the_old_file_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "config.yaml"
    target.write_bytes(b"connections: 4\n")

    def disk_full(fd: int) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", disk_full)
    with pytest.raises(OSError, match="No space left"):
        atomic_write_bytes(target, b"connections: 8\n" * 1000)
    assert target.read_bytes() == b"connections: 4\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["config.yaml"]  # no temp file left


def test_a_rewrite_replaces_the_file_in_one_step(tmp_path: Path) -> None:
    target = tmp_path / "split.json"
    target.write_bytes(b"old")
    before = os.stat(target).st_ino
    atomic_write_bytes(target, b"new")
    assert target.read_bytes() == b"new"
    # A new file was renamed over the old one: a reader holding the old one keeps it whole.
    assert os.stat(target).st_ino != before
