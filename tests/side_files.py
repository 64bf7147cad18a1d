"""Small files in the true formats of the dataset's side files, made by the tests.

- video metadata: as published (`;`, LF, header with `finding`, fps and length whole
  numbers, length = frames // fps, kilobytes = bytes >> 10);
- image metadata: as `scripts/generate_image_annotations_file.py` writes it;
- inference CSVs: as the classification scripts' `inference()` writes them with pandas
  (`filename,predicted-label,A..W`, the label an index 0-22, scores to three decimals);
- ARFF: as WEKA writes one with a file-name string attribute, numeric features and the
  `cluster` nominal attribute of its AddCluster filter; clusters.csv: file name and cluster.
"""

from __future__ import annotations

import random
import string
import struct
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from hyperkvasir_cli.dataset.tables.predictions import PREDICTED_CLASSES

if TYPE_CHECKING:
    from hyperkvasir_cli.core.manifest import Manifest
    from tests.http_server import LocalServer

LETTERS = string.ascii_uppercase[:23]
VIDEO_HEADER = "file-name;finding;width;height;number-of-frames;fps;length;kilobytes"
IMAGE_HEADER = "file-name;class-name;width;height;kilobytes"


@dataclass(frozen=True)
class VideoRow:
    file_name: str
    finding: str
    width: int
    height: int
    frames: int
    fps: int
    size: int  # bytes


def video_metadata_text(rows: Sequence[VideoRow]) -> str:
    lines = [VIDEO_HEADER]
    for r in rows:
        lines.append(
            f"{r.file_name};{r.finding};{r.width};{r.height};{r.frames};{r.fps};"
            f"{r.frames // r.fps};{r.size >> 10}"
        )
    return "\n".join(lines) + "\n"


def image_metadata_text(rows: Sequence[tuple[str, str, int, int, int]]) -> str:
    """Rows of (file name, class folder, width, height, bytes)."""
    lines = [IMAGE_HEADER]
    lines += [f"{n};{c};{w};{h};{size >> 10}" for n, c, w, h, size in rows]
    return "\n".join(lines) + "\n"


def _score(value: float) -> str:
    """A float as pandas writes it: the shortest repr (0.0, 0.998, 1.0)."""
    return repr(round(value, 3))


def inference_text(rows: Sequence[tuple[str, int, float]], seed: int = 0) -> str:
    """Rows of (file name, predicted index, its score); the rest of the mass is spread
    over the other classes, each below the predicted one."""
    rng = random.Random(seed)
    lines = ["filename,predicted-label," + ",".join(LETTERS)]
    for name, index, top in rows:
        rest = 1.0 - top
        others = [rng.random() for _ in range(22)]
        total = sum(others) or 1.0
        scores = [rest * o / total for o in others]
        scores.insert(index, top)
        lines.append(f"{name},{index}," + ",".join(_score(s) for s in scores))
    return "\n".join(lines) + "\n"


def class_index(name: str) -> int:
    return PREDICTED_CLASSES.index(name)


def arff_text(
    rows: Sequence[tuple[str, Sequence[float], str]],
    features: Sequence[str] = ("JCD_0", "JCD_1", "Tamura_0"),
    clusters: Sequence[str] = ("cluster0", "cluster1", "cluster2"),
    with_cluster: bool = True,
) -> str:
    """Rows of (file name, feature values, cluster) in WEKA's dense ARFF."""
    lines = [
        "% global features of the unlabeled images",
        "@relation 'hyper-kvasir-weka.filters.unsupervised.attribute.AddCluster'",
        "",
        "@attribute filename string",
    ]
    lines += [f"@attribute {name} numeric" for name in features]
    if with_cluster:
        lines.append(f"@attribute cluster {{{','.join(clusters)}}}")
    lines += ["", "@data"]
    for name, values, cluster in rows:
        fields = [f"'{name}'", *(repr(float(v)) for v in values)]
        if with_cluster:
            fields.append(cluster)
        lines.append(",".join(fields))
    return "\n".join(lines) + "\n"


