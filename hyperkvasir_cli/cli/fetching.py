"""Getting a part's archive onto disk for commands that need one (split, sync, extract)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from hyperkvasir_cli.cli.runtime import Runtime

if TYPE_CHECKING:
    from hyperkvasir_cli.manifest import Part


def ensure_archive(rt: Runtime, part: Part) -> Path:
    """The part's verified archive, downloaded (and verified) first when it is missing.

    The caller must not hold the data lock; this takes it only when it has to download.
    """
    path = rt.layout.archive_path(part)
    if path.exists():
        return path
    # The HTTP client and the download engine load only when something must be fetched.
    from hyperkvasir_cli.cli.downloading import download_options, make_downloader

    rt.console.info(f"{part.name} is not on disk yet; downloading it")
    with rt.locked():
        record = rt.reload_config().parts.get(part.name)
        make_downloader(rt).download(part, record, download_options(rt))
    rt.reload_config()
    return path
