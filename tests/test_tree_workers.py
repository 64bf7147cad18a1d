"""`checksum --extracted` over worker processes: the same items as in one process, every
kind of damage named, progress counted in full; and the plan's shortcut for plain names."""

from __future__ import annotations

import os
import zipfile
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hyperkvasir_cli.archive.safety import path_problem, relative_path
from hyperkvasir_cli.check import file_workers
from hyperkvasir_cli.check.tree import _PLAIN_NAME, WORKERS_FROM_FILES, verify_tree
from hyperkvasir_cli.core.progress import SilentProgress

ROOT = "labeled-images"
FILES = WORKERS_FROM_FILES + 72  # enough for the workers, and several batches each


class Counting(SilentProgress):
    def __init__(self) -> None:
        self.total = 0
        self.done = 0

    def start(self, label: str, total: int | None, completed: int = 0) -> None:
        self.total += total or 0

    def advance(self, amount: int) -> None:
        self.done += amount


def _tree(tmp_path: Path) -> tuple[Path, Path]:
    """A zip of FILES members under ROOT and the tree extracted from it, then damaged:
    one file changed in place, one cut short, one gone, one replaced by a folder, and
    one file the archive lacks."""
    archive, target = tmp_path / "part.zip", tmp_path / "data"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_STORED) as built:
        for index in range(FILES):
            built.writestr(f"{ROOT}/class-{index % 7}/{index:04d}.jpg", os.urandom(index * 37))
        built.extractall(target)
    folder = target / ROOT
    with (folder / "class-1" / "0008.jpg").open("r+b") as changed:
        changed.write(b"\x00\x01")
    with (folder / "class-2" / "0009.jpg").open("r+b") as cut:
        cut.truncate(5)
    (folder / "class-3" / "0010.jpg").unlink()
    (folder / "class-4" / "0011.jpg").unlink()
    (folder / "class-4" / "0011.jpg").mkdir()
    (folder / "class-5" / "extra.jpg").write_bytes(b"not in the archive")
    return archive, target


@pytest.mark.parametrize("algorithm", [None, "md5"])
def test_workers_find_what_one_process_finds(tmp_path: Path, algorithm: str | None) -> None:
    archive, target = _tree(tmp_path)

    def check(jobs: int) -> list[tuple[object, ...]]:
        found = verify_tree(ROOT, ROOT, archive, target, tmp_path, algorithm=algorithm, jobs=jobs)
        return [(i.path, i.result, i.reason, i.expected, i.found) for i in found.items]

    alone, shared = check(1), check(3)
    assert shared == alone
    problems = {path: result for path, result, *_ in alone if result != "ok"}
    assert problems == {
        f"data/{ROOT}/class-1/0008.jpg": "changed",
        f"data/{ROOT}/class-2/0009.jpg": "changed",
        f"data/{ROOT}/class-3/0010.jpg": "missing",
        f"data/{ROOT}/class-4/0011.jpg": "changed",
        f"data/{ROOT}/class-5/extra.jpg": "unexpected",
    }
    assert len(alone) == FILES + 1


def test_workers_count_every_byte_they_read(tmp_path: Path) -> None:
    archive, target = _tree(tmp_path)
    progress = Counting()
    verify_tree(ROOT, ROOT, archive, target, tmp_path, jobs=2, progress=progress)
    # Everything the directory promised, less what damaged files did not hold.
    lost = 9 * 37 + 10 * 37 + 11 * 37  # sizes differ: not read
    assert progress.total == sum(index * 37 for index in range(FILES))
    assert progress.done == progress.total - lost


def test_batches_hold_dozens_of_small_files_and_few_large_ones() -> None:
    small = [(f"s{i}", 1000, 0) for i in range(150)]
    large = [(f"l{i}", 40 * 2**20, 0) for i in range(3)]
    cut = file_workers.batches(small + large)
    assert [len(batch) for _, batch in cut] == [64, 64, 22 + 2, 1]
    assert [start for start, _ in cut] == [0, 64, 128, 152]


def test_a_worker_that_dies_is_an_error_not_a_pass(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    archive, target = _tree(tmp_path)
    real = file_workers._start_worker

    def dying() -> object:
        process = real()
        process.kill()
        return process

    monkeypatch.setattr(file_workers, "_start_worker", dying)
    with pytest.raises(file_workers.WorkerFailed):
        verify_tree(ROOT, ROOT, archive, target, tmp_path, jobs=2)


names = st.text(alphabet="ab./\\:\x00C", max_size=12)


@given(names)
def test_a_plain_name_is_its_own_path(name: str) -> None:
    if _PLAIN_NAME.fullmatch(name):
        assert path_problem(name) is None
        assert relative_path(name) == name
