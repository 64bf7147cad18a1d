"""The measured rows, one module per subject, each registering its groups.

A group is a function that takes the :class:`~bench.workspace.Workspace` (data, server,
fresh CLI homes) and returns table rows; ``python bench/run.py --only NAME`` runs one.
To add rows: write ``bench/rows/<subject>.py`` with a ``GROUPS`` dict of such functions
(see ``startup.py`` for the smallest), then add the module's name to ``ROW_MODULES``.
The order here is the order of the table.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable

from bench.report import Row
from bench.workspace import Workspace

Group = Callable[[Workspace], list[Row]]

ROW_MODULES = (
    "bench.rows.startup",
    "bench.rows.download",
    "bench.rows.checksum",
    "bench.rows.extract",
    "bench.rows.stats",
    "bench.rows.s3",
    "bench.rows.members",
)


def groups() -> dict[str, Group]:
    """Every group of every row module, by name, in table order."""
    found: dict[str, Group] = {}
    for name in ROW_MODULES:
        module = importlib.import_module(name)
        for group, function in module.GROUPS.items():
            if group in found:
                raise ValueError(f"row group {group!r} is registered twice ({name})")
            found[group] = function
    return found
