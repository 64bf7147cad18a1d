"""The side files (metadata, features, clusters, predicted labels) for the workflows that
read them: where each is, whether it can be used, and which models a name means.

A side file is used when it is in the archives folder and is the part's file: when the
manifest pins its sha256, hashed (these files are small) and found equal, else not used (a
warning says so); otherwise used, with a note when no verification is recorded for it.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from hyperkvasir_cli.core.errors import UsageError
from hyperkvasir_cli.dataset.tables.parts import (
    CLUSTERS,
    FEATURES,
    FEATURES_ARFF,
    PREDICTION_PREFIX,
    PREDICTIONS,
    prediction_parts,
)

if TYPE_CHECKING:
    from hyperkvasir_cli.core.manifest import Manifest, Part
    from hyperkvasir_cli.ops.session import Session

FEATURE_NAMES = (FEATURES, FEATURES_ARFF, CLUSTERS)


def side_file(session: Session, name: str, *, fetch: bool = False) -> Path | None:
    """The file of part ``name`` when it is here and usable (see the module docstring);
    None when the manifest has no such part or the file is absent (``fetch``: downloaded
    first, as the official split is) or unusable."""
    if name not in session.manifest.names:
        return None
    part = session.manifest.part(name)
    path = session.layout.archive_path(part)
    if not path.is_file():
        if not fetch:
            return None
        from hyperkvasir_cli.ops.fetch import ensure_archive

        path = ensure_archive(session, part)
    return path if _usable(session, part, path) else None


def _usable(session: Session, part: Part, path: Path) -> bool:
    from hyperkvasir_cli.check.verify import record_matches_file

    if part.sha256 is None:
        if not record_matches_file(session.record(part), path):
            session.info(f"{part.name}: {path} is not recorded as verified; using it as it is")
        return True
    from hyperkvasir_cli.core.hashing import sha256_file

    found = sha256_file(path)  # pinned side files are small: hashed on every use
    if found == part.sha256:
        return True
    session.warn(
        f"{part.name}: {path} is not the published file (sha256 {found}, expected "
        f"{part.sha256}); not used. Run `hyperkvasir download {part.name} --force`"
    )
    return False


def is_table_subject(manifest: Manifest, name: str) -> bool:
    """Whether ``name`` asks `stats` or `export` for the features or the predicted labels."""
    if name in FEATURE_NAMES or name == PREDICTIONS:
        return name in manifest.names or manifest.find_group(name) is not None
    return name in {p.name for p in prediction_parts(manifest)}


def prediction_models(manifest: Manifest, names: list[str]) -> list[Part]:
    """The prediction parts ``names`` ask for, in the group's order: the group's name (or
    ``all``) means every model; a model is named by its part, with or without the
    ``predictions-`` prefix. UsageError (exit 2) listing the models for any other name."""
    models = prediction_parts(manifest)
    by_name = {p.name: p for p in models}
    chosen: set[str] = set()
    for name in names:
        if name in (PREDICTIONS, "all"):
            chosen.update(by_name)
        elif name in by_name or PREDICTION_PREFIX + name in by_name:
            chosen.add(name if name in by_name else PREDICTION_PREFIX + name)
        else:
            listed = ", ".join(by_name) or "none in this manifest"
            raise UsageError(
                f"unknown model {name!r}; models: {listed}",
                hint="name a model's part, several separated by commas, or all",
            )
    return [p for p in models if p.name in chosen]
