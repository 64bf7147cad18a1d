"""The benchmark's own data: random files to download, and zips shaped like the dataset.

Each file is made once per set of parameters: a stamp beside it (`<file>.stamp.json`)
records them with the size and sha256, so a `--keep` run reuses what an earlier one made.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import random
import zipfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PIL import Image

from hyperkvasir_cli.core.classes import LABELED_CLASSES
from tests.zips import LICENSE_TEXT, ORGAN_LABEL, stable_uuid

CHUNK = 1 << 20
EOI = b"\xff\xd9"
# Frame sizes met in the labeled images; the headers carry them, the padding carries the bulk.
FRAME_SIZES = ((720, 576), (1280, 1024), (1920, 1072), (622, 529), (1350, 1080))
TINY_SIZES = ((32, 24), (40, 30), (64, 48), (48, 48))


@dataclass(frozen=True)
class DataFile:
    path: Path
    size: int
    sha256: str


def _stamp_path(path: Path) -> Path:
    return path.with_name(path.name + ".stamp.json")


def _reusable(path: Path, params: Mapping[str, Any]) -> DataFile | None:
    try:
        stamp = json.loads(_stamp_path(path).read_text())
    except (OSError, ValueError):
        return None
    if stamp.get("params") != params or not path.is_file() or path.stat().st_size != stamp["size"]:
        return None
    return DataFile(path, stamp["size"], stamp["sha256"])


def _stamped(path: Path, params: Mapping[str, Any]) -> DataFile:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(CHUNK):
            digest.update(block)
    made = DataFile(path, path.stat().st_size, digest.hexdigest())
    stamp = {"params": dict(params), "size": made.size, "sha256": made.sha256}
    _stamp_path(path).write_text(json.dumps(stamp, indent=2))
    return made


def random_file(path: Path, size: int) -> DataFile:
    """``size`` random bytes: nothing for a transfer or a hash to take a shortcut on."""
    params = {"kind": "random", "size": size}
    if made := _reusable(path, params):
        return made
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as handle:
        for offset in range(0, size, CHUNK):
            handle.write(os.urandom(min(CHUNK, size - offset)))
    return _stamped(path, params)


def scaled_counts(counts: Mapping[str, int], total: int) -> dict[str, int]:
    """``counts`` scaled to sum to ``total`` (largest remainder), keeping their proportions."""
    whole = sum(counts.values())
    exact = {name: count * total / whole for name, count in counts.items()}
    scaled = {name: int(value) for name, value in exact.items()}
    by_remainder = sorted(exact, key=lambda name: exact[name] - scaled[name], reverse=True)
    for name in by_remainder[: total - sum(scaled.values())]:
        scaled[name] += 1
    return scaled


def jpeg(width: int, height: int, rng: random.Random) -> bytes:
    colour = (rng.randrange(256), rng.randrange(256), rng.randrange(256))
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), colour).save(buffer, format="JPEG", quality=75)
    return buffer.getvalue()


# Entropy-coded JPEG data is close to random but not quite: deflate saves about half a
# percent on it, with Huffman-coded blocks that cost real work to inflate. Random bytes
# would be stored (deflate gives up on them) and inflate as fast as a copy. Folding the
# eight highest byte values onto eight others gives that slight skew (and no 0xFF).
_SCAN_LIKE = bytes(value if value < 248 else value - 8 for value in range(256))


def scan_like_bytes(size: int) -> bytes:
    """``size`` bytes with the statistics of JPEG scan data (see _SCAN_LIKE)."""
    return os.urandom(size).translate(_SCAN_LIKE)


def padded_jpeg(base: bytes, padding: bytes) -> bytes:
    """``base`` grown by ``padding`` placed before its end marker.

    The padding is byte-stuffed like entropy-coded data (each 0xFF followed by 0x00), so no
    marker appears in it: header readers see a valid JPEG of the base's frame size, and the
    file is as incompressible as a real photograph's scan data.
    """
    if not base.endswith(EOI):
        raise ValueError("not a complete JPEG: no end-of-image marker")
    return base[: -len(EOI)] + padding.replace(b"\xff", b"\xff\x00") + EOI


@dataclass(frozen=True)
class _Image:
    member: str
    image_id: str
    organ: str
    category: str
    name: str


def _labeled_images(counts: Mapping[str, int], rng: random.Random) -> Iterator[_Image]:
    for cls in LABELED_CLASSES:
        for _ in range(counts.get(cls.name, 0)):
            image_id = stable_uuid(rng)
            member = f"labeled-images/{cls.organ}/{cls.category}/{cls.name}/{image_id}.jpg"
            yield _Image(member, image_id, cls.organ, cls.category, cls.name)


def _member_info(name: str) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name, date_time=(2020, 1, 1, 0, 0, 0))
    info.compress_type = zipfile.ZIP_DEFLATED
    info.external_attr = 0o644 << 16
    return info


def _write_metadata(archive: zipfile.ZipFile, images: list[_Image]) -> None:
    rows = ["Video file,Organ,Finding,Classification"]
    rows += [f"{i.image_id},{ORGAN_LABEL[i.organ]},{i.name},{i.category}" for i in images]
    csv = ("\r\n".join(rows) + "\r\n").encode()
    archive.writestr(_member_info("labeled-images/image-labels.csv"), csv)
    archive.writestr(_member_info("labeled-images/license.txt"), LICENSE_TEXT.encode())


def labeled_zip(path: Path, counts: Mapping[str, int], mean_member: int, seed: int = 0) -> DataFile:
    """`hyper-kvasir-labeled-images.zip` at full shape: one deflated JPEG per counted image.

    Members average ``mean_member`` bytes (from a quarter to 1.75 times that), so the zip
    is about ``sum(counts) * mean_member`` bytes. Their bulk is scan-like padding, which
    deflates as real photographs do (see _SCAN_LIKE).
    """
    params = {
        "kind": "labeled",
        "counts": dict(counts),
        "mean": mean_member,
        "seed": seed,
        "padding": "scan-like",
    }
    if made := _reusable(path, params):
        return made
    rng = random.Random(seed)
    bases = [jpeg(width, height, rng) for width, height in FRAME_SIZES]
    images = list(_labeled_images(counts, rng))
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, allowZip64=True) as archive:
        for index, image in enumerate(images):
            padding = scan_like_bytes(rng.randint(mean_member // 4, mean_member * 7 // 4))
            content = padded_jpeg(bases[index % len(bases)], padding)
            with archive.open(_member_info(image.member), "w") as member:
                member.write(content)
        _write_metadata(archive, images)
    return _stamped(path, params)


def tiny_labeled_zip(path: Path, counts: Mapping[str, int], seed: int = 1) -> DataFile:
    """The labeled-images layout with many tiny real JPEGs (for `stats --images` at scale)."""
    params = {"kind": "tiny", "counts": dict(counts), "seed": seed}
    if made := _reusable(path, params):
        return made
    rng = random.Random(seed)
    variants = [jpeg(width, height, rng) for width, height in TINY_SIZES * 4]
    images = list(_labeled_images(counts, rng))
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, allowZip64=True) as archive:
        for index, image in enumerate(images):
            archive.writestr(_member_info(image.member), variants[index % len(variants)])
        _write_metadata(archive, images)
    return _stamped(path, params)