def clusters_text(rows: Sequence[tuple[str, str]]) -> str:
    return "filename,cluster\n" + "".join(f"{n},{c}\n" for n, c in rows)


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(text.encode("utf-8"))
    return path


def served_as_bundled(
    server: LocalServer, bundled: Manifest, contents: Mapping[str, bytes]
) -> list[dict[str, object]]:
    """Each of ``contents`` (part name -> bytes) put on ``server``, and manifest entries
    naming them as the ``bundled`` manifest does: its file names, kinds and roots, pinned
    where it pins (the video metadata, like the real one), else recorded at first download."""
    from tests.downloads import part_entry

    entries = []
    for name, content in contents.items():
        part = bundled.part(name)
        server.put(part.file, content)
        pinned = part.sha256 is not None
        extra = {"root": part.root} if part.root else {}
        entries.append(
            part_entry(
                name,
                part.file,
                [server.url(part.file)],
                content,
                pin_size=pinned,
                pin_sha=pinned,
                kind=part.archive_kind,
                **extra,
            )
        )
    return entries


def avi_video_row(path: str, data: bytes) -> VideoRow:
    """The metadata row of the AVI ``data`` at ``path``, as its header says it."""
    micro, _, _, _, frames, _, _, _, width, height = struct.unpack_from("<10I", data, 32)
    name = path.rsplit("/", 1)[-1]
    return VideoRow(name, "polyp", width, height, frames, 1_000_000 // micro, len(data))


def small_side_files(
    labeled: Mapping[str, bytes], unlabeled: Mapping[str, bytes], videos: Mapping[str, bytes]
) -> dict[str, tuple[bytes, dict[str, object]]]:
    """The side files of a small copy of the dataset, true to the members given: part name ->
    (content, manifest entry without URLs), named as in the bundled manifest."""
    import io

    from PIL import Image

    from hyperkvasir_cli.core.manifest import load_manifest

    video_rows = []
    for path, data in sorted(videos.items()):
        if path.endswith(".avi"):
            video_rows.append(avi_video_row(path, data))
        elif path.endswith(".mpg"):  # no header to read: only the metadata knows its length
            video_rows.append(
                VideoRow(path.rsplit("/", 1)[-1], "None", 576, 576, 415, 25, len(data))
            )
    image_rows = []
    for path, data in sorted(labeled.items()):
        if path.endswith(".jpg"):
            width, height = Image.open(io.BytesIO(data)).size
            image_rows.append(
                (path.rsplit("/", 1)[-1], path.split("/")[3], width, height, len(data))
            )
    names = sorted(p.rsplit("/", 1)[-1] for p in unlabeled if p.endswith(".jpg"))
    features = [
        (n, [i / 3, 1.0 - i / 10, float(i)], f"cluster{i % 2}") for i, n in enumerate(names)
    ]
    contents: dict[str, bytes] = {
        "video-metadata": video_metadata_text(video_rows).encode(),
        "image-metadata": image_metadata_text(image_rows).encode(),
        "unlabeled-features-arff": arff_text(features).encode(),
        "unlabeled-clusters": clusters_text([(n, c) for n, _, c in features]).encode(),
    }
    bundled = load_manifest()
    group = bundled.find_group("unlabeled-predictions")
    assert group is not None
    for seed, model in enumerate(group.parts):
        # Every model says polyps for the first images; they part ways on the last one.
        rows = [(n, class_index("polyps"), 0.9) for n in names[:-1]]
        rows.append((names[-1], seed, 0.6))
        contents[model] = inference_text(rows, seed).encode()
    side = {}
    for name, content in contents.items():
        part = bundled.part(name)
        side[name] = (content, {"name": name, "file": part.file, "kind": part.archive_kind})
    return side


def bundled_groups() -> list[dict[str, object]]:
    from hyperkvasir_cli.core.manifest import load_manifest

    return [{"name": g.name, "parts": list(g.parts)} for g in load_manifest().groups]
