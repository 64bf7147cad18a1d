"""`hyperkvasir --help` and shell completion must start fast: the command layer imports
the library (pydantic models, YAML, the HTTP client) only when a command runs."""

from __future__ import annotations

import subprocess
import sys

HEAVY = (
    "httpx",
    "pydantic",
    "yaml",
    "PIL",
    "hyperkvasir_cli.core.config",
    "hyperkvasir_cli.transfer.engine",
)


def test_building_the_cli_imports_no_heavy_module() -> None:
    probe = (
        "import sys, hyperkvasir_cli.cli.app as app, typer.main;"
        "typer.main.get_command(app.app);"
        f"print([m for m in {HEAVY!r} if m in sys.modules])"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_help_lists_every_command_and_the_exit_codes() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "hyperkvasir_cli", "--help"],
        capture_output=True,
        text=True,
        check=True,
        env={"COLUMNS": "120", "PATH": ""},
    )
    for name in (
        "parts",
        "download",
        "resume",
        "checksum",
        "extract",
        "stats",
        "split",
        "sync",
        "config",
    ):
        assert name in out.stdout
    assert "130" in out.stdout and "another run holds the lock" in out.stdout


LIBRARIES = ("httpx", "pydantic", "yaml", "PIL", "rich", "typer")


def test_importing_the_package_and_its_api_loads_none_of_the_libraries() -> None:
    """`import hyperkvasir_cli` (and naming the API) costs nothing: the libraries load
    when a method first needs them."""
    probe = (
        "import sys, hyperkvasir_cli;"
        f"first = [m for m in {LIBRARIES!r} if m in sys.modules];"
        "from hyperkvasir_cli import HyperKvasir, HyperkvasirError;"
        f"print(first, [m for m in {LIBRARIES!r} if m in sys.modules])"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[] []"


def test_every_public_name_resolves() -> None:
    import hyperkvasir_cli

    assert sorted(dir(hyperkvasir_cli)) == sorted(hyperkvasir_cli.__all__)
    for name in hyperkvasir_cli.__all__:
        assert getattr(hyperkvasir_cli, name) is not None
    assert issubclass(hyperkvasir_cli.LockedError, hyperkvasir_cli.HyperkvasirError)
    assert hyperkvasir_cli.HyperKvasir.__module__ == "hyperkvasir_cli.api"
