"""A small copy of HyperKvasir, byte for byte the same on every machine, and a manifest for it.

The README's transcripts (tests/readme_transcripts.py) and its CI and cron examples run
against it. Every zip has the real file name and folder layout: two images per class of the
labeled images, four image/mask pairs, five unlabeled images, six videos, the full archive
holding them all, the two official split files, and the side files (metadata, features,
clusters, predicted labels) true to those images and videos. Nothing here depends on the machine:
the images are small JPEGs kept in tests/data/readme (each copy tagged by a JPEG comment, so
no two are alike), the names come from seeded generators, and the zips are stored, not
deflated (zlib builds differ in what they write).

The manifest is the bundled one pointed at the test server: the same parts, URL paths and
kinds, pinning a size and sha256 where the bundled one pins them (the small copy's values)
and carrying the small copy's counts. Parts the small copy has no file for keep their
bundled values and are not served.
"""

from __future__ import annotations

import hashlib
import json
import random
import struct
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

from hyperkvasir_cli.core.classes import CLASS_ALIASES, LABELED_CLASSES
from tests.http_server import LocalServer
from tests.side_files import small_side_files
from tests.zips import LICENSE_TEXT, ORGAN_LABEL, build_labeled_videos, stable_uuid, write_zip

IMAGES = Path(__file__).resolve().parent / "data" / "readme"
BUNDLED = Path(__file__).resolve().parent.parent / "hyperkvasir_cli" / "data" / "manifest.yaml"
# Official split files name eight classes differently: canonical name -> their spelling.
OFFICIAL_SPELLING = {canonical: alias for alias, canonical in CLASS_ALIASES.items()}
MASK_BOXES = ((4, 4, 20, 16), (4, 4, 30, 24), (4, 4, 12, 12), (4, 4, 34, 28))


def image(name: str, tag: str) -> bytes:
    """A kept JPEG with a comment segment naming ``tag``: the same picture, other bytes."""
    base = (IMAGES / name).read_bytes()
    comment = tag.encode()
    return base[:2] + b"\xff\xfe" + struct.pack(">H", len(comment) + 2) + comment + base[2:]


def labeled_images() -> dict[str, bytes]:
    rng = random.Random(0)
    members: dict[str, bytes] = {}
    rows = ["Video file,Organ,Finding,Classification"]
    for index, cls in enumerate(LABELED_CLASSES):
        for n in range(2):
            image_id = stable_uuid(rng)
            size = ("labeled-32x24.jpg", "labeled-40x30.jpg")[(index + n) % 2]
            path = f"labeled-images/{cls.organ}/{cls.category}/{cls.name}/{image_id}.jpg"
            members[path] = image(size, image_id)
            rows.append(f"{image_id},{ORGAN_LABEL[cls.organ]},{cls.name},{cls.category}")
    members["labeled-images/image-labels.csv"] = ("\r\n".join(rows) + "\r\n").encode()
    members["labeled-images/license.txt"] = LICENSE_TEXT.encode()
    return members


def segmented_images() -> dict[str, bytes]:
    rng = random.Random(1)
    members: dict[str, bytes] = {}
    boxes: dict[str, object] = {}
    for n, box in enumerate(MASK_BOXES):
        image_id = stable_uuid(rng)
        members[f"segmented-images/images/{image_id}.jpg"] = image("polyp-40x32.jpg", image_id)
        members[f"segmented-images/masks/{image_id}.jpg"] = image(f"mask-{n}.jpg", image_id)
        bbox = {"label": "polyp", "xmin": box[0], "ymin": box[1], "xmax": box[2], "ymax": box[3]}
        boxes[image_id] = {"height": 32, "width": 40, "bbox": [bbox]}
    members["segmented-images/bounding-boxes.json"] = json.dumps(boxes, indent=4).encode()
    return members


def unlabeled_images() -> dict[str, bytes]:
    rng = random.Random(2)
    ids = [stable_uuid(rng) for _ in range(5)]
    return {f"unlabeled-images/images/{i}.jpg": image("unlabeled-24x16.jpg", i) for i in ids}


def labeled_videos(folder: Path) -> dict[str, bytes]:
    return build_labeled_videos(folder / "videos-members.zip").members  # no image in it


def official_split(labeled: Mapping[str, bytes], folds: int) -> bytes:
    """The official file format (`;`, official spellings, bare file names)."""
    lines = ["file-name;class-name;split-index"]
    images = sorted(m for m in labeled if m.endswith(".jpg"))
    for index, member in enumerate(images):
        label = member.split("/")[3]
        name = OFFICIAL_SPELLING.get(label, label)
        lines.append(f"{member.rsplit('/', 1)[1]};{name};{index % folds}")
    return ("\n".join(lines) + "\n").encode()


def zipped(path: Path, members: Mapping[str, bytes]) -> bytes:
    write_zip(path, members, compression=zipfile.ZIP_STORED)
    return path.read_bytes()


def small_copy(folder: Path) -> dict[str, tuple[bytes, dict[str, Any]]]:
    """Part name -> (content, counts for the manifest's `expected`) of the small copy."""
    folder.mkdir(parents=True, exist_ok=True)
    labeled, segmented = labeled_images(), segmented_images()
    unlabeled, videos = unlabeled_images(), labeled_videos(folder)
    classes = {c.name: 2 for c in LABELED_CLASSES}
    data = {
        "labeled-images": (labeled, {"files": 46, "classes": classes}),
        "segmented-images": (segmented, {"files": 8}),
        "unlabeled-images": (unlabeled, {"files": 5}),
        "labeled-videos": (videos, {"files": 6}),
        "full": ({**labeled, **segmented, **unlabeled, **videos}, {}),
    }
    parts = {
        name: (zipped(folder / name, members), counts) for name, (members, counts) in data.items()
    }
    parts["official-splits"] = (official_split(labeled, 2), {})
    parts["official-splits-5fold"] = (official_split(labeled, 5), {})
    for name, (content, _) in small_side_files(labeled, unlabeled, videos).items():
        parts[name] = (content, {})
    return parts


def serve_small_copy(server: LocalServer, folder: Path) -> Path:
    """Serve the small copy on ``server`` at the bundled URLs' paths; write its manifest
    in ``folder`` and return the manifest's path."""
    bundled = yaml.safe_load(BUNDLED.read_text("utf-8"))
    copy = small_copy(folder)
    for entry in bundled["parts"]:
        path = urlsplit(entry["urls"][0]).path.lstrip("/")
        entry["urls"] = [server.url(path)]
        if entry["name"] not in copy:
            continue
        content, counts = copy[entry["name"]]
        server.put(path, content)
        if "size" in entry:
            entry["size"] = len(content)
        if "sha256" in entry:
            entry["sha256"] = hashlib.sha256(content).hexdigest()
        if "expected" in entry:
            entry["expected"] = counts
    manifest = folder / "manifest.yaml"
    manifest.write_text(yaml.safe_dump(bundled, sort_keys=False), "utf-8")
    return manifest
