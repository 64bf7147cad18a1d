"""What every command needs: options merged with the environment and config, the manifest,
the console, and the single place where errors become exit codes.

:func:`command` wraps a command function ``f(rt, ...)``: it adds the global options to the
command's own (so they work after the command name too), builds the :class:`Runtime`, and
turns a :class:`HyperkvasirError` into ``error:``/``hint:`` lines and its exit code.
"""

from __future__ import annotations

import contextlib
import errno
import functools
import inspect
import json
import os
import signal
import sys
import threading
import traceback
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar, get_args, get_origin

import typer
from typer.core import TyperCommand, TyperGroup
from typer.models import OptionInfo

from hyperkvasir_cli import ENV_PREFIX
from hyperkvasir_cli.cli.console import Console
from hyperkvasir_cli.cli.options import (
    ConfigOption,
    DataDirOption,
    DebugOption,
    ManifestOption,
    QuietOption,
)
from hyperkvasir_cli.core.clock import Clock, SystemClock
from hyperkvasir_cli.core.errors import (
    INTERRUPTED_MESSAGE,
    DiskSpaceError,
    ExitCode,
    HyperkvasirError,
    UsageError,
    error_json,
)

# The library (pydantic models, YAML) is imported when a command first needs it, so that
# `--help` and shell completion start fast.
if TYPE_CHECKING:
    from hyperkvasir_cli.core.config import ConfigFile, ConfigStore, Settings
    from hyperkvasir_cli.core.layout import Layout
    from hyperkvasir_cli.core.manifest import Manifest, Part

F = TypeVar("F", bound=Callable[..., Any])

# The clock every command uses; tests install a fake one so that backoff never waits.
clock_factory: Callable[[], Clock] = SystemClock


@dataclass
class GlobalOptions:
    config: Path | None = None
    manifest: Path | None = None
    data_dir: Path | None = None
    quiet: bool = False
    debug: bool = False

    def merged_with(self, later: GlobalOptions) -> GlobalOptions:
        """Options given after the command name win over those given before it."""
        return GlobalOptions(
            config=later.config or self.config,
            manifest=later.manifest or self.manifest,
            data_dir=later.data_dir or self.data_dir,
            quiet=later.quiet or self.quiet,
            debug=later.debug or self.debug,
        )


