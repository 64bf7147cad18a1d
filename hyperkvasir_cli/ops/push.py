"""`push` (and the Python API's ``push``): verified archives to object storage, and a
manifest beside them that any node can sync from.

Each part must have a verified archive here (a record whose verification still describes
the file). Each goes up with :func:`~hyperkvasir_cli.transfer.s3_upload.upload_archive`
(multipart, resumable, checked; nothing sent when the object already holds it), its
pending-upload state kept beside the archive as ``<file>.push.json``. Then
``<prefix>/manifest.yaml`` names the stored objects first and the original URLs after
them, keeping the objects an earlier push of other parts stored there; it is rewritten
only when its text changes. A failure stops the run at that part: parts done before it
stay stored, and the manifest is not written (a rerun finishes both).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from hyperkvasir_cli.core.errors import HyperkvasirError, UsageError

if TYPE_CHECKING:
    from hyperkvasir_cli.core.manifest import Manifest, Part
    from hyperkvasir_cli.ops.session import Session
    from hyperkvasir_cli.transfer.part_digests import PartDigests
    from hyperkvasir_cli.transfer.s3_upload import UploadResult

MANIFEST_NAME = "manifest.yaml"
DEFAULT_PARTS_IN_FLIGHT = 4


@dataclass
class PushedPart:
    part: str
    upload: UploadResult

    def as_json(self) -> dict[str, object]:
        return {"part": self.part, **self.upload.as_json()}


@dataclass
class PushResult:
    """What `push --json` prints: each part's upload and the manifest written."""

    to: str
    manifest_url: str
    manifest_written: bool = False
    parts: list[PushedPart] = field(default_factory=list)

    @property
    def bytes_sent(self) -> int:
        return sum(p.upload.bytes_sent for p in self.parts)

    def as_json(self) -> dict[str, object]:
        return {
            "to": self.to,
            "manifest": self.manifest_url,
            "manifest_written": self.manifest_written,
            "bytes_sent": self.bytes_sent,
            "parts": [p.as_json() for p in self.parts],
        }


def push_parts(
    session: Session,
    names: list[str],
    to: str,
    *,
    parts_in_flight: int = DEFAULT_PARTS_IN_FLIGHT,
    wait_lock: float | None = None,
) -> PushResult:
    """Upload the named parts' verified archives under the ``s3://`` prefix ``to``.

    UsageError (exit 2) before anything is sent when ``to`` is not an s3:// URL or a part
    has no verified archive here; ConfigError (exit 3) without the s3 extra.
    """
    from hyperkvasir_cli.transfer.part_digests import PartDigests
    from hyperkvasir_cli.transfer.s3_client import is_s3_url, parse_s3_url, s3_api

    if not is_s3_url(to):
        raise UsageError(
            f"--to must be an s3://bucket/prefix/ URL, found {to!r}",
            hint="for example: --to s3://lab-datasets/hyperkvasir/",
        )
    prefix = parse_s3_url(to if to.endswith("/") else to + "/")
    parts = session.manifest.select(names)
    if not parts:
        raise UsageError("name the parts to push", hint="for example: push labeled-images")
    archives = [(part, *_verified_archive(session, part)) for part in parts]
    result = PushResult(prefix.url, prefix.child(MANIFEST_NAME).url)
    with session.locked(wait_lock):
        # The first archive's digests start now: the S3 client takes half a second to make.
        ahead: PartDigests | None = PartDigests(archives[0][1], archives[0][2])
        try:
            s3_api(session.environ)  # the extra's absence is said before any work
            for part, path, sha256 in archives:
                url = prefix.child(part.file).url
                digests, ahead = ahead, None
                upload = _push_one(session, part, path, sha256, url, parts_in_flight, digests)
                result.parts.append(PushedPart(part.name, upload))
        finally:
            if ahead is not None:
                ahead.close()
        result.manifest_written = _write_manifest(session, result)
    return result


def _verified_archive(session: Session, part: Part) -> tuple[Path, str]:
    """The archive and its sha256, when its verification still describes the file."""
    from hyperkvasir_cli.check.verify import record_matches_file

    path = session.layout.archive_path(part)
    record = session.record(part)
    if not path.is_file():
        raise UsageError(
            f"{part.name}: no archive at {path}",
            hint=f"run `hyperkvasir download {part.name}` first",
        )
    if not record_matches_file(record, path) or record is None or record.sha256 is None:
        raise UsageError(
            f"{part.name}: {path} is not verified (or changed since it was)",
            hint=f"run `hyperkvasir checksum {part.name}` to verify it, then push again",
        )
    if part.sha256 is not None and record.sha256 != part.sha256:
        raise UsageError(
            f"{part.name}: the archive's recorded sha256 is not the manifest's",
            hint=f"run `hyperkvasir checksum {part.name}`; download it again if it is damaged",
        )
    return path, record.sha256


def _push_one(
    session: Session,
    part: Part,
    path: Path,
    sha256: str,
    url: str,
    in_flight: int,
    digests: PartDigests | None,
) -> UploadResult:
    from hyperkvasir_cli.transfer.s3_upload import upload_archive

    state = path.with_name(f"{path.name}.push.json")
    upload = upload_archive(
        path,
        url,
        sha256=sha256,
        state_path=state,
        progress=session.task_progress(),
        label=f"push {part.name}",
        concurrency=in_flight,
        environ=session.environ,
        digests=digests,
    )
    if upload.action == "unchanged":
        session.info(f"{part.name}: {url} already holds this archive; nothing sent")
    elif upload.parts_kept:
        session.info(
            f"{part.name}: continued an earlier upload ({upload.parts_kept} of "
            f"{upload.parts} parts were already there)"
        )
    return upload


def _write_manifest(session: Session, result: PushResult) -> bool:
    """Write ``manifest.yaml`` under the prefix unless it already says exactly this."""
    from hyperkvasir_cli.core.manifest import parse_manifest_text
    from hyperkvasir_cli.core.manifest_writer import (
        StoredObject,
        manifest_with_objects,
        render_manifest,
    )
    from hyperkvasir_cli.transfer.s3_client import read_object_if_present, write_object

    existing = read_object_if_present(result.manifest_url, session.environ)
    previous: Manifest | None = None
    if existing is not None:
        try:
            previous = parse_manifest_text(existing.decode("utf-8"), result.manifest_url)
        except (HyperkvasirError, UnicodeDecodeError):  # replaced, not merged
            previous = None
    stored = [
        StoredObject(p.part, p.upload.url, p.upload.size, p.upload.sha256) for p in result.parts
    ]
    manifest = manifest_with_objects(session.manifest, stored, previous, result.to)
    comment = (
        "Written by `hyperkvasir push`: the objects under this prefix first, then the\n"
        f"original URLs. Any node: hyperkvasir --manifest {result.manifest_url} sync PART"
    )
    text = render_manifest(manifest, comment).encode("utf-8")
    if existing == text:
        return False
    write_object(result.manifest_url, text, "application/yaml", session.environ)
    return True
