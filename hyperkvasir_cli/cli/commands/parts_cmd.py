"""`hyperkvasir parts`: every part, its size, local state and paths."""

from __future__ import annotations

from typing import TYPE_CHECKING

from hyperkvasir_cli.cli.options import JsonOption
from hyperkvasir_cli.cli.runtime import Runtime, command
from hyperkvasir_cli.core.units import format_bytes

if TYPE_CHECKING:
    pass


@command
def parts(rt: Runtime, json_output: JsonOption = False) -> None:
    """List every part of the manifest with its size, local state and paths."""
    from hyperkvasir_cli.ops.status import part_status

    records = rt.config_file.parts
    statuses = [part_status(p, rt.layout, records.get(p.name)) for p in rt.manifest.parts]
    if json_output:
        rt.console.emit_json(
            {
                "manifest": rt.manifest.source,
                "data_dir": str(rt.layout.data_dir),
                "parts": [s.as_json() for s in statuses],
            }
        )
        return
    from rich.table import Table

    table = Table(title=f"HyperKvasir parts (data folder {rt.layout.data_dir})")
    for column in ("part", "file", "size", "state", "path"):
        table.add_column(column, justify="right" if column == "size" else "left")
    for status in statuses:
        state: str = status.state
        if state == "partial" and status.percent is not None:
            state = f"partial {status.percent:.1f}%"
        elif state == "downloaded" and status.percent not in (None, 100.0):
            state = f"downloaded, {status.percent:.1f}% of its size"
        elif state == "extracted" and status.extracted_selection:
            state = "extracted (a selection)"
        path = status.extracted or status.archive or status.partial
        table.add_row(status.name, status.file, format_bytes(status.size), state, str(path or ""))
    rt.console.render(table)
