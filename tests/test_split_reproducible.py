"""The same images, options and seed give byte-identical split files on any machine.

The command runs in processes of its own, under other hash seeds (Python salts `hash()`
per process), host names, users, home folders, time zones, working folders and data
folders; every file must come out the same, and the same as the golden digests below,
which were computed once for this fixed input. Nothing in `split.json` may name the
machine, the user, a path or a time.
"""

from __future__ import annotations

import getpass
import hashlib
import json
import random
import re
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from hyperkvasir_cli.core.classes import LABELED_CLASSES
from tests.child import run_child
from tests.cli import run_cli
from tests.same import assert_same_bytes
from tests.zips import stable_uuid

# Uneven classes, as in the real data.
PER_CLASS = {c.name: 4 + (i * 5) % 9 for i, c in enumerate(LABELED_CLASSES)}
ARGS = ("split", "--seed", "2020", "--ratios", "0.7,0.15,0.15")
# sha256 of each split file for this input and ARGS. If the assignment method changes on
# purpose, these change with ASSIGNMENT_METHOD. (split.json is compared across machines
# below, not with a digest: it gains keys as features are added.)
GOLDEN = {
    "test.csv": "0eac5fe9234b84863bd7d2466e6d7e78deb825f29c104dc1a9f0e8f07169448c",
    "train.csv": "95f70017267a208c6e0c1b20297b5833e9f81f760530c4676d2aef89fa205ed1",
    "val.csv": "6bf6cebd19cad0eaac9b95d08f842d4a094eebdd374fc7acdd171274dcfdc384",
}
# train.csv of `split --strategy random --seed 7`
GOLDEN_RANDOM_TRAIN = "34b5523fa5d4f22ede0d115960d3dddd83ec07a7c0f64127085c52cf9e881748"


def labeled_tree(data_dir: Path) -> list[str]:
    """The extracted labeled images (their paths are what a split depends on)."""
    rng = random.Random(2020)
    paths = []
    for cls in LABELED_CLASSES:
        for _ in range(PER_CLASS[cls.name]):
            path = f"labeled-images/{cls.organ}/{cls.category}/{cls.name}/{stable_uuid(rng)}.jpg"
            (data_dir / path).parent.mkdir(parents=True, exist_ok=True)
            (data_dir / path).write_bytes(b"\xff\xd8 an image \xff\xd9")
            paths.append(path)
    return paths


def digests(folder: Path) -> dict[str, str]:
    """sha256 of each split file (split.json aside) in ``folder``."""
    return {
        path.name: hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(folder.iterdir())
        if path.name != "split.json"
    }


@dataclass(frozen=True)
class Machine:
    """Another machine: host, user, home, data folder (a copy), time zone, working folder."""

    home: Path
    env: dict[str, str]

    @property
    def out(self) -> Path:
        return self.home / "splits-out"

    def split(self) -> None:
        done = run_child(*ARGS, "--out", str(self.out), env=self.env, cwd=self.home)
        assert done.returncode == 0, done.stderr


def machine(tmp_path: Path, name: str, hash_seed: str, tz: str) -> Machine:
    home = tmp_path / f"home-{name}"
    data_dir = home / "datasets" / "hyperkvasir"
    labeled_tree(data_dir)
    env = {
        "PYTHONHASHSEED": hash_seed,
        "HK_TEST_HOSTNAME": f"node-{name}.lab.example",
        "USER": f"user{name}",
        "LOGNAME": f"user{name}",
        "HOME": str(home),
        "TZ": tz,
        "HYPERKVASIR_DATA_DIR": str(data_dir),
        "HYPERKVASIR_CONFIG": str(home / "config.yaml"),
    }
    return Machine(home, env)


def test_split_files_are_the_same_bytes_in_any_process_on_any_machine(tmp_path: Path) -> None:
    machines = [machine(tmp_path, "a", "1", "UTC"), machine(tmp_path, "b", "2", "Asia/Tokyo")]
    for each in machines:
        each.split()
    first, second = (each.out for each in machines)
    assert sorted(p.name for p in first.iterdir()) == sorted([*GOLDEN, "split.json"])
    for path in first.iterdir():
        assert_same_bytes(path, second / path.name, path.name)
    assert digests(first) == GOLDEN

    text = (first / "split.json").read_text()
    here = [name for name in (socket.gethostname(), getpass.getuser()) if len(name) >= 5]
    specific = [*here, str(tmp_path), "node-a", "usera", "Tokyo", "UTC"]
    assert [s for s in specific if s in text] == []
    assert re.search(r"\d{4}-\d\d-\d\d|\d\d:\d\d", text) is None, "a date or time"
    paths = [v for v in strings(json.loads(text)) if v.startswith(("/", "~")) or "\\" in v]
    assert paths == []


def strings(node: object) -> Iterator[str]:
    """Every string in a JSON document, keys included."""
    if isinstance(node, str):
        yield node
    elif isinstance(node, dict):
        for key, value in node.items():
            yield key
            yield from strings(value)
    elif isinstance(node, list):
        for value in node:
            yield from strings(value)


def test_the_random_strategy_matches_its_golden_digest(tmp_path: Path, data_dir: Path) -> None:
    labeled_tree(data_dir)
    out = tmp_path / "random"
    result = run_cli("split", "--strategy", "random", "--seed", "7", "--out", str(out))
    assert result.exit_code == 0, result.stderr
    assert digests(out)["train.csv"] == GOLDEN_RANDOM_TRAIN


def test_the_golden_input_is_what_the_digests_were_made_from(tmp_path: Path) -> None:
    """Guards the test above: the fixed input itself has not drifted."""
    paths = labeled_tree(tmp_path)
    assert len(paths) == sum(PER_CLASS.values()) == 178
    listing = hashlib.sha256("\n".join(sorted(paths)).encode()).hexdigest()
    assert listing == "0407a32a7849e07563d5ce4eb3bd42af3a5253a3d30e6c1f3414b58334d14470"