def usable_cores() -> int:
    """The cores this process may run on (its affinity), not merely the machine's."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return os.cpu_count() or 1


def _env_flag(environ: Mapping[str, str], name: str) -> bool:
    return environ.get(name, "").strip().lower() in ("1", "true", "yes", "on")


@dataclass
class Runtime:
    """Everything a command reads, loaded lazily so that `--help` stays fast."""

    options: GlobalOptions
    console: Console
    environ: Mapping[str, str] = field(default_factory=lambda: dict(os.environ))
    setting_overrides: dict[str, Any] = field(default_factory=dict)
    clock: Clock = field(default_factory=SystemClock)
    _manifest: Manifest | None = None
    _config_file: ConfigFile | None = None
    _settings: Settings | None = None
    _sources: dict[str, str] | None = None

    @property
    def config_path(self) -> Path:
        from hyperkvasir_cli.core.config import resolve_config_path

        return resolve_config_path(self.options.config, self.environ)

    @property
    def store(self) -> ConfigStore:
        from hyperkvasir_cli.core.config import ConfigStore

        return ConfigStore(self.config_path)

    @property
    def config_file(self) -> ConfigFile:
        if self._config_file is None:
            self._config_file = self.store.read()
        return self._config_file

    def reload_config(self) -> ConfigFile:
        self._config_file = None
        return self.config_file

    def override(self, **values: Any) -> None:
        """Command options that are also settings (e.g. --connections)."""
        self.setting_overrides.update({k: v for k, v in values.items() if v is not None})
        self._settings = None

    def _resolve(self) -> tuple[Settings, dict[str, str]]:
        if self._settings is None or self._sources is None:
            options = dict(self.setting_overrides)
            if self.options.data_dir is not None:
                options["data_dir"] = self.options.data_dir
            from hyperkvasir_cli.core.config import resolve_settings

            self._settings, self._sources = resolve_settings(
                self.config_file.settings, self.environ, options, self.config_path
            )
        return self._settings, self._sources

    @property
    def settings(self) -> Settings:
        return self._resolve()[0]

    @property
    def setting_sources(self) -> dict[str, str]:
        return self._resolve()[1]

    @property
    def layout(self) -> Layout:
        from hyperkvasir_cli.core.layout import Layout

        return Layout.from_settings(self.settings)

    @property
    def manifest(self) -> Manifest:
        if self._manifest is None:
            from hyperkvasir_cli.core.config import environment_value

            path = self.options.manifest
            if path is None:
                from_env = environment_value(self.environ, f"{ENV_PREFIX}MANIFEST")
                path = Path(from_env) if from_env else None
            from hyperkvasir_cli.core.manifest import load_manifest

            self._manifest = load_manifest(path)
        return self._manifest

    def select_parts(self, names: list[str] | None, all_parts: bool = False) -> list[Part]:
        if all_parts and names:
            raise UsageError("name parts or pass --all, not both")
        if all_parts:
            return list(self.manifest.parts)
        if not names:
            return []
        return self.manifest.select(names)

    def jobs(self, option: int | None) -> int:
        """Worker count: the --jobs option, else the `jobs` setting, else the usable cores."""
        return option or self.settings.jobs or usable_cores()

    @contextmanager
    def locked(self, wait_lock: float | None = None) -> Iterator[None]:
        wait = self.settings.wait_lock if wait_lock is None else wait_lock
        from hyperkvasir_cli.core.lock import data_lock

        with data_lock(self.layout.lock_path, wait, on_wait=self.console.info):
            yield


def note_missing_config(rt: Runtime) -> None:
    """Say on stderr that a config file named explicitly does not exist, once the command
    is over: a command that writes records creates it, one that only reads it does not."""
    from hyperkvasir_cli.core.config import config_named_by, missing_config_note

    with contextlib.suppress(HyperkvasirError):  # an empty HYPERKVASIR_CONFIG is said already
        note = missing_config_note(rt.config_path, config_named_by(rt.options.config, rt.environ))
        if note is not None:
            rt.console.warn(note)


_GLOBAL_PARAMS = [
    inspect.Parameter(
        "config", inspect.Parameter.KEYWORD_ONLY, default=None, annotation=ConfigOption
    ),
    inspect.Parameter(
        "manifest", inspect.Parameter.KEYWORD_ONLY, default=None, annotation=ManifestOption
    ),
    inspect.Parameter(
        "data_dir", inspect.Parameter.KEYWORD_ONLY, default=None, annotation=DataDirOption
    ),
    inspect.Parameter(
        "quiet", inspect.Parameter.KEYWORD_ONLY, default=False, annotation=QuietOption
    ),
    inspect.Parameter(
        "debug", inspect.Parameter.KEYWORD_ONLY, default=False, annotation=DebugOption
    ),
    inspect.Parameter("ctx", inspect.Parameter.KEYWORD_ONLY, annotation=typer.Context),
]
_GLOBAL_NAMES = {p.name for p in _GLOBAL_PARAMS}


def build_runtime(ctx: typer.Context, after: GlobalOptions) -> Runtime:
    before = ctx.find_root().obj if isinstance(ctx.find_root().obj, GlobalOptions) else None
    options = (before or GlobalOptions()).merged_with(after)
    environ = dict(os.environ)
    options.debug = options.debug or _env_flag(environ, f"{ENV_PREFIX}DEBUG")
    clock = clock_factory()
    console = Console(quiet=options.quiet, debug=options.debug, clock=clock)
    return Runtime(options=options, console=console, environ=environ, clock=clock)


def run_guarded(console: Console, action: Callable[[], Any], *, json_output: bool = False) -> Any:
    """Run a command body; map expected errors to exit codes, the rest to exit 1.

    With ``json_output``, a command that fails before printing its own document prints
    ``{"ok": false, "error": {...}}``, so a script reading stdout always gets one document.
    """

    def fail(code: int, message: str, hint: str | None = None) -> typer.Exit:
        if json_output and not console.json_emitted:
            console.emit_json({"ok": False, "error": error_json(code, message, hint)})
        return typer.Exit(code)

    try:
        return action()
    except typer.Exit:
        raise
    except HyperkvasirError as exc:
        console.error(exc)
        raise fail(exc.exit_code, exc.message, exc.hint) from None
    except KeyboardInterrupt:
        console.stderr.write(f"error: {INTERRUPTED_MESSAGE}\n")
        raise fail(ExitCode.INTERRUPTED, INTERRUPTED_MESSAGE) from None
    except BrokenPipeError:
        # The reader of stdout went away (`| head`): stop quietly, as other tools do.
        raise typer.Exit(quiet_broken_pipe()) from None
    except OSError as exc:
        error = os_error(exc)
        if error is None:
            console.internal_error(exc)
            raise fail(ExitCode.INTERNAL, f"internal error: {type(exc).__name__}: {exc}") from None
        if console.debug:
            traceback.print_exception(type(exc), exc, exc.__traceback__, file=console.stderr)
        console.error(error)
        raise fail(error.exit_code, error.message, error.hint) from None
    except Exception as exc:
        console.internal_error(exc)
        raise fail(ExitCode.INTERNAL, f"internal error: {type(exc).__name__}: {exc}") from None


BROKEN_PIPE_EXIT = 141  # 128 + SIGPIPE: what a shell reports for a tool stopped by it


def quiet_broken_pipe() -> int:
    """Silence stdout for good (the interpreter flushes it at exit) and give the exit code."""
    with contextlib.suppress(OSError, ValueError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    return BROKEN_PIPE_EXIT


def os_error(exc: OSError) -> HyperkvasirError | None:
    """A clear error for a file the system refused (a full disk, a read-only or missing
    place, a file where a folder should be); None when the error names no file (a bug)."""
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return DiskSpaceError(
            f"the disk is full: cannot write {exc.filename or 'a file'}",
            hint="free some space and run the command again",
        )
    if exc.filename is None:
        return None
    where = str(exc.filename) + (f" -> {exc.filename2}" if exc.filename2 else "")
    return UsageError(
        f"cannot use {where}: {exc.strerror or exc}",
        hint="check the path you gave (or the configured folder): that it exists, is a "
        "folder where one is needed, and may be written",
    )


# Python type names typer shows in help, and what a reader of a command line expects.
_PLAIN_TYPES = {
    "<path>": "PATH",
    "<str>": "TEXT",
    "<int>": "N",
    "<float>": "N",
    "<int range>": "N",
    "<float range>": "N",
}


def plain_help_types(params: list[Any], ctx: Any) -> list[Any]:
    """Help without Python's type names: a flag shows none (not ``<bool>``), an argument
    its name (``PART...``, not ``<list[str]>``), a value a word (``PATH``, ``N``)."""
    for param in params:
        if getattr(param, "is_flag", False) and param.metavar is None:
            param.metavar = ""
        elif param.param_type_name == "argument":
            param.display_type_rich = lambda ctx: None
        elif param.metavar is None and callable(getattr(param, "display_type", None)):
            shown = param.display_type(ctx)
            if shown in _PLAIN_TYPES:
                param.metavar = _PLAIN_TYPES[shown]
    return params


class HyperkvasirCommand(TyperCommand):
    """Every command: help in plain words (see :func:`plain_help_types`)."""

    def get_params(self, ctx: Any) -> list[Any]:
        return plain_help_types(super().get_params(ctx), ctx)


class HyperkvasirGroup(TyperGroup):
    """The top-level command: a mistyped command line is one ``error:`` line (and, with
    ``--json``, a JSON document on stdout), like every other failure."""

    def get_params(self, ctx: Any) -> list[Any]:
        return plain_help_types(super().get_params(ctx), ctx)

    def main(  # type: ignore[override]
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        **extra: Any,
    ) -> Any:
        argv = list(sys.argv[1:] if args is None else args)
        if not standalone_mode:
            return super().main(argv, prog_name, complete_var, False, **extra)
        stop_on_sigterm()
        try:
            result = super().main(argv, prog_name, complete_var, False, **extra)
        except _CLICK_ERROR as exc:
            error: Any = exc
            # No command given: the help has been printed already (as typer does).
            if type(error).__name__ != "NoArgsIsHelpError":
                _usage_error(error, argv)
            sys.exit(error.exit_code)
        except _ABORT:
            sys.stderr.write("error: interrupted\n")
            sys.exit(int(ExitCode.INTERRUPTED))
        sys.exit(result if isinstance(result, int) else 0)


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def stop_on_sigterm() -> None:
    """SIGTERM (`timeout`, systemd, a cancelled CI job) stops a run as Ctrl-C does: what
    was received is written and recorded, the exit code is 130, and a rerun continues."""
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _interrupt)


def _click_class(name: str) -> type[Exception]:
    """click's exception classes, wherever this typer keeps click (vendored or not)."""
    found: type[Exception] = next(c for c in typer.BadParameter.__mro__ if c.__name__ == name)
    return found


