"""Reading YAML files and describing pydantic errors as `key: problem` for people."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from hyperkvasir_cli.core.errors import ConfigError


def load_yaml_mapping(path: Path, what: str) -> dict[str, Any]:
    """Parse a YAML file whose top level must be a mapping (an empty file is an empty one)."""
    try:
        text = path.read_text("utf-8")
    except FileNotFoundError as exc:
        raise ConfigError(f"{what} {path}: file not found") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{what} {path}: cannot read: {exc}") from exc
    return parse_yaml_mapping(text, str(path), what)


def parse_yaml_mapping(text: str, path: str, what: str) -> dict[str, Any]:
    """YAML text (read from ``path``, a file or a URL) whose top level must be a mapping."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        where = ""
        mark = getattr(exc, "problem_mark", None)
        if mark is not None:
            where = f" at line {mark.line + 1}, column {mark.column + 1}"
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ConfigError(
            f"{what} {path}: not valid YAML{where}: {problem}",
            hint=f"fix the YAML syntax in {path}",
        ) from exc
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(
            f"{what} {path}: expected a mapping of keys at the top level, "
            f"found {type(data).__name__}"
        )
    return data


def _key_path(loc: tuple[int | str, ...], data: Any) -> str:
    """Turn a pydantic location into `parts[0].size` style, naming parts where we can."""
    out = ""
    node = data
    for item in loc:
        if isinstance(item, int):
            label = f"[{item}]"
            if isinstance(node, list) and item < len(node):
                node = node[item]
                if isinstance(node, dict) and isinstance(node.get("name"), str):
                    label = f"[{item}] ({node['name']})"
            else:
                node = None
            out += label
        else:
            out += f".{item}" if out else item
            node = node.get(item) if isinstance(node, dict) else None
    return out or "(top level)"


def describe_validation_error(exc: ValidationError, data: Any) -> str:
    """Every problem as `key: message`, joined by semicolons."""
    problems = []
    for err in exc.errors():
        loc = tuple(x for x in err["loc"] if x not in ("function-after",))
        key = _key_path(loc, data)
        message = err["msg"]
        if err["type"] == "extra_forbidden":
            message = "unknown key"
        elif message.startswith("Value error, "):
            message = message[len("Value error, ") :]
        elif "input" in err and err["type"] not in ("missing",):
            message = f"{message} (found {err['input']!r})"
        problems.append(f"{key}: {message}")
    return "; ".join(problems)
