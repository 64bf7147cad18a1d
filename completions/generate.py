"""Write the bash, zsh and fish completion scripts of `hyperkvasir` from the app itself.

    python completions/generate.py           # rewrite the scripts beside this file
    python completions/generate.py --check   # exit 1 if a committed script is stale

Each script is what the program prints for `_HYPERKVASIR_COMPLETE=source_<shell>
hyperkvasir` (typer's completion machinery), obtained by running the app in-process. The
scripts hold no command names: on Tab they call `hyperkvasir` back, so commands, options
and part names always come from the installed program. Two changes are made: a header
saying where the file comes from, and in zsh an ending that works both when the file is
sourced and when compinit autoloads it from `$fpath` (typer's own ending only registers
the function, so the first Tab after an autoload would complete nothing).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

PROG_NAME = "hyperkvasir"
COMPLETE_VAR = "_HYPERKVASIR_COMPLETE"
HERE = Path(__file__).resolve().parent
SCRIPTS = {"bash": "hyperkvasir.bash", "zsh": "_hyperkvasir", "fish": "hyperkvasir.fish"}
HEADER = (
    "# {shell} completion for hyperkvasir; written by completions/generate.py, do not edit.\n"
    "# It calls `hyperkvasir` on each Tab, so that command must be on PATH.\n"
)
ZSH_REGISTER = "compdef _hyperkvasir_completion hyperkvasir"
ZSH_ENDING = """\
if [[ ${funcstack[1]} == _hyperkvasir ]]; then
  # Autoloaded from $fpath by compinit, this file is the body of _hyperkvasir, run on
  # every Tab: complete the current word.
  _hyperkvasir_completion "$@"
else
  # Sourced (e.g. from ~/.zshrc, after compinit): register the function.
  compdef _hyperkvasir_completion hyperkvasir
fi"""


def typer_source(shell: str) -> str:
    """The completion script the app prints for ``shell``, as a user would get it."""
    from typer.testing import CliRunner

    from hyperkvasir_cli.cli.app import app

    result = CliRunner().invoke(app, [], env={COMPLETE_VAR: f"source_{shell}"}, prog_name=PROG_NAME)
    if result.exit_code != 0 or not result.stdout.strip():
        raise RuntimeError(
            f"{PROG_NAME} printed no {shell} completion script (exit {result.exit_code}): "
            f"{result.stderr.strip()}"
        )
    return result.stdout.strip()


def render(shell: str) -> str:
    """The committed form of the script for ``shell``."""
    source = typer_source(shell)
    header = HEADER.format(shell=shell)
    if shell != "zsh":
        return f"{header}\n{source}\n"
    first, _, body = source.partition("\n")
    if first != f"#compdef {PROG_NAME}" or ZSH_REGISTER not in body:
        raise RuntimeError(f"typer's zsh script changed shape; review {__file__}:\n{source}")
    # `#compdef` must stay the first line: compinit reads it to autoload the file.
    body = body.strip().replace(ZSH_REGISTER, ZSH_ENDING)
    return f"{first}\n{header}\n{body}\n"


def stale_scripts(folder: Path = HERE) -> list[str]:
    """File names in ``folder`` whose content differs from what the app generates now."""
    stale = []
    for shell, name in SCRIPTS.items():
        path = folder / name
        if not path.is_file() or path.read_text(encoding="utf-8") != render(shell):
            stale.append(name)
    return stale


def write_scripts(folder: Path = HERE) -> list[Path]:
    written = []
    for shell, name in SCRIPTS.items():
        path = folder / name
        path.write_text(render(shell), encoding="utf-8")
        written.append(path)
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if a script is stale")
    options = parser.parse_args(argv)
    if options.check:
        stale = stale_scripts()
        for name in stale:
            print(f"stale: completions/{name}; run `python completions/generate.py`")
        return 1 if stale else 0
    for path in write_scripts():
        print(f"wrote {path.relative_to(HERE.parent)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
