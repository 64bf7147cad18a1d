"""Free-space checks made before anything is written."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterable
from pathlib import Path

from hyperkvasir_cli.core.errors import DiskSpaceError
from hyperkvasir_cli.core.units import format_bytes

# Room kept free beyond what a write needs, so that the config, sidecars and the file
# system itself can still write: a share of the write, at least HEADROOM_FLOOR (a 7 MiB
# part fits on a nearly empty 20 MiB disk) and at most HEADROOM_CAP (a 58 GB archive does
# not need gigabytes beside it).
HEADROOM_SHARE = 0.01
HEADROOM_FLOOR = 1024 * 1024
HEADROOM_CAP = 64 * 1024 * 1024


def headroom(needed: int) -> int:
    """Bytes kept free beside a write of ``needed`` bytes."""
    return min(max(int(needed * HEADROOM_SHARE), HEADROOM_FLOOR), HEADROOM_CAP)


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


def occupied(path: Path) -> int:
    """Bytes the file at ``path`` already holds on disk (its allocated blocks: all of them
    for a preallocated `.part`); 0 when there is no file."""
    try:
        stat = path.stat()
    except OSError:
        return 0
    blocks = getattr(stat, "st_blocks", None)
    return stat.st_size if blocks is None else blocks * 512


def ensure_room_for_file(path: Path, final_size: int, what: str) -> None:
    """Raise DiskSpaceError (exit 7) unless the file at ``path`` can grow to
    ``final_size`` bytes: the blocks it already holds count as room it has, so a
    resumed download needs only what its partial does not hold yet."""
    unit = allocation_unit(path.parent)
    held = occupied(path)
    needed = allocated([final_size], unit) - held
    if needed <= 0:
        # Every block is there already; what the run still writes beside it is its record
        # of progress (the sidecar, the records), which a disk with no block left refuses.
        ensure_free_space(path.parent, BOOKKEEPING, what, already_held=held, kept_free=0)
        return
    ensure_free_space(path.parent, needed, what, already_held=held)


# Room for the small files a run rewrites as it goes (sidecar, records, config).
BOOKKEEPING = 64 * 1024


def ensure_free_space(
    directory: Path,
    needed: int,
    what: str,
    *,
    already_held: int = 0,
    kept_free: int | None = None,
) -> None:
    """Raise DiskSpaceError (exit 7) unless ``needed`` bytes, plus ``kept_free`` (default
    :func:`headroom`), fit in ``directory``. ``already_held`` (bytes a partial file holds)
    is only said, not counted."""
    if needed <= 0:
        return
    available = free_bytes(directory)
    kept_free = headroom(needed) if kept_free is None else kept_free
    if needed + kept_free > available:
        held = ""
        if already_held:
            held = f" more (the partial file already holds {format_bytes(already_held)})"
        margin = (
            f" plus {format_bytes(kept_free)} kept free for the config and the file system"
            if kept_free
            else ""
        )
        raise DiskSpaceError(
            f"not enough disk space in {directory} for {what}: need {format_bytes(needed)}"
            f"{held}{margin}, {format_bytes(available)} free",
            hint="free some space, or point --data-dir (or --to) at a larger disk",
        )
