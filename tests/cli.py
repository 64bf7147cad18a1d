"""Running the real command line in-process, with its exit code and both streams."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from typer.testing import CliRunner

from hyperkvasir_cli.cli.app import app


@dataclass
class Result:
    exit_code: int
    stdout: str
    stderr: str

    def json(self) -> Any:
        import json

        return json.loads(self.stdout)


def run_cli(*args: str, input: str | None = None) -> Result:
    """Invoke `hyperkvasir ARGS...` like a shell would (stderr is not a terminal)."""
    runner = CliRunner()
    result = runner.invoke(app, list(args), input=input, catch_exceptions=False)
    return Result(result.exit_code, result.stdout, result.stderr)
