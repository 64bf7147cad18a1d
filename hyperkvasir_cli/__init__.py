"""hyperkvasir: get the HyperKvasir endoscopy dataset onto a machine and keep it right.

From Python::

    from hyperkvasir_cli import HyperKvasir, HyperkvasirError

    hk = HyperKvasir()
    polyps = hk.extract("labeled-images", classes=["polyp"])

The public names load on first use (PEP 562), so ``import hyperkvasir_cli`` imports none
of the libraries the work needs (httpx, pydantic, yaml, PIL, rich, typer).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from hyperkvasir_cli.core.about import ENV_PREFIX, __version__

# Public name -> the module that defines it.
_EXPORTS = {
    "HyperKvasir": "hyperkvasir_cli.api",
    "HyperkvasirError": "hyperkvasir_cli.core.errors",
    "UsageError": "hyperkvasir_cli.core.errors",
    "ConfigError": "hyperkvasir_cli.core.errors",
    "NetworkError": "hyperkvasir_cli.core.errors",
    "IntegrityError": "hyperkvasir_cli.core.errors",
    "ArchiveError": "hyperkvasir_cli.core.errors",
    "DiskSpaceError": "hyperkvasir_cli.core.errors",
    "LockedError": "hyperkvasir_cli.core.errors",
    "Interrupted": "hyperkvasir_cli.core.errors",
    "ExitCode": "hyperkvasir_cli.core.errors",
    "ProgressReporter": "hyperkvasir_cli.core.progress",
    "SilentProgress": "hyperkvasir_cli.core.progress",
}

__all__ = [
    "ENV_PREFIX",
    "ArchiveError",
    "ConfigError",
    "DiskSpaceError",
    "ExitCode",
    "HyperKvasir",
    "HyperkvasirError",
    "IntegrityError",
    "Interrupted",
    "LockedError",
    "NetworkError",
    "ProgressReporter",
    "SilentProgress",
    "UsageError",
    "__version__",
]

if TYPE_CHECKING:
    from hyperkvasir_cli.api import HyperKvasir
    from hyperkvasir_cli.core.errors import (
        ArchiveError,
        ConfigError,
        DiskSpaceError,
        ExitCode,
        HyperkvasirError,
        IntegrityError,
        Interrupted,
        LockedError,
        NetworkError,
        UsageError,
    )
    from hyperkvasir_cli.core.progress import ProgressReporter, SilentProgress


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
