"""Options shared by several commands, declared once (typer ``Annotated`` style)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

GLOBAL_PANEL = "Global options"

ConfigOption = Annotated[
    Path | None,
    typer.Option(
        "--config",
        "-c",
        help="Config file (default: HYPERKVASIR_CONFIG, else the user config folder).",
        rich_help_panel=GLOBAL_PANEL,
        show_default=False,
    ),
]
ManifestOption = Annotated[
    Path | None,
    typer.Option(
        "--manifest",
        "-m",
        help="Manifest replacing the bundled one (also HYPERKVASIR_MANIFEST).",
        rich_help_panel=GLOBAL_PANEL,
        show_default=False,
    ),
]
DataDirOption = Annotated[
    Path | None,
    typer.Option(
        "--data-dir",
        "-d",
        help="Data folder for archives and extracted parts (also HYPERKVASIR_DATA_DIR).",
        rich_help_panel=GLOBAL_PANEL,
        show_default=False,
    ),
]
QuietOption = Annotated[
    bool,
    typer.Option(
        "--quiet", "-q", help="Print only errors on stderr.", rich_help_panel=GLOBAL_PANEL
    ),
]
DebugOption = Annotated[
    bool,
    typer.Option(
        "--debug",
        help="Show tracebacks (also HYPERKVASIR_DEBUG=1).",
        rich_help_panel=GLOBAL_PANEL,
    ),
]
JsonOption = Annotated[
    bool, typer.Option("--json", "-j", help="Print one JSON document on stdout.")
]
WaitLockOption = Annotated[
    float | None,
    typer.Option(
        "--wait-lock",
        "-w",
        help="Seconds to wait for another run's lock before exiting 8 (default 0).",
        show_default=False,
    ),
]
PartsArgument = Annotated[
    list[str] | None,
    typer.Argument(help="Parts to act on (see `hyperkvasir parts`).", show_default=False),
]
AllPartsOption = Annotated[bool, typer.Option("--all", "-a", help="Every part of the manifest.")]
ConnectionsOption = Annotated[
    int | None,
    typer.Option(
        "--connections",
        "-n",
        min=1,
        max=32,
        help="Connections per download (default 4).",
        show_default=False,
    ),
]
MirrorOption = Annotated[
    list[str] | None,
    typer.Option(
        "--mirror",
        help="Base URL tried first (the file name is appended); repeatable.",
        show_default=False,
    ),
]
CaBundleOption = Annotated[
    Path | None,
    typer.Option(
        "--ca-bundle",
        help="Extra CA certificates (PEM) to trust besides the system's.",
        show_default=False,
    ),
]
LimitRateOption = Annotated[
    str | None,
    typer.Option(
        "--limit-rate", help="Cap total bandwidth, e.g. 5M (bytes per second).", show_default=False
    ),
]
JobsOption = Annotated[
    int | None,
    typer.Option(
        "--jobs", "-J", min=1, help="Worker processes (default: the cores).", show_default=False
    ),
]
