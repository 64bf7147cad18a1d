"""Writing a manifest: the one `push` leaves beside the objects it stored.

Pure functions: :func:`manifest_with_objects` decides what the manifest says, and
:func:`render_manifest` turns it into YAML that :func:`~hyperkvasir_cli.core.manifest.
parse_manifest` reads back to an equal manifest.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from hyperkvasir_cli.core.manifest import Manifest, Part


@dataclass(frozen=True)
class StoredObject:
    """A verified archive of ``part`` stored at ``url`` (its size and sha256)."""

    part: str
    url: str
    size: int
    sha256: str


def manifest_with_objects(
    base: Manifest,
    stored: Sequence[StoredObject],
    previous: Manifest | None = None,
    prefix: str | None = None,
) -> Manifest:
    """Every part of ``base``; a part with a stored object names that object first, then
    the part's original URLs, and carries the object's size and sha256.

    ``previous`` is the manifest already under the prefix (an earlier push of other
    parts): its parts whose first URL lies under ``prefix`` keep that object, so pushing
    one part never drops another from the shared manifest.
    """
    objects = {o.part: o for o in stored}
    if previous is not None and prefix is not None:
        for part in previous.parts:
            if part.name in objects or part.name not in base.names:
                continue
            first = part.urls[0]
            if first.startswith(prefix) and part.size is not None and part.sha256 is not None:
                objects[part.name] = StoredObject(part.name, first, part.size, part.sha256)
    parts = [_with_object(p, objects[p.name]) if p.name in objects else p for p in base.parts]
    return base.model_copy(update={"parts": parts})


def _with_object(part: Part, stored: StoredObject) -> Part:
    urls = [stored.url, *(u for u in part.urls if u != stored.url)]
    return part.model_copy(update={"urls": urls, "size": stored.size, "sha256": stored.sha256})


def render_manifest(manifest: Manifest, comment: str | None = None) -> str:
    """The manifest as YAML, keys in the bundled manifest's order, empty fields left out."""
    import yaml

    document = manifest.model_dump(mode="json", exclude_none=True)
    for part in document["parts"]:
        if not part.get("contains"):
            part.pop("contains", None)
        expected = part.get("expected", {})
        if not expected.get("classes"):
            expected.pop("classes", None)
        if not expected:
            part.pop("expected", None)
    header = "".join(f"# {line}\n" for line in comment.splitlines()) if comment else ""
    return header + yaml.safe_dump(document, sort_keys=False, allow_unicode=True, width=100)
