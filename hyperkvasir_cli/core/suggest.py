"""'Did you mean' for names people type: parts, groups and classes (commands and options
get it from the command-line parser)."""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping


def closest(
    name: str, choices: Iterable[str], aliases: Mapping[str, str] | None = None
) -> str | None:
    """The choice ``name`` most likely misspells, or None when none is close. An alias that
    is closest stands for the name it is an alias of (``polip`` -> ``polyps``, through the
    official split's spelling ``polyp``)."""
    aliases = aliases or {}
    candidates = list(dict.fromkeys([*choices, *aliases]))
    found = difflib.get_close_matches(name.strip().lower(), candidates, n=1, cutoff=0.6)
    if not found:
        return None
    return aliases.get(found[0], found[0])


def did_you_mean(
    name: str, choices: Iterable[str], aliases: Mapping[str, str] | None = None
) -> str:
    """``" (did you mean 'labeled-images'?)"``, or ``""`` when nothing is close."""
    guess = closest(name, choices, aliases)
    return f" (did you mean {guess!r}?)" if guess is not None else ""
