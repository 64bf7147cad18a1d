"""Dry runs as text: one line per thing that would be done, on stdout (or one JSON
document), as `download --dry-run` prints its plan."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from hyperkvasir_cli.cli.runtime import Runtime
    from hyperkvasir_cli.ops.preview import Preview


def show_preview(rt: Runtime, preview: Preview, json_output: bool) -> None:
    if json_output:
        rt.console.emit_json(preview.as_json())
        return
    for line in preview.lines():
        rt.console.out(line)
