"""The console script the benchmark runs must be the one pyproject.toml declares.

pip writes the `hyperkvasir` script when the package is installed and never again: an
editable install made before `[project.scripts]` changed keeps running the old entry
point. The benchmark would then time a program no user gets (the `checksum` head start of
`hyperkvasir_cli.cli.entry` went unmeasured that way), so it stops and says to reinstall.
"""

from __future__ import annotations

import re
from pathlib import Path

_SCRIPT = re.compile(r'^hyperkvasir\s*=\s*"(?P<module>[\w.]+):(?P<function>\w+)"', re.MULTILINE)


def declared_entry(pyproject: Path) -> tuple[str, str]:
    """The module and function `[project.scripts] hyperkvasir` names."""
    found = _SCRIPT.search(pyproject.read_text("utf-8"))
    if found is None:
        raise ValueError(f"{pyproject} declares no hyperkvasir script")
    return found["module"], found["function"]


def stale_script(exe: Path, pyproject: Path) -> str | None:
    """Why ``exe`` is not the script ``pyproject`` declares (None: it is, or it is no
    Python launcher this can read, such as a Windows .exe)."""
    module, function = declared_entry(pyproject)
    try:
        text = exe.read_text("utf-8")
    except (OSError, UnicodeDecodeError):
        return None
    if f"from {module} import {function}" in text:
        return None
    runs = re.search(r"^from ([\w.]+) import (\w+)", text, re.MULTILINE)
    actual = f"{runs[1]}:{runs[2]}" if runs else "something else"
    return (
        f"{exe} runs {actual}, but pyproject.toml declares {module}:{function}; "
        "reinstall the package into this environment (pip install -e .) and run again"
    )
