"""The benchmark times the console script pyproject.toml declares, never a stale one."""

from __future__ import annotations

from pathlib import Path

from bench.script import declared_entry, stale_script

PYPROJECT = Path(__file__).resolve().parents[1] / "pyproject.toml"

PIP_SCRIPT = """#!/venv/bin/python3
import sys
from {module} import {function}
if __name__ == '__main__':
    sys.argv[0] = sys.argv[0].removesuffix('.exe')
    sys.exit({function}())
"""


def test_a_script_of_the_declared_entry_point_is_measured(tmp_path: Path) -> None:
    module, function = declared_entry(PYPROJECT)
    script = tmp_path / "hyperkvasir"
    script.write_text(PIP_SCRIPT.format(module=module, function=function))
    assert stale_script(script, PYPROJECT) is None


def test_a_script_installed_before_the_entry_point_changed_is_refused(tmp_path: Path) -> None:
    module, function = declared_entry(PYPROJECT)
    script = tmp_path / "hyperkvasir"
    script.write_text(PIP_SCRIPT.format(module="hyperkvasir_cli.cli.app", function="main"))
    reason = stale_script(script, PYPROJECT)
    assert reason is not None
    assert (
        f"runs hyperkvasir_cli.cli.app:main, but pyproject.toml declares {module}:{function}"
        in reason
    )
    assert "pip install -e ." in reason


def test_a_launcher_that_is_no_text_is_left_alone(tmp_path: Path) -> None:
    launcher = tmp_path / "hyperkvasir.exe"
    launcher.write_bytes(b"MZ\x90\x00\xff\xfe")
    assert stale_script(launcher, PYPROJECT) is None
