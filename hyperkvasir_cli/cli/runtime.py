"""What every command needs: its global options, the console, the session its workflow
runs in, and the single place where errors become exit codes.

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
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, TypeVar, get_args, get_origin

import typer
from typer.core import TyperCommand, TyperGroup
from typer.models import OptionInfo

from hyperkvasir_cli.cli.console import Console, ConsoleMessages
from hyperkvasir_cli.cli.options import (
    ConfigOption,
    DataDirOption,
    DebugOption,
    ManifestOption,
    QuietOption,
)
from hyperkvasir_cli.core.about import ENV_PREFIX
from hyperkvasir_cli.core.clock import Clock, SystemClock
from hyperkvasir_cli.core.errors import (
    INTERRUPTED_MESSAGE,
    DiskSpaceError,
    ExitCode,
    HyperkvasirError,
    UsageError,
    error_json,
)

# The session loads the library (pydantic models, YAML) when a command first needs it, so
# that `--help` and shell completion start fast.
from hyperkvasir_cli.ops.session import Session, SessionOptions

F = TypeVar("F", bound=Callable[..., Any])

# The clock every command uses; tests install a fake one so that backoff never waits.
clock_factory: Callable[[], Clock] = SystemClock


@dataclass
class GlobalOptions:
    config: Path | None = None
    manifest: str | None = None  # a file, or an s3:// URL
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


def _env_flag(environ: Mapping[str, str], name: str) -> bool:
    return environ.get(name, "").strip().lower() in ("1", "true", "yes", "on")


@dataclass
class Runtime:
    """What a command has: its options, the console it renders on, and the session the
    workflows run in (whose messages and progress go to that console)."""

    options: GlobalOptions
    console: Console
    session: Session


def note_missing_config(rt: Runtime) -> None:
    """Say on stderr that a config file named explicitly does not exist, once the command
    is over: a command that writes records creates it, one that only reads it does not."""
    from hyperkvasir_cli.core.config import config_named_by, missing_config_note

    with contextlib.suppress(HyperkvasirError):  # an empty HYPERKVASIR_CONFIG is said already
        session = rt.session
        note = missing_config_note(
            session.config_path, config_named_by(session.options.config, session.environ)
        )
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
    session = Session(
        options=SessionOptions(options.config, options.manifest, options.data_dir),
        environ=environ,
        clock=clock,
        progress=ConsoleMessages(console),
        task_reporters=console.progress,
    )
    return Runtime(options=options, console=console, session=session)


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
    """Every command: help in plain words (see :func:`plain_help_types`), and its summary in
    the list of commands on one line (see :func:`one_line_summary`)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.short_help is None and self.help:
            self.short_help = one_line_summary(self.help)

    def get_params(self, ctx: Any) -> list[Any]:
        return plain_help_types(super().get_params(ctx), ctx)


def one_line_summary(help_text: str) -> str:
    """The first paragraph of a command's help with its line breaks made spaces: typer's
    rich help keeps a docstring's line breaks in the list of commands, which cut its
    sentences wherever the source wrapped them."""
    return " ".join(inspect.cleandoc(help_text).split("\n\n")[0].split())


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
