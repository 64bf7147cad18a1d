"""Real zip archives shaped like HyperKvasir's, small enough for tests.

Member paths, folder names and metadata files follow the real dataset
(`labeled-images/<organ>/<category>/<class>/<uuid>.jpg`, `image-labels.csv` with CRLF,
`segmented-images/{images,masks}/<uuid>.jpg`, `bounding-boxes.json`, ...). Images are real
JPEGs made with Pillow, so header readers and decoders see true data.
"""

from __future__ import annotations

import io
import json
import random
import uuid
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from PIL import Image

from hyperkvasir_cli.core.classes import LABELED_CLASSES

ORGAN_LABEL = {"lower-gi-tract": "Lower GI", "upper-gi-tract": "Upper GI"}
LICENSE_TEXT = (
    "The license for the Hyper-Kvasir dataset is Creative Commons Attribution 4.0 "
    "International (CC BY 4.0)\r\n"
)


def stable_uuid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def jpeg_bytes(width: int, height: int, seed: int, grey: bool = False) -> bytes:
    """A small real JPEG with content that differs by seed."""
    rng = random.Random(seed)
    mode = "L" if grey else "RGB"
    colour: int | tuple[int, int, int] = (
        rng.randrange(256) if grey else (rng.randrange(256), rng.randrange(256), rng.randrange(256))
    )
    image = Image.new(mode, (width, height), colour)
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=70)
    return buffer.getvalue()


def mask_bytes(width: int, height: int, box: tuple[int, int, int, int]) -> bytes:
    """A grey JPEG mask: white (255) inside ``box`` (x0, y0, x1, y1), black elsewhere."""
    image = Image.new("L", (width, height), 0)
    x0, y0, x1, y1 = box
    image.paste(255, (x0, y0, x1, y1))
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=95)
    return buffer.getvalue()


@dataclass
class BuiltArchive:
    path: Path
    members: dict[str, bytes] = field(default_factory=dict)
    classes: dict[str, int] = field(default_factory=dict)

    @property
    def data_files(self) -> list[str]:
        return [m for m in self.members if m.endswith((".jpg", ".avi", ".mpg"))]


def build_labeled_images(
    path: Path,
    per_class: int | Mapping[str, int] = 2,
    *,
    seed: int = 0,
    sizes: tuple[tuple[int, int], ...] = ((32, 24), (40, 30)),
    compression: int = zipfile.ZIP_DEFLATED,
    force_zip64: bool = False,
) -> BuiltArchive:
    """`hyper-kvasir-labeled-images.zip` with ``per_class`` images in each of the 23 classes."""
    rng = random.Random(seed)
    built = BuiltArchive(path)
    label_rows = ["Video file,Organ,Finding,Classification"]
    for index, cls in enumerate(LABELED_CLASSES):
        count = per_class if isinstance(per_class, int) else per_class.get(cls.name, 0)
        built.classes[cls.name] = count
        for n in range(count):
            image_id = stable_uuid(rng)
            width, height = sizes[(index + n) % len(sizes)]
            member = f"labeled-images/{cls.organ}/{cls.category}/{cls.name}/{image_id}.jpg"
            built.members[member] = jpeg_bytes(width, height, seed=rng.getrandbits(32))
            label_rows.append(f"{image_id},{ORGAN_LABEL[cls.organ]},{cls.name},{cls.category}")
    built.members["labeled-images/image-labels.csv"] = ("\r\n".join(label_rows) + "\r\n").encode()
    built.members["labeled-images/license.txt"] = LICENSE_TEXT.encode()
    write_zip(path, built.members, compression=compression, force_zip64=force_zip64)
    return built


def build_segmented_images(path: Path, pairs: int = 4, *, seed: int = 1) -> BuiltArchive:
    """`hyper-kvasir-segmented-images.zip`: images, grey masks, bounding-boxes.json."""
    rng = random.Random(seed)
    built = BuiltArchive(path)
    boxes: dict[str, object] = {}
    for _ in range(pairs):
        image_id = stable_uuid(rng)
        width, height = 40, 32
        box = (4, 4, 4 + rng.randrange(8, 30), 4 + rng.randrange(8, 24))
        built.members[f"segmented-images/images/{image_id}.jpg"] = jpeg_bytes(
            width, height, seed=rng.getrandbits(32)
        )
        built.members[f"segmented-images/masks/{image_id}.jpg"] = mask_bytes(width, height, box)
        boxes[image_id] = {
            "height": height,
            "width": width,
            "bbox": [
                {"label": "polyp", "xmin": box[0], "ymin": box[1], "xmax": box[2], "ymax": box[3]}
            ],
        }
    built.members["segmented-images/bounding-boxes.json"] = json.dumps(boxes, indent=4).encode()
    write_zip(path, built.members)
    return built


