"""The README documents what the program has: every command and option, every exit code,
every setting with its environment variable, every dependency; and it opens with the two
set-up commands that CI runs."""

from __future__ import annotations

import re
from importlib.metadata import requires
from pathlib import Path
from typing import Any

import pytest
import typer

from hyperkvasir_cli.cli.app import app
from hyperkvasir_cli.core.config import SETTING_KEYS
from hyperkvasir_cli.core.errors import ExitCode

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")
SETUP_COMMANDS = (
    "python -m pip install . && hyperkvasir download segmented-images\n"
    "python -m pip install '.[test]' && python -m pytest -n 2\n"
)
ENV_PREFIX = "HYPERKVASIR_"
GLOBAL_OPTIONS = ("--config", "--manifest", "--data-dir", "--quiet", "--debug")
COMMAND_HEADING = re.compile(r"^### `hyperkvasir (?P<name>[a-z-]+)`$", re.M)


def root_command() -> Any:
    return typer.main.get_command(app)


def commands() -> dict[str, Any]:
    """Top-level command name -> its command object (a group for `config`)."""
    return dict(root_command().commands)


def long_options(command: Any) -> set[str]:
    """The long options a command's --help shows."""
    found = set()
    for param in command.params:
        if getattr(param, "hidden", False):
            continue
        found |= {o for o in [*param.opts, *param.secondary_opts] if o.startswith("--")}
    return found


def section(heading: str) -> str:
    """The README text under ``heading`` (a `##` or `###` line) up to the next heading."""
    start = README.index(heading + "\n")
    level = heading.split(" ", 1)[0]
    following = re.compile(rf"^#{{2,{len(level)}}} ", re.M)
    end = following.search(README, start + len(heading) + 1)
    return README[start : end.start() if end else len(README)]


def mentions(text: str, option: str) -> bool:
    return re.search(rf"(?<![\w-]){re.escape(option)}(?![\w-])", text) is not None


def test_the_readme_opens_with_the_two_setup_commands_that_ci_runs() -> None:
    first_block = re.search(r"^```\w*\n(.*?)^```", README, re.M | re.S)
    assert first_block is not None and first_block.group(1) == SETUP_COMMANDS
    ci_script = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    # CI may quieten pip; the command is otherwise the README's, word for word.
    assert SETUP_COMMANDS.splitlines()[1] in ci_script.replace("pip install -q ", "pip install ")


def test_every_command_has_its_own_section() -> None:
    documented = set(COMMAND_HEADING.findall(README))
    assert set(commands()) <= documented, f"no README section for {set(commands()) - documented}"
    assert documented <= set(commands()), f"README documents unknown {documented - set(commands())}"


@pytest.mark.parametrize("name", sorted(commands()))
def test_every_option_of_a_command_is_in_its_section(name: str) -> None:
    command = commands()[name]
    text = section(f"### `hyperkvasir {name}`")
    subcommands = getattr(command, "commands", {})
    for sub_name in subcommands:
        assert f"hyperkvasir {name} {sub_name}" in text
    options = long_options(command).union(*(long_options(s) for s in subcommands.values()))
    missing = sorted(o for o in options - {"--help", *GLOBAL_OPTIONS} if not mentions(text, o))
    assert not missing, f"`hyperkvasir {name}` options missing from its README section: {missing}"


def test_global_and_program_options_are_documented() -> None:
    text = section("## Global options")
    for option in GLOBAL_OPTIONS:
        assert mentions(text, option), option
    for option in long_options(root_command()) - {"--help"}:
        assert mentions(README, option), option


def test_every_exit_code_is_in_the_table() -> None:
    text = section("## Exit codes")
    rows = {int(code) for code in re.findall(r"^\| (\d+) \|", text, re.M)}
    assert rows == {int(code) for code in ExitCode}


def test_every_setting_is_in_the_reference_with_its_environment_variable() -> None:
    text = section("## Configuration")
    for key in SETTING_KEYS:
        row = re.search(rf"^\| `{key}` \| `{ENV_PREFIX}{key.upper()}` \|", text, re.M)
        assert row is not None, f"no row `{key}` | `{ENV_PREFIX}{key.upper()}` in the reference"


def test_every_dependency_says_why_it_is_there() -> None:
    runtime = [spec for spec in requires("hyperkvasir") or [] if "extra ==" not in spec]
    names = [re.split(r"[<>=!~ ;\[]", spec, maxsplit=1)[0] for spec in runtime]
    assert "typer" in names
    text = section("## Dependencies")
    missing = [n for n in names if not re.search(rf"^\| \[{re.escape(n)}\]", text, re.M | re.I)]
    assert not missing, f"say in the README why these are needed: {missing}"
