"""The `hyperkvasir` command: global options, and every command registered in one place."""

from __future__ import annotations

import typer

from hyperkvasir_cli.cli.commands import (
    checksum_cmd,
    clean_cmd,
    config_cmd,
    download_cmd,
    export_cmd,
    extract_cmd,
    ls_cmd,
    parts_cmd,
    push_cmd,
    split_cmd,
    stats_cmd,
    sync_cmd,
)
from hyperkvasir_cli.cli.options import (
    ConfigOption,
    DataDirOption,
    DebugOption,
    ManifestOption,
    QuietOption,
)
from hyperkvasir_cli.cli.runtime import GlobalOptions, HyperkvasirCommand, HyperkvasirGroup
from hyperkvasir_cli.core.about import __version__
from hyperkvasir_cli.core.errors import EXIT_CODE_MEANINGS

EXIT_CODES_HELP = "\n\n".join(
    f"{int(code)}: {meaning}" for code, meaning in EXIT_CODE_MEANINGS.items()
)

app = typer.Typer(
    name="hyperkvasir",
    help=(
        "Download, resume, verify, extract, count and split the HyperKvasir endoscopy "
        "dataset.\n\nExit codes:\n\n" + EXIT_CODES_HELP
    ),
    no_args_is_help=True,
    cls=HyperkvasirGroup,
    add_completion=True,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["--help", "-h"]},
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"hyperkvasir {__version__}")
        raise typer.Exit()


@app.callback()
def main_callback(
    ctx: typer.Context,
    config: ConfigOption = None,
    manifest: ManifestOption = None,
    data_dir: DataDirOption = None,
    quiet: QuietOption = False,
    debug: DebugOption = False,
    version: bool = typer.Option(
        False,
        "--version",
        "-V",
        help="Print the version and exit.",
        callback=_version,
        is_eager=True,
    ),
) -> None:
    """Global options may come before or after the command name."""
    ctx.obj = GlobalOptions(config, manifest, data_dir, quiet, debug)


for name, function in (
    ("parts", parts_cmd.parts),
    ("download", download_cmd.download),
    ("extract", extract_cmd.extract),
    ("ls", ls_cmd.ls),
    ("checksum", checksum_cmd.checksum),
    ("resume", download_cmd.resume),
    ("stats", stats_cmd.stats),
    ("split", split_cmd.split),
    ("sync", sync_cmd.sync),
    ("push", push_cmd.push),
    ("export", export_cmd.export),
    ("clean", clean_cmd.clean),
):
    app.command(name, cls=HyperkvasirCommand)(function)
app.add_typer(config_cmd.config_app, name="config")


def main() -> None:
    app(prog_name="hyperkvasir")
