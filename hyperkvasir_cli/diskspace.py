"""Free-space checks made before anything is written."""

from __future__ import annotations

import shutil
from pathlib import Path

from hyperkvasir_cli.errors import DiskSpaceError
from hyperkvasir_cli.units import format_bytes, format_size

# Keep a little room so that the config, sidecars and the file system itself can still write.
SAFETY_MARGIN = 16 * 1024 * 1024


def free_bytes(directory: Path) -> int:
    """Free bytes on the file system that holds ``directory`` (or its nearest parent)."""
    probe = directory
    while not probe.exists() and probe.parent != probe:
        probe = probe.parent
    return shutil.disk_usage(probe).free


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
