"""`hyperkvasir config path | show | get KEY | set KEY VALUE | unset KEY | init`."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer

from hyperkvasir_cli.cli.options import JsonOption
from hyperkvasir_cli.cli.runtime import HyperkvasirCommand, HyperkvasirGroup, Runtime, command
from hyperkvasir_cli.core.errors import UsageError

if TYPE_CHECKING:
    pass


config_app = typer.Typer(
    help="Show and change settings; see where the config file is.",
    no_args_is_help=True,
    cls=HyperkvasirGroup,
)


def _plain(value: Any) -> Any:
    if isinstance(value, list):
        return [str(v) for v in value]
    return None if value is None else value if isinstance(value, (int, float, bool)) else str(value)


@config_app.command("path", cls=HyperkvasirCommand)
@command
def config_path(rt: Runtime) -> None:
    """Print the config file's path (it may not exist yet)."""
    rt.console.out(str(rt.session.config_path))


@config_app.command("show", cls=HyperkvasirCommand)
@command
def config_show(rt: Runtime, json_output: JsonOption = False) -> None:
    """Show every setting in effect, where it came from, and the recorded parts."""
    from hyperkvasir_cli.core.about import ENV_PREFIX
    from hyperkvasir_cli.core.config import SETTING_KEYS

    settings, sources = rt.session.settings, rt.session.setting_sources
    if json_output:
        rt.console.emit_json(
            {
                "config_path": str(rt.session.config_path),
                "settings": {
                    key: {"value": _plain(getattr(settings, key)), "source": sources[key]}
                    for key in SETTING_KEYS
                },
                "records_path": str(rt.session.layout.records_path),
                "parts": {
                    name: record.model_dump(mode="json", exclude_none=True, exclude_defaults=True)
                    for name, record in rt.session.records().items()
                },
            }
        )
        return
    from rich.table import Table

    table = Table(title=f"settings ({rt.session.config_path})")
    for column in ("key", "value", "source", "environment variable"):
        table.add_column(column)
    for key in SETTING_KEYS:
        value = _plain(getattr(settings, key))
        shown = ", ".join(value) if isinstance(value, list) else str(value)
        table.add_row(key, shown, sources[key], f"{ENV_PREFIX}{key.upper()}")
    rt.console.render(table)
    for name, record in sorted(rt.session.records().items()):
        rt.console.out(
            f"{name}: "
            + ", ".join(
                f"{k}={', '.join(v) if k == 'copies' else v}"
                for k, v in record.model_dump(
                    mode="json", exclude_none=True, exclude_defaults=True
                ).items()
            )
        )


@config_app.command("get", cls=HyperkvasirCommand)
@command
def config_get(
    rt: Runtime,
    key: Annotated[str, typer.Argument(help="A setting name (see `config show`).")],
    json_output: JsonOption = False,
) -> None:
    """Print one setting's value in effect (a list: comma separated; unset: an empty line),
    for scripts: `DATA=$(hyperkvasir config get data_dir)`."""
    from hyperkvasir_cli.core.config import check_setting_key

    check_setting_key(key)
    value = _plain(getattr(rt.session.settings, key))
    source = rt.session.setting_sources[key]
    if json_output:
        rt.console.emit_json({"key": key, "value": value, "source": source})
        return
    if isinstance(value, list):
        rt.console.out(",".join(value))
    else:
        rt.console.out("" if value is None else str(value))


@config_app.command("set", cls=HyperkvasirCommand)
@command
def config_set(
    rt: Runtime,
    key: Annotated[str, typer.Argument(help="A setting name (see `config show`).")],
    value: Annotated[str, typer.Argument(help="The new value (a list: comma separated).")],
) -> None:
    """Set one setting in the config file (validated, written atomically)."""
    with rt.session.locked():
        stored = rt.session.store.set_setting(key, value)
    shown = ", ".join(stored) if isinstance(stored, list) else stored
    rt.console.info(f"{key} = {shown} in {rt.session.config_path}")


@config_app.command("unset", cls=HyperkvasirCommand)
@command
def config_unset(
    rt: Runtime,
    key: Annotated[str, typer.Argument(help="A setting name (see `config show`).")],
) -> None:
    """Remove one setting from the config file, so that its default applies again."""
    with rt.session.locked():
        removed = rt.session.store.unset_setting(key)
    where = rt.session.config_path
    rt.console.info(f"{key} removed from {where}" if removed else f"{key} is not set in {where}")


@config_app.command("init", cls=HyperkvasirCommand)
@command
def config_init(
    rt: Runtime,
    force: Annotated[bool, typer.Option("--force", "-f", help="Replace an existing file.")] = False,
) -> None:
    """Write a config file with the data folder in effect (never overwrites without --force;
    with --force, the records of downloaded parts are kept when the old file is readable)."""
    from hyperkvasir_cli.core.config import (
        SETTING_KEYS,
        ConfigFile,
        resolve_settings,
        setting_description,
    )
    from hyperkvasir_cli.core.errors import ConfigError

    path = rt.session.config_path
    if path.exists() and not force:
        raise UsageError(f"config file {path} exists already", hint="pass --force to replace it")
    try:
        records = rt.session.store.read().parts
    except ConfigError as exc:
        rt.console.warn(f"the old file cannot be read, its part records are dropped: {exc.message}")
        records = {}
    # Resolved without the old file, which --force may be replacing because it is broken.
    overrides = {"data_dir": rt.session.options.data_dir} if rt.session.options.data_dir else {}
    settings, _ = resolve_settings({}, rt.session.environ, overrides, path)
    rt.session.store.write(ConfigFile(settings={"data_dir": str(settings.data_dir)}, parts=records))
    rt.console.out(str(path))
    rt.console.info(
        f"wrote {path}; keys: " + "; ".join(f"{k} ({setting_description(k)})" for k in SETTING_KEYS)
    )
