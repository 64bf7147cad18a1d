"""What every row works with: the data, the server, the manifests, and fresh CLI homes.

A *home* is one fresh config file and data folder: the CLI's records and files there come
only from the commands a row runs. Each row's command line is the one a user would type,
plus `--manifest` (parts served by the local nginx) and `--data-dir`.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import sys
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import yaml

from bench import data
from bench.measure import Run, run_command
from bench.nginx import Nginx, rate_bytes
from hyperkvasir_cli.core.manifest import load_manifest

PACKAGE_OF = {
    "aria2c": "aria2",
    "bash": "bash",
    "bsdtar": "libarchive-tools",
    "curl": "curl",
    "find": "findutils",
    "nginx": "nginx",
    "sha256sum": "coreutils",
    "unzip": "unzip",
    "xargs": "findutils",
}
LABELED = "labeled-images"
PUBLISHED_COUNTS: dict[str, int] = dict(load_manifest().part(LABELED).expected.classes)
LABELED_IMAGES = sum(PUBLISHED_COUNTS.values())


def log(message: str) -> None:
    print(f"[bench] {message}", file=sys.stderr, flush=True)


def human(size: float) -> str:
    for unit, factor in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if size >= factor:
            return f"{size / factor:.3g} {unit}"
    return f"{size:g} B"


def fresh(folder: Path) -> Path:
    """An empty ``folder``; whatever an earlier run left there is removed first."""
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    return folder


def settle() -> None:
    """Flush dirty pages, so no run pays for the write-back of the one before it."""
    os.sync()


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(data.CHUNK):
            digest.update(block)
    return digest.hexdigest()


def count_images(tree: Path) -> int:
    return sum(1 for path in tree.rglob("*.jpg") if path.is_file())


@dataclass(frozen=True)
class Settings:
    """The sizes and repeat policy of one benchmark run (``rate`` in nginx's syntax)."""

    size: int
    throttled_size: int
    rate: str
    zip_size: int
    images: int
    repeat: int
    budget: float
    jobs: int
    work: Path
    lan_size: int = 400 * 10**6  # the file for the lab-mirror rows
    lan_rate: str = "20m"  # nginx limit_rate per connection of a lab mirror on a LAN
    real_members: int = 2_000  # members of the zip of real-size images
    real_member_size: int = 370_000  # their average size (the real zip's is 368 KB)

    @property
    def rate_text(self) -> str:
        return f"{human(rate_bytes(self.rate))}/s"

    @property
    def lan_rate_text(self) -> str:
        return f"{human(rate_bytes(self.lan_rate))}/s"


@dataclass(frozen=True)
class Cli:
    """The `hyperkvasir` console script run in one home."""

    exe: Path
    manifest: Path
    home: Path

    @property
    def data_dir(self) -> Path:
        return self.home / "data"

    @property
    def tree(self) -> Path:
        return self.data_dir / LABELED

    def archive(self, file: data.DataFile) -> Path:
        return self.data_dir / "archives" / file.path.name

    def environ(self) -> dict[str, str]:
        # The user's own HYPERKVASIR_* settings must not leak into the measurement, nor
        # PYTHONDONTWRITEBYTECODE (some sandboxes set it): a user's installed package has
        # its compiled modules, and without them every run would compile them anew.
        inherited = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith("HYPERKVASIR_") and k != "PYTHONDONTWRITEBYTECODE"
        }
        return {**inherited, "HYPERKVASIR_CONFIG": str(self.home / "config.yaml")}

    def argv(self, *args: str) -> list[str]:
        globals_ = ["--manifest", str(self.manifest), "--data-dir", str(self.data_dir)]
        return [str(self.exe), *args, *globals_]

    def run(self, *args: str, kill_when: Callable[[], bool] | None = None) -> Run:
        return run_command(self.argv(*args), env=self.environ(), kill_when=kill_when)


