"""Free-space checks made before anything is written."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterable
from pathlib import Path

from hyperkvasir_cli.core.errors import DiskSpaceError
from hyperkvasir_cli.core.units import format_bytes, format_size

# Keep a little room so that the config, sidecars and the file system itself can still write.
SAFETY_MARGIN = 16 * 1024 * 1024


def _existing(directory: Path) -> Path:
    probe = directory
    while not probe.exists() and probe.parent != probe:
        probe = probe.parent
    return probe


def free_bytes(directory: Path) -> int:
    """Free bytes on the file system that holds ``directory`` (or its nearest parent)."""
    return shutil.disk_usage(_existing(directory)).free


def allocation_unit(directory: Path) -> int:
    """The block a file's size is rounded up to on that file system (4096 if unknown)."""
    try:
        return os.statvfs(_existing(directory)).f_frsize or 4096
    except (OSError, AttributeError):  # no statvfs on Windows
        return 4096


def allocated(sizes: Iterable[int], unit: int) -> int:
    """What files of ``sizes`` take on disk: each rounded up to whole blocks. 100,000 small
    images take far more than their bytes: a 700 B file still takes a 4 KiB block."""
    return sum(-(-size // unit) * unit for size in sizes)


def ensure_free_space(directory: Path, needed: int, what: str) -> None:
    """Raise DiskSpaceError (exit 7) unless ``needed`` bytes fit in ``directory``."""
    if needed <= 0:
        return
    available = free_bytes(directory)
    if needed + SAFETY_MARGIN > available:
        raise DiskSpaceError(
            f"not enough disk space in {directory} for {what}: need {format_size(needed)} "
            f"plus {format_bytes(SAFETY_MARGIN)} kept free for the config and "
            f"the file system, {format_size(available)} free",
            hint="free some space, or point --data-dir (or --to) at a larger disk",
        )
