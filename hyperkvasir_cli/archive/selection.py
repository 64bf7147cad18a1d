"""Which zip members a command acts on: include/exclude globs, classes, platform junk.

Globs are fnmatch patterns on the member path where `*` also matches `/` (SPEC.md), so
`*/polyps/*` selects every polyp image at any depth.
"""

from __future__ import annotations

import fnmatch
import functools
from collections.abc import Sequence
from dataclasses import dataclass, field

from hyperkvasir_cli.core.classes import CLASS_BY_NAME, canonical_class
from hyperkvasir_cli.core.errors import UsageError

_JUNK_NAMES = frozenset({".DS_Store", "Thumbs.db", "desktop.ini"})


def is_platform_junk(member: str) -> bool:
    """Files that archivers on macOS and Windows add and nobody wants extracted."""
    parts = member.replace("\\", "/").split("/")
    if "__MACOSX" in parts:
        return True
    name = parts[-1]
    return name in _JUNK_NAMES or name.startswith("._")


def class_globs(classes: Sequence[str]) -> list[str]:
    """Include globs for classes given in any spelling; unknown names are a usage error."""
    globs = []
    for name in classes:
        canonical = canonical_class(name)
        if canonical is None:
            from hyperkvasir_cli.core.classes import CLASS_ALIASES
            from hyperkvasir_cli.core.suggest import did_you_mean

            known = sorted(CLASS_BY_NAME)
            raise UsageError(
                f"unknown class {name!r}{did_you_mean(name, known, CLASS_ALIASES)}",
                hint=f"classes: {', '.join(known)} (official-split spellings accepted too)",
            )
        globs.append(f"*/{canonical}/*")
    return globs


@dataclass(frozen=True)
class Selection:
    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    classes: tuple[str, ...] = field(default=())

    @classmethod
    def build(
        cls,
        include: Sequence[str] = (),
        exclude: Sequence[str] = (),
        classes: Sequence[str] = (),
    ) -> Selection:
        canonical = tuple(canonical_class(c) or c for c in classes)
        class_globs(classes)  # validates the names
        return cls(tuple(include), tuple(exclude), canonical)

    @functools.cached_property
    def _class_globs(self) -> list[str]:
        # Worked out once: selects() runs for each of 100,000 members.
        return class_globs(self.classes)

    @property
    def is_everything(self) -> bool:
        return not (self.include or self.exclude or self.classes)

    def selects(self, member: str) -> bool:
        """True when ``member`` passes every filter; platform junk never does."""
        if is_platform_junk(member):
            return False
        if self.classes and not any(fnmatch.fnmatchcase(member, g) for g in self._class_globs):
            return False
        if self.include and not any(fnmatch.fnmatchcase(member, g) for g in self.include):
            return False
        return not any(fnmatch.fnmatchcase(member, g) for g in self.exclude)

    def as_json(self) -> dict[str, list[str]]:
        return {
            "include": list(self.include),
            "exclude": list(self.exclude),
            "classes": list(self.classes),
        }