class Workspace:
    """The benchmark's folder, data files (made on first use) and server."""

    def __init__(
        self, settings: Settings, exe: Path, server: Nginx | None, why_no_server: str
    ) -> None:
        self.settings = settings
        self.exe = exe
        self.server = server
        self.why_no_server = why_no_server
        self.www = settings.work / "www"
        self.runs = settings.work / "runs"

    def missing(self, *tools: str) -> str | None:
        """Why a peer cannot run ("skipped: ... not installed"), or None when it can."""
        absent = [tool for tool in tools if shutil.which(tool) is None]
        if not absent:
            return None
        packages = " ".join(sorted({PACKAGE_OF.get(tool, tool) for tool in absent}))
        return f"skipped: {', '.join(absent)} not installed (apt-get install {packages})"

    @cached_property
    def random_file(self) -> data.DataFile:
        log(f"making a {human(self.settings.size)} random file")
        return data.random_file(self.www / "bench-random.bin", self.settings.size)

    @cached_property
    def throttled_file(self) -> data.DataFile:
        log(f"making a {human(self.settings.throttled_size)} random file")
        return data.random_file(self.www / "bench-throttled.bin", self.settings.throttled_size)

    @cached_property
    def labeled_zip(self) -> data.DataFile:
        mean = self.settings.zip_size // LABELED_IMAGES
        log(f"making a labeled-images zip: {LABELED_IMAGES} members of about {human(mean)}")
        return data.labeled_zip(
            self.www / "hyper-kvasir-labeled-images.zip", PUBLISHED_COUNTS, mean
        )

    @cached_property
    def lan_file(self) -> data.DataFile:
        log(f"making a {human(self.settings.lan_size)} random file")
        return data.random_file(self.www / "bench-lan.bin", self.settings.lan_size)

    @cached_property
    def real_counts(self) -> dict[str, int]:
        """The published per-class proportions, scaled to the real-size zip's members."""
        return data.scaled_counts(PUBLISHED_COUNTS, self.settings.real_members)

    @cached_property
    def real_zip(self) -> data.DataFile:
        """A labeled zip whose members have the real average size (~370 KB)."""
        size = self.settings.real_member_size
        log(f"making a labeled-images zip: {self.settings.real_members} members of ~{human(size)}")
        return data.labeled_zip(self.www / "real-size-labeled-images.zip", self.real_counts, size)

    @cached_property
    def tiny_zip(self) -> data.DataFile:
        counts = data.scaled_counts(PUBLISHED_COUNTS, self.settings.images)
        log(f"making a labeled-images zip of {self.settings.images} tiny JPEGs")
        return data.tiny_labeled_zip(self.www / "tiny-labeled-images.zip", counts)

    def url(self, file: data.DataFile, *, throttled: bool = False, rate: str | None = None) -> str:
        if self.server is None:
            return f"http://127.0.0.1:9/{file.path.name}"  # the discard port: never answers
        return self.server.url(file.path.name, throttled=throttled, rate=rate)

    def manifest(
        self,
        name: str,
        file: data.DataFile,
        *,
        throttled: bool = False,
        rate: str | None = None,
        counts: dict[str, int] | None = None,
    ) -> Path:
        """A one-part manifest for ``file``, served by the local nginx (``counts``: the
        labeled part's per-class counts, the published ones by default)."""
        part: dict[str, Any] = {
            "name": name,
            "file": file.path.name,
            "urls": [self.url(file, throttled=throttled, rate=rate)],
            "size": file.size,
            "sha256": file.sha256,
        }
        if name == LABELED:
            classes = counts or PUBLISHED_COUNTS
            part |= {
                "kind": "zip",
                "root": LABELED,
                "expected": {"files": sum(classes.values()), "classes": classes},
            }
        port = f"-{rate}" if rate else "-throttled" if throttled else ""
        path = self.settings.work / "manifests" / f"{file.path.stem}{port}.yaml"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(yaml.safe_dump({"dataset": "hyper-kvasir", "parts": [part]}))
        return path

    def cli(self, home: str, manifest: Path) -> Cli:
        """The CLI in a fresh, empty home ``runs/<home>``."""
        return Cli(self.exe, manifest, fresh(self.runs / home))

    def install_archive(self, cli: Cli, name: str, file: data.DataFile) -> list[str]:
        """Put ``file`` in the home's archives, with `hyperkvasir download` when it works."""
        run = cli.run("download", name, "--json") if self.server else None
        if run is not None and run.succeeded and cli.archive(file).is_file():
            return []
        why = run.failure() if run is not None else self.why_no_server
        target = cli.archive(file)
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.link(file.path, target)
        except OSError:
            shutil.copyfile(file.path, target)
        return [f"archive put in place by the benchmark ({why})"]

    def install_tree(self, cli: Cli, file: data.DataFile, images: int) -> list[str]:
        """Extract the home's archive, with `hyperkvasir extract` when it works."""
        if cli.tree.is_dir() and count_images(cli.tree) == images:
            return []
        shutil.rmtree(cli.tree, ignore_errors=True)
        run = cli.run("extract", LABELED, "--jobs", str(self.settings.jobs))
        if run.succeeded and count_images(cli.tree) == images:
            return []
        why = run.failure() if not run.succeeded else "the tree misses images"
        shutil.rmtree(cli.tree, ignore_errors=True)
        with zipfile.ZipFile(cli.archive(file)) as archive:
            archive.extractall(cli.data_dir)
        return [f"tree unpacked by the benchmark ({why})"]

    @cached_property
    def labeled_home(self) -> tuple[Cli, list[str]]:
        """A home holding the labeled zip, shared by the checksum, extract and stats rows."""
        cli = self.cli("labeled", self.manifest(LABELED, self.labeled_zip))
        return cli, self.install_archive(cli, LABELED, self.labeled_zip)

    @cached_property
    def real_home(self) -> tuple[Cli, list[str]]:
        """A home holding the zip of real-size members (the extract rows)."""
        manifest = self.manifest(LABELED, self.real_zip, counts=self.real_counts)
        cli = self.cli("real-size", manifest)
        return cli, self.install_archive(cli, LABELED, self.real_zip)