def build_unlabeled_images(path: Path, count: int = 5, *, seed: int = 2) -> BuiltArchive:
    rng = random.Random(seed)
    built = BuiltArchive(path)
    for _ in range(count):
        built.members[f"unlabeled-images/images/{stable_uuid(rng)}.jpg"] = jpeg_bytes(
            24, 16, seed=rng.getrandbits(32)
        )
    write_zip(path, built.members)
    return built


def avi_bytes(width: int, height: int, frames: int, fps: int) -> bytes:
    """A minimal RIFF AVI whose `avih` header carries frames, rate and size (no real video)."""
    import struct

    micro_per_frame = 1_000_000 // fps
    avih = struct.pack(
        "<IIIIIIIIII16x", micro_per_frame, 0, 0, 0x10, frames, 0, 1, 0, width, height
    )
    hdrl_body = b"hdrl" + b"avih" + struct.pack("<I", len(avih)) + avih
    hdrl = b"LIST" + struct.pack("<I", len(hdrl_body)) + hdrl_body
    movi_body = b"movi"
    movi = b"LIST" + struct.pack("<I", len(movi_body)) + movi_body
    body = b"AVI " + hdrl + movi
    return b"RIFF" + struct.pack("<I", len(body)) + body


VIDEO_FINDINGS = (
    ("lower-gi-tract", "pathological-findings", "polyps"),
    ("lower-gi-tract", "quality-of-mucosal-views", "bbps-2-3"),
    ("upper-gi-tract", "pathological-findings", "esophagitis"),
)


def build_labeled_videos(path: Path, per_finding: int = 2, *, seed: int = 3) -> BuiltArchive:
    """`hyper-kvasir-videos.zip`: AVI files (and one MPG) plus video-labels.csv."""
    rng = random.Random(seed)
    built = BuiltArchive(path)
    rows = ["Video file,Organ,Finding 1,Classification 1,Detailed description of finding"]
    for organ, category, finding in VIDEO_FINDINGS:
        for n in range(per_finding):
            video_id = stable_uuid(rng)
            ext = "mpg" if n == per_finding - 1 and finding == "esophagitis" else "avi"
            member = f"labeled-videos/{organ}/{category}/{finding}/{video_id}.{ext}"
            if ext == "avi":
                built.members[member] = avi_bytes(720, 576, frames=250 * (n + 1), fps=25)
            else:
                built.members[member] = b"\x00\x00\x01\xba" + bytes(
                    rng.getrandbits(8) for _ in range(64)
                )
            rows.append(f"{video_id},{ORGAN_LABEL[organ]},{finding},{category},")
    built.members["labeled-videos/video-labels.csv"] = ("\r\n".join(rows) + "\r\n").encode()
    write_zip(path, built.members)
    return built


def write_zip(
    path: Path,
    members: Mapping[str, bytes],
    *,
    compression: int = zipfile.ZIP_DEFLATED,
    force_zip64: bool = False,
) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    _write_members(path, members, compression, force_zip64)


def zip_in_memory(
    members: Mapping[str, bytes],
    *,
    compression: int = zipfile.ZIP_DEFLATED,
    force_zip64: bool = False,
) -> bytes:
    """The zip :func:`write_zip` writes, as bytes."""
    buffer = io.BytesIO()
    _write_members(buffer, members, compression, force_zip64)
    return buffer.getvalue()


def _write_members(
    file: Path | io.BytesIO, members: Mapping[str, bytes], compression: int, force_zip64: bool
) -> None:
    """Members in the given order, fixed dates and modes: the same members, the same bytes."""
    with zipfile.ZipFile(file, "w", compression=compression, allowZip64=True) as archive:
        for name, data in members.items():
            info = zipfile.ZipInfo(name, date_time=(2020, 1, 1, 0, 0, 0))
            info.compress_type = compression
            info.external_attr = 0o644 << 16
            with archive.open(info, "w", force_zip64=force_zip64) as handle:
                handle.write(data)
