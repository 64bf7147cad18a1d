"""Getting a part's archive onto disk for commands that need one (split, sync, extract)."""

from __future__ import annotations

from pathlib import Path

from hyperkvasir_cli.cli.runtime import Runtime
from hyperkvasir_cli.errors import UsageError
from hyperkvasir_cli.manifest import Part


def ensure_archive(rt: Runtime, part: Part) -> Path:
    """The part's verified archive path, downloading it first when it is missing."""
    path = rt.layout.archive_path(part)
    if path.exists():
        return path
    raise UsageError(
        f"{part.name} is not downloaded ({path} is missing)",
        hint=f"run `hyperkvasir download {part.name}` first",
    )
