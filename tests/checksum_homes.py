"""Data folders for the checksum tests: a "downloaded" archive, its manifest, and ways to
damage archives and trees as disks and people do."""

from __future__ import annotations

import hashlib
import shlex
import struct
import zipfile
from dataclasses import dataclass
from pathlib import Path

import yaml

from tests.cli import Result, run_cli
from tests.zips import BuiltArchive, build_labeled_images, build_segmented_images, write_zip

LABELED_ZIP = "hyper-kvasir-labeled-images.zip"
SEGMENTED_ZIP = "hyper-kvasir-segmented-images.zip"
FULL_ZIP = "hyper-kvasir.zip"


@dataclass
class Home:
    """A data folder holding a "downloaded" archive and a manifest describing it."""

    data: Path
    manifest: Path
    built: BuiltArchive

    @property
    def archive(self) -> Path:
        return self.built.path

    def checksum(self, *args: str) -> Result:
        return run_cli("checksum", *args, "--manifest", str(self.manifest))

    def run(self, command: str, *args: str) -> Result:
        """Any command with this home's manifest, e.g. ``home.run("extract", "full")``."""
        return run_cli(command, *args, "--manifest", str(self.manifest))

    def run_hint(self, result: Result) -> Result:
        """Run the command that ``result``'s hint line quotes in backticks, as a user would."""
        hint = next(line for line in result.stderr.splitlines() if line.startswith("hint: "))
        quoted = hint.split("`")[1]
        command, *args = shlex.split(quoted)
        assert command == "hyperkvasir", hint
        return self.run(*args)

    def extract(self, target: Path | None = None) -> Path:
        """Write every member under ``target`` (default: the data folder), as extract does."""
        target = target or self.data
        for name, content in self.built.members.items():
            path = target / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(content)
        return target

    def image(self, index: int = 0) -> str:
        return sorted(self.built.data_files)[index]


def make_home(data_dir: Path, manifest: Path, compression: int = zipfile.ZIP_DEFLATED) -> Home:
    """A labeled-images archive in ``data_dir/archives``, described by a manifest."""
    built = build_labeled_images(data_dir / "archives" / LABELED_ZIP, compression=compression)
    return Home(data_dir, write_manifest(manifest, built.path), built)


def add_part(home: Home, name: str, archive: Path, root: str | None, **extra: object) -> None:
    """Describe one more downloaded archive in the home's manifest (size and sha256 pinned)."""
    document = yaml.safe_load(home.manifest.read_text())
    content = archive.read_bytes()
    part: dict[str, object] = {
        "name": name,
        "file": archive.name,
        "urls": [f"https://example.org/{archive.name}"],
        "size": len(content),
        "sha256": hashlib.sha256(content).hexdigest(),
        **extra,
    }
    if root:
        part["root"] = root
    document["parts"] = [p for p in document["parts"] if p["name"] != name] + [part]
    home.manifest.write_text(yaml.safe_dump(document))


def make_two_part_home(data_dir: Path, manifest: Path) -> Home:
    """Labeled and segmented images, both downloaded; ``built`` is the labeled archive."""
    home = make_home(data_dir, manifest)
    segmented = build_segmented_images(data_dir / "archives" / SEGMENTED_ZIP)
    add_part(home, "segmented-images", segmented.path, "segmented-images")
    home.built.members.update(segmented.members)  # extract() writes both trees
    return home


def make_full_home(data_dir: Path, manifest: Path) -> Home:
    """Only `full` downloaded: one archive holding the labeled and segmented images under
    their own top folders, with no root of its own (it `contains` the parts), as the real
    hyper-kvasir.zip. The manifest also describes the two parts, not downloaded."""
    sources = manifest.parent / "full-sources"
    labeled = build_labeled_images(sources / LABELED_ZIP, per_class=1)
    segmented = build_segmented_images(sources / SEGMENTED_ZIP, pairs=2)
    full = BuiltArchive(data_dir / "archives" / FULL_ZIP, {**labeled.members, **segmented.members})
    write_zip(full.path, full.members)
    parts = [
        {"name": "labeled-images", "file": LABELED_ZIP, "urls": ["https://example.org/l.zip"],
         "root": "labeled-images"},
        {"name": "segmented-images", "file": SEGMENTED_ZIP,
         "urls": ["https://example.org/s.zip"], "root": "segmented-images"},
    ]  # fmt: skip
    manifest.write_text(yaml.safe_dump({"dataset": "hyper-kvasir", "parts": parts}))
    home = Home(data_dir, manifest, full)
    add_part(home, "full", full.path, None, contains=["labeled-images", "segmented-images"])
    return home


def write_manifest(path: Path, archive: Path, *, size: bool = True, sha256: bool = True) -> Path:
    content = archive.read_bytes()
    part: dict[str, object] = {
        "name": "labeled-images",
        "file": archive.name,
        "urls": [f"https://example.org/{archive.name}"],
        "root": "labeled-images",
    }
    if size:
        part["size"] = len(content)
    if sha256:
        part["sha256"] = hashlib.sha256(content).hexdigest()
    path.write_text(yaml.safe_dump({"dataset": "hyper-kvasir", "parts": [part]}))
    return path


def flip_byte(path: Path, offset: int) -> None:
    with path.open("r+b") as handle:
        handle.seek(offset)
        value = handle.read(1)[0]
        handle.seek(offset)
        handle.write(bytes([value ^ 0xFF]))


def member_data_offset(archive: Path, member: str) -> int:
    """Where the member's (compressed) data starts: after its local header."""
    with zipfile.ZipFile(archive) as opened:
        header = opened.getinfo(member).header_offset
    with archive.open("rb") as handle:
        handle.seek(header + 26)
        name_length, extra_length = struct.unpack("<HH", handle.read(4))
    return header + 30 + name_length + extra_length


def set_first_compression_method(archive: Path, method: int) -> str:
    """Give the first member an unknown compression method (local and central headers)."""
    content = bytearray(archive.read_bytes())
    end = content.rindex(b"PK\x05\x06")
    directory = struct.unpack("<I", content[end + 16 : end + 20])[0]
    struct.pack_into("<H", content, directory + 10, method)
    local = struct.unpack("<I", content[directory + 42 : directory + 46])[0]
    struct.pack_into("<H", content, local + 8, method)
    archive.write_bytes(bytes(content))
    with zipfile.ZipFile(archive) as opened:
        return opened.infolist()[0].filename
