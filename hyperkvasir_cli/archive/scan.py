"""What an extracted tree holds: every file under a part's folders, apart from
hyperkvasir's own bookkeeping (the extraction marker, temporaries) and platform junk.

Extraction uses it to remove what a newer archive no longer has; the tree check compares
it with the central directory.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from hyperkvasir_cli.archive.safety import MARKER_PREFIX, TEMP_SUFFIX
from hyperkvasir_cli.archive.selection import is_platform_junk


@dataclass
class TreeScan:
    files: list[str] = field(default_factory=list)  # paths relative to the target, posix
    temporaries: int = 0
    junk: int = 0
    unlisted: list[str] = field(default_factory=list)  # folders that could not be read


def scan_tree(target: Path, roots: Iterable[str]) -> TreeScan:
    """Every non-directory entry under ``target/<root>`` (symlinks are not followed),
    minus the extraction marker, leftover temporaries and platform junk (counted).
    A folder that cannot be listed is noted, not fatal."""
    scan = TreeScan()
    pending = [(target / root, root) for root in roots if (target / root).is_dir()]
    while pending:
        folder, relative = pending.pop()
        try:
            entries = list(os.scandir(folder))
        except OSError as exc:
            scan.unlisted.append(f"{folder} ({exc.strerror or exc})")
            continue
        for entry in entries:
            path = f"{relative}/{entry.name}"
            if entry.is_dir(follow_symlinks=False):
                pending.append((Path(entry.path), path))
            elif entry.name.endswith(TEMP_SUFFIX):
                scan.temporaries += 1
            elif is_platform_junk(path):
                scan.junk += 1
            elif not entry.name.startswith(MARKER_PREFIX):
                scan.files.append(path)
    return scan