_CLICK_ERROR = _click_class("ClickException")
_ABORT: type[BaseException] = typer.Abort


def _usage_error(exc: Any, argv: list[str]) -> None:
    message = exc.format_message()
    message = message.replace(": Value error, ", ": ")  # pydantic's prefix, via typer
    context = getattr(exc, "ctx", None)
    command_path = getattr(context, "command_path", None) or "hyperkvasir"
    hint = f"see `{command_path} --help`"
    sys.stderr.write(f"error: {message}\nhint: {hint}\n")
    if "--json" in argv or "-j" in argv:
        document = {"ok": False, "error": error_json(exc.exit_code, message, hint)}
        sys.stdout.write(json.dumps(document, indent=2, ensure_ascii=False) + "\n")


def _hide_flag_metavar(annotation: Any) -> None:
    """A flag takes no value, so its help shows none (typer would print `<bool>`)."""
    if get_origin(annotation) is not Annotated:
        return
    kind, *extras = get_args(annotation)
    for info in extras:
        if kind is bool and isinstance(info, OptionInfo) and info.metavar is None:
            info.metavar = ""


def command(func: F) -> F:
    """Make ``func(rt, **options)`` a typer command with the global options added."""
    signature = inspect.signature(func, eval_str=True)
    own = [p for name, p in signature.parameters.items() if name != "rt"]
    overlap = _GLOBAL_NAMES & {p.name for p in own}
    if overlap:
        raise TypeError(f"{func.__name__} redeclares global options: {sorted(overlap)}")

    @functools.wraps(func)
    def wrapper(**kwargs: Any) -> Any:
        after = GlobalOptions(
            **{k: kwargs.pop(k) for k in ("config", "manifest", "data_dir", "quiet", "debug")}
        )
        ctx = kwargs.pop("ctx")
        rt = build_runtime(ctx, after)
        json_output = bool(kwargs.get("json_output"))

        def body() -> Any:
            try:
                return func(rt, **kwargs)
            finally:
                note_missing_config(rt)

        return run_guarded(rt.console, body, json_output=json_output)

    params = [p.replace(kind=inspect.Parameter.KEYWORD_ONLY) for p in own] + _GLOBAL_PARAMS
    for param in params:
        _hide_flag_metavar(param.annotation)
    wrapper.__signature__ = signature.replace(parameters=params)  # type: ignore[attr-defined]
    annotations = {p.name: p.annotation for p in params}
    wrapper.__annotations__ = {**annotations, "return": signature.return_annotation}
    del wrapper.__wrapped__  # typer must see the new signature, not the original
    return wrapper  # type: ignore[return-value]
