"""The README's Python example (the block after `<!-- tested: python -->`), run as a reader
would run it: a fresh interpreter in an empty folder, the data folder, config file and
manifest set through the environment, the labeled images served from 127.0.0.1."""

from __future__ import annotations

import csv
import hashlib
import os
import re
import subprocess
import sys
from pathlib import Path

import yaml

from tests.http_server import LocalServer
from tests.zips import build_labeled_images

README = Path(__file__).resolve().parent.parent / "README.md"
BLOCK = re.compile(r"<!--\s*tested:\s*python\s*-->\s*\n```python\n(?P<code>.*?)^```", re.M | re.S)
PER_CLASS = {"polyps": 4, "cecum": 3, "z-line": 3}


def python_example() -> str:
    found = BLOCK.findall(README.read_text(encoding="utf-8"))
    assert len(found) == 1, "README.md needs exactly one block after <!-- tested: python -->"
    return str(found[0])


def test_the_python_example_runs_and_prints_only_its_own_lines(
    tmp_path: Path, http_server: LocalServer
) -> None:
    built = build_labeled_images(tmp_path / "hyper-kvasir-labeled-images.zip", PER_CLASS)
    content = built.path.read_bytes()
    http_server.put(built.path.name, content)
    part = {
        "name": "labeled-images",
        "file": built.path.name,
        "urls": [http_server.url(built.path.name)],
        "size": len(content),
        "sha256": hashlib.sha256(content).hexdigest(),
        "root": "labeled-images",
        "expected": {"files": sum(PER_CLASS.values()), "classes": PER_CLASS},
    }
    manifest = tmp_path / "manifest.yaml"
    manifest.write_text(yaml.safe_dump({"dataset": "hyper-kvasir", "parts": [part]}))
    folder = tmp_path / "notebook"
    folder.mkdir()
    env = {
        **os.environ,
        "HYPERKVASIR_MANIFEST": str(manifest),
        "HYPERKVASIR_DATA_DIR": str(tmp_path / "data"),
        "HYPERKVASIR_CONFIG": str(tmp_path / "config.yaml"),
    }
    run = subprocess.run(
        [sys.executable, "-c", python_example()],
        cwd=folder,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stderr
    assert run.stderr == ""
    lines = run.stdout.splitlines()
    assert lines[0] == f"4 polyp images in {folder / 'polyps' / 'labeled-images'}"
    splits = {line.split(":")[0]: line for line in lines[1:4]}
    assert list(splits) == ["train", "val", "test"]
    assert lines[4].startswith("2 unknown part 'no-such-part'")
    polyps = sorted(p.name for p in (folder / "polyps").rglob("*.jpg"))
    assert polyps == sorted(m.rsplit("/", 1)[1] for m in built.data_files if "/polyps/" in m)
    out = tmp_path / "data" / "splits" / "labeled-images-stratified"
    with (out / "train.csv").open(newline="") as rows:
        train = [row["path"] for row in csv.DictReader(rows)]
    assert train and all((tmp_path / "data" / path).is_file() for path in train)
