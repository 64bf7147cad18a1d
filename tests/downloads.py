"""Helpers for download tests: a manifest that points at the local test server."""

from __future__ import annotations

import hashlib
import io
import os
import shutil
import zipfile
from pathlib import Path

import pytest
import yaml

from hyperkvasir_cli.core.records import PartRecord, RecordStore, records_path


def random_bytes(size: int, seed: int = 0) -> bytes:
    """Incompressible test content, different per seed, fast to make."""
    out = bytearray()
    counter = 0
    while len(out) < size:
        out += hashlib.sha256(f"{seed}:{counter}".encode()).digest() * 64
        counter += 1
    return bytes(out[:size])


def zip_bytes(size: int, seed: int = 0, name: str = "data.bin") -> bytes:
    """A readable zip of exactly ``size`` bytes: one stored member of incompressible
    :func:`random_bytes`, so that a part without a published sha256 can be recorded."""

    def build(payload: bytes) -> bytes:
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:
            archive.writestr(zipfile.ZipInfo(name, date_time=(2020, 1, 1, 0, 0, 0)), payload)
        return buffer.getvalue()

    content = build(random_bytes(size - len(build(b"")), seed))
    assert len(content) == size
    return content


def write_manifest(
    path: Path,
    parts: list[dict[str, object]],
) -> Path:
    path.write_text(yaml.safe_dump({"dataset": "hyper-kvasir", "parts": parts}, sort_keys=False))
    return path


def part_entry(
    name: str,
    file: str,
    urls: list[str],
    content: bytes | None = None,
    *,
    pin_size: bool = True,
    pin_sha: bool = True,
    **extra: object,
) -> dict[str, object]:
    entry: dict[str, object] = {"name": name, "file": file, "urls": urls}
    if content is not None and pin_size:
        entry["size"] = len(content)
    if content is not None and pin_sha:
        entry["sha256"] = hashlib.sha256(content).hexdigest()
    entry.update(extra)
    return entry


def archive(data_dir: Path, file: str) -> Path:
    return data_dir / "archives" / file


LABELED = "labeled-images"
LABELED_ZIP = "hyper-kvasir-labeled-images.zip"


def use_labeled_manifest(
    folder: Path, url: str, content: bytes, monkeypatch: pytest.MonkeyPatch
) -> Path:
    """A manifest of the labeled images alone (``content``, at ``url``), written into
    ``folder`` and made the one every command reads (HYPERKVASIR_MANIFEST)."""
    manifest = write_manifest(
        folder / "m.yaml", [part_entry(LABELED, LABELED_ZIP, [url], content, root=LABELED)]
    )
    monkeypatch.setenv("HYPERKVASIR_MANIFEST", str(manifest))
    return manifest


def place_labeled_archive(data_dir: Path, source: Path) -> Path:
    """The labeled archive copied from ``source`` into the data folder, as if downloaded."""
    path = archive(data_dir, LABELED_ZIP)
    path.parent.mkdir(parents=True)
    shutil.copyfile(source, path)
    return path


def leftovers(data_dir: Path) -> list[str]:
    folder = data_dir / "archives"
    return sorted(os.listdir(folder)) if folder.exists() else []


def record_store(data_dir: Path) -> RecordStore:
    """The data folder's records, where every command keeps what it did to a part."""
    return RecordStore(records_path(data_dir))


def records_of(data_dir: Path) -> dict[str, PartRecord]:
    return record_store(data_dir).read()


def raw_records(data_dir: Path) -> dict[str, dict[str, object]]:
    """The records file as YAML sees it ({} when there is none)."""
    path = records_path(data_dir)
    if not path.exists():
        return {}
    parts: dict[str, dict[str, object]] = yaml.safe_load(path.read_text())["parts"]
    return parts
