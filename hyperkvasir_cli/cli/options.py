"""Options shared by several commands, declared once (typer ``Annotated`` style)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

GLOBAL_PANEL = "Global options"


def path_value(text: str) -> Path:
    """A path option's value. An empty one (`--to "$SCRATCH"` with the variable unset) is a
    usage error (exit 2): as a path it would mean the current folder, silently."""
    return Path(text_value(text))


def text_value(text: str) -> str:
    """A file, folder or URL option's value, refused when empty (see :func:`path_value`)."""
    if not text.strip():
        raise typer.BadParameter("the value is empty (an unset shell variable?): give a path")
    return text


ConfigOption = Annotated[
    Path | None,
    typer.Option(
        "--config",
        "-c",
        metavar="FILE",
        help="Config file (default: HYPERKVASIR_CONFIG, else the user config folder).",
        rich_help_panel=GLOBAL_PANEL,
        show_default=False,
        parser=path_value,
    ),
]
ManifestOption = Annotated[
    str | None,
    typer.Option(
        "--manifest",
        "-m",
        metavar="FILE",
        help="Manifest replacing the bundled one: a file or an s3:// URL "
        "(also HYPERKVASIR_MANIFEST).",
        rich_help_panel=GLOBAL_PANEL,
        show_default=False,
        parser=text_value,
    ),
]
DataDirOption = Annotated[
    Path | None,
    typer.Option(
        "--data-dir",
        "-d",
        metavar="DIR",
        help="Data folder for archives and extracted parts (also HYPERKVASIR_DATA_DIR).",
        rich_help_panel=GLOBAL_PANEL,
        show_default=False,
        parser=path_value,
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
        min=0,
        metavar="SECONDS",
        help="Seconds to wait for another run's lock before exiting 8 (default 0).",
        show_default=False,
    ),
]


def complete_part_names(ctx: typer.Context, incomplete: str) -> list[tuple[str, str]]:
    """Shell completion: the part and group names (with descriptions) of the manifest in effect.

    Runs on every Tab press, so it reads the manifest's YAML without validating it and
    returns no names, rather than an error, when the manifest cannot be read.
    """
    import os
    from importlib import resources

    import yaml

    given = ctx.params.get("manifest") or ctx.find_root().params.get("manifest")
    path = given or os.environ.get("HYPERKVASIR_MANIFEST")
    try:
        if path:
            text = Path(path).expanduser().read_text(encoding="utf-8")
        else:
            bundled = resources.files("hyperkvasir_cli").joinpath("data/manifest.yaml")
            text = bundled.read_text(encoding="utf-8")
        data = yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
        named = [(str(p["name"]), str(p.get("description") or p["file"])) for p in data["parts"]]
        named += [
            (str(g["name"]), str(g.get("description") or "group: " + ", ".join(g["parts"])))
            for g in data.get("groups") or []
        ]
    except (OSError, ValueError, yaml.YAMLError, TypeError, KeyError):
        return []
    chosen = set(ctx.params.get("parts") or ())
    return [(n, d) for n, d in named if n.startswith(incomplete) and n not in chosen]


def complete_class_names(incomplete: str) -> list[str]:
    """Shell completion: every class spelling accepted (canonical and official-split)."""
    from hyperkvasir_cli.core.classes import all_spellings

    return [name for name in all_spellings() if name.startswith(incomplete)]


PartsArgument = Annotated[
    list[str] | None,
    typer.Argument(
        help="Parts to act on (see `hyperkvasir parts`).",
        metavar="PART",
        show_default=False,
        autocompletion=complete_part_names,
    ),
]
AllPartsOption = Annotated[
    bool,
    typer.Option(
        "--all",
        "-a",
        help="Every part of the manifest except archives that only bundle others (the full zip).",
    ),
]
ConnectionsOption = Annotated[
    int | None,
    typer.Option(
        "--connections",
        "-n",
        min=1,
        max=32,
        metavar="N",
        help="Connections per download (default 4).",
        show_default=False,
    ),
]
MirrorOption = Annotated[
    list[str] | None,
    typer.Option(
        "--mirror",
        metavar="URL",
        help="Base URL tried first (the file name is appended); repeatable.",
        show_default=False,
    ),
]
CaBundleOption = Annotated[
    Path | None,
    typer.Option(
        "--ca-bundle",
        metavar="FILE",
        help="Extra CA certificates (PEM) to trust besides the system's.",
        show_default=False,
        parser=path_value,
    ),
]
LimitRateOption = Annotated[
    str | None,
    typer.Option(
        "--limit-rate",
        metavar="RATE",
        help="Cap total bandwidth, e.g. 5M (bytes per second).",
        show_default=False,
    ),
]
JobsOption = Annotated[
    int | None,
    typer.Option(
        "--jobs",
        "-J",
        min=1,
        metavar="N",
        help="Worker processes (default: the cores).",
        show_default=False,
    ),
]
SelectIncludeOption = Annotated[
    list[str] | None,
    typer.Option(
        "--include",
        "-i",
        metavar="GLOB",
        help="Only members whose path matches GLOB (fnmatch, `*` matches `/` too); repeatable.",
        show_default=False,
    ),
]
SelectExcludeOption = Annotated[
    list[str] | None,
    typer.Option(
        "--exclude",
        "-e",
        metavar="GLOB",
        help="Leave out members whose path matches GLOB; repeatable.",
        show_default=False,
    ),
]
SelectClassOption = Annotated[
    list[str] | None,
    typer.Option(
        "--class",
        "-k",
        metavar="NAME",
        help="Only this class of labeled images or videos, in any spelling (polyp, polyps, "
        "...); repeatable.",
        show_default=False,
        autocompletion=complete_class_names,
    ),
]
DryRunOption = Annotated[
    bool,
    typer.Option("--dry-run", help="Say what would be done; write nothing and send no request."),
]
