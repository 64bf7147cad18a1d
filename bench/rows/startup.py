"""How fast the command line starts: `hyperkvasir --help`."""

from __future__ import annotations

import sys

from bench import report
from bench.measure import Contender, run_command
from bench.report import Row
from bench.rows.common import measure
from bench.workspace import Workspace

HELP_REPEAT = 11


def help_rows(ws: Workspace) -> list[Row]:
    samples = measure(
        ws,
        {
            "ours": Contender(lambda: run_command([str(ws.exe), "--help"])),
            "python": Contender(lambda: run_command([sys.executable, "-c", "pass"])),
        },
        repeat=HELP_REPEAT,
    )
    python = samples["python"]
    notes = (f"Python start-up alone: {python.seconds:.3f} s",) if python.available else ()
    target = report.seconds_below(0.3)
    return [Row("`hyperkvasir --help` (median)", samples["ours"], None, target, notes=notes)]


GROUPS = {"help": help_rows}
