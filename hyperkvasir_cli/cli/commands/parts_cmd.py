"""`hyperkvasir parts`: every part, its size, local state and paths."""

from __future__ import annotations

from hyperkvasir_cli.cli.options import JsonOption
from hyperkvasir_cli.cli.runtime import Runtime, command
from hyperkvasir_cli.core.units import format_bytes


@command
def parts(rt: Runtime, json_output: JsonOption = False) -> None:
    """List every part of the manifest with its size, local state and paths, then the
    groups: names that stand for several parts (`download unlabeled-predictions`)."""
    from hyperkvasir_cli.ops.status import list_parts

    report = list_parts(rt.session)
    if json_output:
        rt.console.emit_json(report.as_json())
        return
    from rich.table import Table

    table = Table(title=f"HyperKvasir parts (data folder {report.data_dir})")
    for column in ("part", "file", "size", "state", "path"):
        table.add_column(column, justify="right" if column == "size" else "left")
    for status in report.parts:
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
    for name, members, _ in report.groups:
        rt.console.out(f"group {name}: {', '.join(members)}")
