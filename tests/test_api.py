"""The Python API, used as a researcher would from a notebook, against a local server.

Parts are small zips shaped like the dataset's (the real file names and folder layout; the
segmented images have their real 1,000 pairs), served from 127.0.0.1 and described by a
manifest that pins their size and sha256. Nothing may be printed: every test here fails
if a byte reaches stdout or stderr.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from hyperkvasir_cli import HyperKvasir, HyperkvasirError, LockedError, UsageError
from hyperkvasir_cli.core.progress import SilentProgress
from tests.cli import run_cli
from tests.http_server import LocalServer
from tests.same import assert_same_bytes
from tests.zips import BuiltArchive, build_labeled_images, build_segmented_images

LABELED = "labeled-images"
SEGMENTED = "segmented-images"
LABELED_FILE = "hyper-kvasir-labeled-images.zip"
SEGMENTED_FILE = "hyper-kvasir-segmented-images.zip"
# Uneven counts, so that a count read from the wrong class shows.
PER_CLASS = {"polyps": 5, "cecum": 3, "z-line": 2, "pylorus": 4, "bbps-2-3": 1}


@dataclass(frozen=True)
class Site:
    server: LocalServer
    manifest: Path
    labeled: BuiltArchive
    segmented: BuiltArchive


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    folder = tmp_path_factory.mktemp("site")
    labeled = build_labeled_images(folder / LABELED_FILE, PER_CLASS)
    segmented = build_segmented_images(folder / SEGMENTED_FILE, pairs=1000)
    server = LocalServer().start()
    parts = []
    for name, built, expected in (
        (LABELED, labeled, {"files": len(labeled.data_files), "classes": PER_CLASS}),
        (SEGMENTED, segmented, {"files": 2000}),
    ):
        content = built.path.read_bytes()
        server.put(built.path.name, content)
        parts.append(
            {
                "name": name,
                "file": built.path.name,
                "urls": [server.url(built.path.name)],
                "size": len(content),
                "sha256": hashlib.sha256(content).hexdigest(),
                "kind": "zip",
                "root": name,
                "expected": expected,
            }
        )
    manifest = folder / "manifest.yaml"
    document = {"dataset": "hyper-kvasir", "version": "2020", "parts": parts}
    manifest.write_text(yaml.safe_dump(document, sort_keys=False))
    yield Site(server, manifest, labeled, segmented)
    server.stop()


@pytest.fixture(autouse=True)
def nothing_printed(capfd: pytest.CaptureFixture[str]) -> Iterator[None]:
    yield
    assert capfd.readouterr() == ("", "")


@pytest.fixture
def hk(site: Site, tmp_path: Path) -> HyperKvasir:
    return HyperKvasir(tmp_path / "data", config=tmp_path / "config.yaml", manifest=site.manifest)


def files_under(folder: Path) -> set[str]:
    return {p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()}


def test_path_downloads_and_extracts_a_part_once(
    hk: HyperKvasir, site: Site, tmp_path: Path
) -> None:
    before = len(site.server.gets(SEGMENTED_FILE))
    tree = hk.path(SEGMENTED)
    assert tree == tmp_path / "data" / SEGMENTED
    images = [p for p in tree.rglob("*.jpg")]
    assert len(images) == 2000
    assert {p.parent.name for p in images} == {"images", "masks"}
    fetched = len(site.server.gets(SEGMENTED_FILE))
    assert fetched > before
    # Asked again, the recorded tree is the answer: no request, nothing extracted.
    assert hk.path(SEGMENTED) == tree
    assert len(site.server.gets(SEGMENTED_FILE)) == fetched


def test_download_gives_the_verified_archive(hk: HyperKvasir, site: Site, tmp_path: Path) -> None:
    path = hk.download(LABELED)
    assert path == tmp_path / "data" / "archives" / LABELED_FILE
    assert_same_bytes(path, site.labeled.path)
    states = {status.name: status for status in hk.parts()}
    assert states[LABELED].state == "verified"
    assert states[LABELED].archive == path
    # Verified: downloading again sends no request.
    requests = len(site.server.log)
    assert hk.download(LABELED) == path
    assert len(site.server.log) == requests


def test_extract_a_class_gives_exactly_its_images(
    hk: HyperKvasir, site: Site, tmp_path: Path
) -> None:
    tree = hk.extract(LABELED, to=tmp_path / "polyps", classes=["polyp"])
    assert tree == tmp_path / "polyps" / LABELED
    polyps = {m for m in site.labeled.data_files if "/polyps/" in m}
    assert len(polyps) == PER_CLASS["polyps"]
    extracted = {f"{LABELED}/{path}" for path in files_under(tree) if path.endswith(".jpg")}
    assert extracted == polyps


def test_checksum_reports_ok_and_a_damaged_archive_is_not(hk: HyperKvasir, tmp_path: Path) -> None:
    archive = hk.download(LABELED)
    report = hk.checksum([LABELED], deep=True)
    assert report.ok and report.failure() is None
    assert {item.kind for item in report.items} == {"archive", "member"}
    data = bytearray(archive.read_bytes())
    data[100] ^= 0xFF
    archive.write_bytes(bytes(data))
    damaged = hk.checksum(LABELED)
    assert not damaged.ok
    error = damaged.failure()
    assert error is not None and error.exit_code == 5
    # As the command does, the verification is withdrawn: a download would check it again.
    assert {s.name: s.state for s in hk.parts()}[LABELED] == "downloaded"


def test_stats_gives_the_per_class_counts(hk: HyperKvasir) -> None:
    with pytest.raises(UsageError) as caught:  # as the command: nothing here to count
        hk.stats(LABELED)
    assert "neither extracted" in caught.value.message
    hk.download(LABELED)
    stats = hk.stats(LABELED)  # not extracted: read from the archive
    document = stats.as_json()
    counts = {c["class"]: c["count"] for c in document["classes"] if c["count"]}
    assert counts == PER_CLASS
    published = {c["class"]: c["published"] for c in document["classes"] if c["published"]}
    assert published == PER_CLASS
    assert document["matches_published"] is True
    assert stats.differences() == []


def test_an_unknown_part_raises_a_usage_error_with_exit_code_2(hk: HyperKvasir) -> None:
    with pytest.raises(HyperkvasirError) as caught:
        hk.download("no-such-part")
    assert caught.value.exit_code == 2
    assert isinstance(caught.value, UsageError)
    assert "no-such-part" in caught.value.message and LABELED in caught.value.message


def test_split_is_the_object_the_command_prints(
    hk: HyperKvasir, site: Site, tmp_path: Path
) -> None:
    hk.path(LABELED)
    result = hk.split(strategy="stratified", ratios=(0.7, 0.15, 0.15), seed=0)
    assert result.out == tmp_path / "data" / "splits" / f"{LABELED}-stratified"
    assert sorted(result.written.files) == ["split.json", "test.csv", "train.csv", "val.csv"]
    counts = result.class_counts()
    assert {cls: sum(c[cls] for c in counts.values()) for cls in PER_CLASS} == PER_CLASS
    command = run_cli(
        "split",
        "--json",
        "--seed",
        "0",
        "--ratios",
        "0.7,0.15,0.15",
        "--manifest",
        str(site.manifest),
        "--config",
        str(tmp_path / "config.yaml"),
        "--data-dir",
        str(tmp_path / "data"),
    )
    assert command.exit_code == 0, command.stderr
    # The same split: the command finds its files already there, byte for byte.
    assert command.json() == {**result.as_json(), "unchanged": True}


def test_sync_of_a_part_already_right_sends_no_request(hk: HyperKvasir, site: Site) -> None:
    hk.path(LABELED)
    requests = len(site.server.log)
    report = hk.sync()  # every part recorded here
    assert [(s.part, s.download, s.bytes_fetched) for s in report.parts] == [
        (LABELED, "skipped", 0)
    ]
    assert report.as_json()["ok"] is True
    assert len(site.server.log) == requests


def test_a_held_lock_raises_locked_error_with_exit_code_8(hk: HyperKvasir) -> None:
    from hyperkvasir_cli.core.lock import data_lock

    with data_lock(hk.data_dir / ".hyperkvasir.lock"), pytest.raises(LockedError) as caught:
        hk.download(LABELED)
    assert caught.value.exit_code == 8
    assert not (hk.data_dir / "archives" / LABELED_FILE).exists()


def test_settings_follow_the_commands_precedence(
    site: Site, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "config.yaml"
    config.write_text("connections: 2\nretries: 3\n")
    monkeypatch.setenv("HYPERKVASIR_CONNECTIONS", "5")
    monkeypatch.setenv("HYPERKVASIR_RETRIES", "4")
    hk = HyperKvasir(tmp_path / "data", config=config, manifest=site.manifest, connections=7)
    settings = hk.settings
    assert (settings.connections, settings.retries) == (7, 4)  # given > environment > file
    monkeypatch.delenv("HYPERKVASIR_RETRIES")
    assert HyperKvasir(config=config, manifest=site.manifest).settings.retries == 3
    # Without data_dir: the environment's (the test's own data folder here).
    assert HyperKvasir(config=config).data_dir == tmp_path / "data"


@pytest.mark.parametrize(
    ("settings", "words"),
    [({"connections": 0}, "connections"), ({"colour": "blue"}, "unknown setting 'colour'")],
)
def test_a_bad_setting_fails_at_once(
    site: Site, tmp_path: Path, settings: dict[str, Any], words: str
) -> None:
    with pytest.raises(UsageError) as caught:
        HyperKvasir(tmp_path / "data", manifest=site.manifest, **settings)
    assert caught.value.exit_code == 2 and words in caught.value.message


class Recorder(SilentProgress):
    def __init__(self) -> None:
        self.messages: list[str] = []
        self.advanced = 0

    def info(self, message: str) -> None:
        self.messages.append(message)

    def warn(self, message: str) -> None:
        self.messages.append(f"warning: {message}")

    def advance(self, amount: int) -> None:
        self.advanced += amount


def test_a_progress_reporter_hears_the_work_and_its_messages(site: Site, tmp_path: Path) -> None:
    recorder = Recorder()
    hk = HyperKvasir(
        tmp_path / "data",
        config=tmp_path / "config.yaml",
        manifest=site.manifest,
        progress=recorder,
    )
    hk.extract(LABELED)
    assert recorder.advanced >= site.labeled.path.stat().st_size  # the download's bytes
    assert f"{LABELED} is not on disk yet; downloading it" in recorder.messages
    assert any(m.startswith(f"{LABELED}: extracted ") for m in recorder.messages)
