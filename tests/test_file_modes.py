"""Every file the program writes for people honours the umask, as the extracted images do:
0644 under umask 022, so that colleagues on a shared server can read the archive, the
split CSVs, split.json, plots, the extract marker and the config (never a private 0600)."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.cli import run_cli
from tests.conftest import FakeClock
from tests.downloads import part_entry, write_manifest
from tests.http_server import LocalServer
from tests.zips import build_labeled_images

LABELED_ZIP = "hyper-kvasir-labeled-images.zip"


@pytest.fixture(params=[0o022, 0o002], ids=["umask-022", "umask-002"])
def umask(request: pytest.FixtureRequest) -> Iterator[int]:
    old = os.umask(request.param)
    yield request.param
    os.umask(old)


def modes(*folders: Path) -> dict[str, int]:
    found = {}
    for folder in folders:
        for path in folder.rglob("*"):
            if path.is_file() and not path.is_symlink() and not path.name.endswith(".lock"):
                found[str(path)] = stat.S_IMODE(path.stat().st_mode)
    return found


def test_every_file_written_for_people_honours_the_umask(
    umask: int,
    tmp_path: Path,
    data_dir: Path,
    config_path: Path,
    http_server: LocalServer,
    fake_clock: FakeClock,
) -> None:
    built = build_labeled_images(tmp_path / "src" / LABELED_ZIP, per_class=1)
    http_server.put(LABELED_ZIP, built.path.read_bytes())
    manifest = write_manifest(
        tmp_path / "m.yaml",
        [
            part_entry(
                "labeled-images",
                LABELED_ZIP,
                [http_server.url(LABELED_ZIP)],
                built.path.read_bytes(),
                root="labeled-images",
            )
        ],
    )
    out = tmp_path / "out"
    commands = [
        ["download", "labeled-images", "--extract"],
        ["split", "--strategy", "stratified", "--out", str(out / "csv")],
        ["split", "--strategy", "random", "--format", "json", "--out", str(out / "json")],
        ["split", "--format", "imagefolder", "--link", "copy", "--out", str(out / "folders")],
        ["stats", "labeled-images", "--plot", str(out / "classes.png")],
        ["stats", "labeled-images", "--plot", str(out / "classes.svg")],
        ["config", "set", "connections", "3"],
    ]
    for command in commands:
        result = run_cli(*command, "--manifest", str(manifest))
        assert result.exit_code == 0, (command, result.stderr)
    written = modes(data_dir, out, config_path.parent)
    expected = 0o666 & ~umask
    wrong = {path: oct(mode) for path, mode in written.items() if mode != expected}
    assert wrong == {}, f"expected {oct(expected)}"
    names = {Path(p).name for p in written}
    # The files of the issue are among those checked.
    assert {LABELED_ZIP, "split.json", "train.csv", "classes.png", "classes.svg"} <= names
    assert {".hyperkvasir-extract.json", "config.yaml"} <= names
