"""Every option of a command answers to its own short form: two options sharing one
would make `-j 3` mean something else than the help says."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest
import typer

from hyperkvasir_cli.cli.app import app


def leaf_commands() -> dict[str, Any]:
    """Command path -> command object, subcommands of groups (`config set`) included."""
    found: dict[str, Any] = {}

    def walk(prefix: str, command: Any) -> None:
        for name, sub in getattr(command, "commands", {}).items():
            walk(f"{prefix} {name}".strip(), sub)
        if not getattr(command, "commands", None):
            found[prefix] = command

    walk("", typer.main.get_command(app))
    return found


@pytest.mark.parametrize("name", sorted(leaf_commands()))
def test_no_two_options_of_a_command_share_a_short_form(name: str) -> None:
    command = leaf_commands()[name]
    shorts = Counter(
        opt
        for param in command.params
        for opt in [*getattr(param, "opts", []), *getattr(param, "secondary_opts", [])]
        if opt.startswith("-") and not opt.startswith("--")
    )
    assert [opt for opt, uses in shorts.items() if uses > 1] == []
