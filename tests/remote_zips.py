"""Helpers for tests of members on demand: archives served by the local HTTP server, and
a :class:`Remote` pointed at them with a clock that never waits."""

from __future__ import annotations

import functools
import random
import zipfile
from collections.abc import Mapping
from pathlib import Path

from hyperkvasir_cli.archive.extract import ExtractOptions
from hyperkvasir_cli.archive.selection import Selection
from hyperkvasir_cli.remote.cache import DirectoryCache
from hyperkvasir_cli.remote.directory import Remote, Traffic
from hyperkvasir_cli.transfer.http_client import build_client
from hyperkvasir_cli.transfer.retry import RetryPolicy
from tests.conftest import FakeClock
from tests.downloads import LABELED, LABELED_ZIP, part_entry, random_bytes, write_manifest
from tests.http_server import LocalServer
from tests.zips import BuiltArchive, build_labeled_images, stable_uuid, zip_in_memory

UNLABELED_IMAGES = 99_417


def make_remote(
    server: LocalServer, name: str, connections: int = 2, part: str = "labeled-images"
) -> Remote:
    client = build_client(connect_timeout=5.0, stall_timeout=10.0, environ={})
    policy = RetryPolicy(retries=4, rng=random.Random(0))
    return Remote(client, server.url(name), part, FakeClock(), policy, Traffic(), connections)


def serve_labeled(
    server: LocalServer, folder: Path, counts: Mapping[str, int]
) -> tuple[BuiltArchive, Path]:
    """The labeled zip with ``counts`` images of those classes on ``server``, and a manifest
    in ``folder`` naming it with its published counts."""
    built = build_labeled_images(folder / "served" / LABELED_ZIP, counts)
    content = built.path.read_bytes()
    server.put(LABELED_ZIP, content)
    entry = part_entry(
        LABELED,
        LABELED_ZIP,
        [server.url(LABELED_ZIP)],
        content,
        root=LABELED,
        expected={"files": len(built.data_files), "classes": counts},
    )
    return built, write_manifest(folder / "manifest.yaml", [entry])


def cache_for(data_dir: Path, name: str) -> DirectoryCache:
    return DirectoryCache(data_dir / "archives", name)


def options(
    root: str = "labeled-images",
    *,
    classes: tuple[str, ...] = (),
    include: tuple[str, ...] = (),
    exclude: tuple[str, ...] = (),
) -> ExtractOptions:
    selection = Selection.build(include=include, exclude=exclude, classes=classes)
    return ExtractOptions(root=root, selection=selection, part_name=root)


def zip_of(
    members: Mapping[str, bytes], compression: int = zipfile.ZIP_DEFLATED, zip64: bool = False
) -> bytes:
    """A zip in memory, members in the given order, fixed dates."""
    return zip_in_memory(members, compression=compression, force_zip64=zip64)


def unlabeled_members(count: int = UNLABELED_IMAGES) -> dict[str, bytes]:
    """As many tiny members as the unlabeled zip has images (its directory: ~10 MB)."""
    return {
        f"unlabeled-images/images/{index:08x}-0b1c-4d2e-8f30-{index:012x}.jpg": b"\xff\xd8"
        + index.to_bytes(4, "little")
        for index in range(count)
    }


@functools.lru_cache(maxsize=1)
def unlabeled_zip64() -> bytes:
    """A stored zip of :func:`unlabeled_members` (ZIP64 end records, from its member
    count), made once per test process: a second and a half to build."""
    return zip_of(unlabeled_members(), compression=zipfile.ZIP_STORED)


@functools.lru_cache(maxsize=1)
def labeled_shape_zip() -> bytes:
    """A zip with the labeled zip's 10,662 images at their real paths and published
    per-class counts (tiny stored contents), its CSV and licence: its central directory
    is the real one's size (about 1.5 MB)."""
    from hyperkvasir_cli.core.classes import LABELED_CLASSES
    from hyperkvasir_cli.core.manifest import load_manifest

    expected = load_manifest().part("labeled-images").expected
    assert expected is not None and expected.classes
    rng = random.Random(7)
    members: dict[str, bytes] = {}
    for cls in LABELED_CLASSES:
        for _ in range(expected.classes[cls.name]):
            image = stable_uuid(rng)
            path = f"labeled-images/{cls.organ}/{cls.category}/{cls.name}/{image}.jpg"
            members[path] = b"\xff\xd8" + image.encode() + b"\xff\xd9"
    members["labeled-images/image-labels.csv"] = b"Video file,Organ,Finding,Classification\r\n"
    members["labeled-images/license.txt"] = b"CC BY 4.0\r\n"
    return zip_of(members, compression=zipfile.ZIP_STORED)


def polyp_archive(
    polyps: int, member_size: int, others: int = 4, seed: int = 0
) -> dict[str, bytes]:
    """A labeled-images zip's members: ``others`` images of two classes around ``polyps``
    incompressible polyp images of ``member_size`` bytes each."""
    folder = "labeled-images/lower-gi-tract/pathological-findings"
    members: dict[str, bytes] = {}
    for index in range(others):
        members[f"{folder}/ulcerative-colitis-grade-1/{index:04d}.jpg"] = random_bytes(
            member_size, seed=seed * 1000 + index
        )
    for index in range(polyps):
        members[f"{folder}/polyps/{index:04d}.jpg"] = random_bytes(
            member_size, seed=seed * 1000 + 100 + index
        )
    for index in range(others):
        members[f"labeled-images/upper-gi-tract/anatomical-landmarks/pylorus/{index:04d}.jpg"] = (
            random_bytes(member_size, seed=seed * 1000 + 900 + index)
        )
    members["labeled-images/image-labels.csv"] = b"Video file,Organ,Finding,Classification\r\n"
    return members
