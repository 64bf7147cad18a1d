"""The extraction engine under stress: killed, interrupted, failing mid-member; and the
pure rules that decide what a run does."""

from __future__ import annotations

import os
import random
import subprocess
import zipfile
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from hyperkvasir_cli.archive.extract import extract_archive
from hyperkvasir_cli.archive.index import ZipMember, read_members
from hyperkvasir_cli.archive.marker import ExtractMarker
from hyperkvasir_cli.archive.plan import (
    MAX_BATCH_MEMBERS,
    Action,
    BatchQueue,
    MemberTask,
    choose_action,
    cut_batches,
)
from hyperkvasir_cli.archive.pool import ALLOCATOR_ENV, WorkerKilled, WorkerPool
from hyperkvasir_cli.archive.safety import safe_members
from hyperkvasir_cli.archive.selection import Selection
from hyperkvasir_cli.archive.stream import member_chunks
from hyperkvasir_cli.archive.worker import StopRequested, extract_batch
from hyperkvasir_cli.core.errors import ArchiveError
from hyperkvasir_cli.core.progress import SilentProgress
from tests.child import Child
from tests.cli import run_cli
from tests.hostile_zips import RawMember, deflated, raw_zip
from tests.same import assert_same_bytes
from tests.zips import write_zip

LABELED_FILE = "hyper-kvasir-labeled-images.zip"


def random_members(count: int, size: int, seed: int = 7) -> dict[str, bytes]:
    rng = random.Random(seed)
    return {
        f"labeled-images/lower-gi-tract/pathological-findings/polyps/{n:05d}.jpg": rng.randbytes(
            size
        )
        for n in range(count)
    }


def final_files(folder: Path) -> dict[str, bytes]:
    return {
        p.relative_to(folder).as_posix(): p.read_bytes()
        for p in folder.rglob("*")
        if p.is_file() and not p.name.endswith(".hkx-tmp") and not p.name.startswith(".hyper")
    }


def leftovers(folder: Path) -> list[Path]:
    return list(folder.rglob("*.hkx-tmp"))


def write_manifest(path: Path) -> Path:
    part = {
        "name": "labeled-images",
        "file": LABELED_FILE,
        "urls": [f"http://127.0.0.1:9/{LABELED_FILE}"],
        "root": "labeled-images",
    }
    path.write_text(yaml.safe_dump({"dataset": "hyper-kvasir", "parts": [part]}))
    return path


# --- killed and interrupted runs ----------------------------------------------------------


def test_a_run_killed_half_way_is_completed_by_the_next(tmp_path: Path, data_dir: Path) -> None:
    members = random_members(12, 256 * 1024)
    write_zip(data_dir / "archives" / LABELED_FILE, members, compression=zipfile.ZIP_STORED)
    manifest = write_manifest(tmp_path / "manifest.yaml")
    out = tmp_path / "out"
    args = ["extract", "labeled-images", "--to", str(out), "--manifest", str(manifest)]
    # The process writing members stops right after its third one is in place; then the
    # run is killed there, as kill -9 or a power cut would.
    polyps = "labeled-images/lower-gi-tract/pathological-findings/polyps/"
    child = Child(*args, "--jobs", "1", "--quiet", freeze_at=f"{polyps}00002.jpg")
    try:
        child.wait_for(lambda: bool(child.frozen()), "the third member in place")
        child.kill(*child.frozen())
    finally:
        child.close()
    done = final_files(out)
    assert sorted(done) == [f"{polyps}{n:05d}.jpg" for n in range(3)]
    assert all(members[name] == data for name, data in done.items())  # no partial final file

    rerun = run_cli("extract", "labeled-images", "--to", str(out), "--manifest", str(manifest))
    assert rerun.exit_code == 0, rerun.stderr
    assert final_files(out) == members
    assert leftovers(out) == []
    assert (out / "labeled-images" / ".hyperkvasir-extract.json").exists()


class InterruptAfterFirstBatch(SilentProgress):
    """A progress reporter whose second report arrives with Ctrl-C."""

    def __init__(self) -> None:
        self.reports = 0

    def advance(self, amount: int) -> None:
        self.reports += 1
        if self.reports == 1:
            raise KeyboardInterrupt


def worker_children() -> list[int]:
    """Worker processes started by this process that are still alive (Linux only)."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            status = Path(f"/proc/{entry}/status").read_text()
            cmdline = Path(f"/proc/{entry}/cmdline").read_bytes()
        except OSError:
            continue
        ppid = next(line.split()[1] for line in status.splitlines() if line.startswith("PPid:"))
        state = next(line.split()[1] for line in status.splitlines() if line.startswith("State:"))
        if int(ppid) == os.getpid() and b"extract_pool" in cmdline and state != "Z":
            found.append(int(entry))
    return found


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="needs /proc")
def test_ctrl_c_stops_the_workers_and_keeps_only_complete_files(tmp_path: Path) -> None:
    members = random_members(1500, 64)  # enough members for worker processes
    archive = tmp_path / LABELED_FILE
    write_zip(archive, members)
    out = tmp_path / "out"
    with pytest.raises(KeyboardInterrupt):
        extract_archive(
            archive, out, root="labeled-images", jobs=2, progress=InterruptAfterFirstBatch()
        )
    assert worker_children() == []
    assert leftovers(out) == []
    done = final_files(out)
    assert 0 < len(done) < len(members)
    assert all(members[name] == data for name, data in done.items())
    assert not (out / "labeled-images" / ".hyperkvasir-extract.json").exists()

    result = extract_archive(archive, out, root="labeled-images", jobs=2)
    assert result.extracted == len(members) - len(done)
    assert final_files(out) == members


def test_ctrl_c_exits_130_with_a_message(
    tmp_path: Path, data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_zip(data_dir / "archives" / LABELED_FILE, random_members(600, 16))
    manifest = write_manifest(tmp_path / "manifest.yaml")
    monkeypatch.setattr(
        "hyperkvasir_cli.cli.console.Console.progress",
        lambda self, unit="bytes": InterruptAfterFirstBatch(),
    )
    result = run_cli(
        "extract", "labeled-images", "--manifest", str(manifest), "-t", str(tmp_path / "o")
    )
    assert result.exit_code == 130
    assert "interrupted" in result.stderr and "Traceback" not in result.stderr
    assert leftovers(tmp_path / "o") == []


def test_a_member_is_written_under_a_temporary_name_until_it_is_whole(tmp_path: Path) -> None:
    content = random.Random(1).randbytes(3 * 1024 * 1024)
    archive = write_one(tmp_path, content)
    folder = tmp_path / "out" / "labeled-images"
    folder.mkdir(parents=True)
    seen: list[list[str]] = []

    def look_then_stop() -> bool:
        seen.append(sorted(p.name for p in folder.iterdir()))
        if len(seen) == 3:
            raise StopRequested  # as if Ctrl-C came in the middle of the member
        return False

    tasks = task_list(archive)
    outcome = extract_batch(archive, tmp_path / "out", tasks, look_then_stop)
    assert outcome.stopped and outcome.extracted == 0
    before, *writing = seen  # asked once before the member, then after each piece
    assert before == [] and len(writing) == 2
    assert all(len(names) == 1 and names[0].startswith(".big.jpg.") for names in writing)
    assert all(names[0].endswith(".hkx-tmp") for names in writing)
    assert list(folder.iterdir()) == []  # the temporary file is gone, no final name

    outcome = extract_batch(archive, tmp_path / "out", tasks)
    assert outcome.extracted == 1
    assert_same_bytes(folder / "big.jpg", content)


def test_a_member_failing_its_crc_after_megabytes_leaves_nothing(tmp_path: Path) -> None:
    content = random.Random(2).randbytes(3 * 1024 * 1024)
    archive = raw_zip(
        tmp_path / "bad.zip",
        [
            RawMember("labeled-images/ok.jpg", b"ok"),
            RawMember("labeled-images/big.jpg", content, method=8, crc=0),
        ],
    )
    with pytest.raises(ArchiveError) as info:
        extract_archive(archive, tmp_path / "out", root="labeled-images")
    assert "'labeled-images/big.jpg' has CRC-32" in info.value.message
    assert final_files(tmp_path / "out") == {"labeled-images/ok.jpg": b"ok"}
    assert leftovers(tmp_path / "out") == []


def write_one(tmp_path: Path, content: bytes) -> Path:
    archive = tmp_path / "one.zip"
    write_zip(archive, {"labeled-images/big.jpg": content})
    return archive


def task_list(archive: Path) -> list[MemberTask]:
    index = read_members(archive)
    safe = safe_members(index.members, archive_name=archive.name, archive_size=index.size)
    return [MemberTask(s.path, s.member, check_first=False) for s in safe]


# --- streaming stays bounded --------------------------------------------------------------


def test_a_bomb_never_yields_more_than_its_declared_size(tmp_path: Path) -> None:
    payload = bytes(20 * 1024 * 1024)
    archive = raw_zip(
        tmp_path / "bomb.zip",
        [RawMember("b.bin", payload[:5000], method=8, stored=deflated(payload))],
    )
    member = read_members(archive).members[0]
    fd = os.open(archive, os.O_RDONLY)
    yielded: list[int] = []
    try:
        with pytest.raises(ArchiveError, match="inflates to more than the 5000 B"):
            for piece in member_chunks(fd, member, "bomb.zip", chunk_size=4096):
                yielded.append(len(piece))
    finally:
        os.close(fd)
    assert sum(yielded) <= 5000 and max(yielded) <= 4096


def test_pieces_are_bounded_whatever_the_member_size(tmp_path: Path) -> None:
    content = bytes(3_000_000)
    for method in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED, zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA):
        archive = tmp_path / f"m{method}.zip"
        write_zip(archive, {"a.bin": content}, compression=method)
        member = read_members(archive).members[0]
        fd = os.open(archive, os.O_RDONLY)
        try:
            sizes = [len(p) for p in member_chunks(fd, member, archive.name, chunk_size=65536)]
        finally:
            os.close(fd)
        assert sum(sizes) == len(content) and max(sizes) <= 65536


# --- the rules --------------------------------------------------------------------------


def test_what_to_do_with_each_member() -> None:
    assert choose_action(10, None, verify=False, force=False) is Action.EXTRACT
    assert choose_action(10, 9, verify=False, force=False) is Action.EXTRACT
    assert choose_action(10, 10, verify=False, force=False) is Action.SKIP
    assert choose_action(10, 10, verify=True, force=False) is Action.CHECK
    assert choose_action(10, 10, verify=True, force=True) is Action.EXTRACT


def fake_task(n: int, size: int) -> MemberTask:
    member = ZipMember(f"m{n}", size, size, 0, 0, header_offset=n * 1000)
    return MemberTask(f"m{n}", member, check_first=False)


@given(
    st.lists(st.integers(min_value=0, max_value=5_000_000), max_size=700),
    st.integers(min_value=1, max_value=8),
    st.lists(st.integers(min_value=0, max_value=7), min_size=1),
)
def test_every_member_is_handed_out_once_whichever_worker_asks(
    sizes: list[int], jobs: int, askers: list[int]
) -> None:
    tasks = [fake_task(n, size) for n, size in enumerate(sizes)]
    batches = cut_batches(tasks, jobs)
    assert all(0 < len(batch) <= MAX_BATCH_MEMBERS for batch in batches)
    assert [t for batch in batches for t in batch] == tasks  # neighbours, in archive order
    queue = BatchQueue(batches, jobs)
    handed: list[MemberTask] = []
    turn = 0
    while len(queue):
        batch = queue.take(askers[turn % len(askers)] % jobs)
        assert batch is not None
        handed += batch
        turn += 1
    assert queue.take(0) is None
    assert sorted(t.path for t in handed) == sorted(t.path for t in tasks)
    assert len(handed) == len(tasks)


def test_workers_start_in_different_stretches_of_the_archive() -> None:
    batches = [[fake_task(n, 1)] for n in range(10)]
    queue = BatchQueue(batches, 2)
    first, second = queue.take(0), queue.take(1)
    assert first is not None and second is not None
    assert (first[0].path, second[0].path) == ("m0", "m5")
    for _ in range(4):
        queue.take(1)
    stolen = queue.take(1)  # its own stretch is done: it takes the far end of the other
    assert stolen is not None and stolen[0].path == "m4"


def test_a_marker_for_everything_covers_any_selection_of_the_same_archive() -> None:
    everything = ExtractMarker.completed("a.zip", "1" * 64, 10, 100, Selection())
    polyps = ExtractMarker.completed("a.zip", "1" * 64, 2, 20, Selection.build(classes=["polyp"]))
    other = ExtractMarker.completed("a.zip", "2" * 64, 10, 100, Selection())
    assert everything.covers(polyps) and everything.covers(everything)
    assert not polyps.covers(everything)
    assert not everything.covers(other)


@pytest.mark.skipif(not Path("/proc/self/environ").exists(), reason="needs /proc")
def test_workers_keep_their_buffers_unless_the_user_tunes_the_allocator(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A fresh worker gave every member's buffers back to the kernel and faulted them in
    again (a third of an extraction in page faults); its allocator is told to keep them."""
    archive = write_zip(tmp_path / "a.zip", {"x/a.jpg": b"a"})
    monkeypatch.setenv("MALLOC_TRIM_THRESHOLD_", "12345")
    monkeypatch.delenv("MALLOC_MMAP_THRESHOLD_", raising=False)
    started: list[dict[str, str]] = []
    real_popen = subprocess.Popen

    def recording_popen(*args: Any, **kwargs: Any) -> Any:
        # What the worker is started with (its /proc environ would race the exec).
        started.append(dict(kwargs["env"]))
        return real_popen(*args, **kwargs)

    monkeypatch.setattr("hyperkvasir_cli.archive.pool.subprocess.Popen", recording_popen)
    with WorkerPool(archive, tmp_path, 1):
        pass
    (environ,) = started
    assert environ["MALLOC_MMAP_THRESHOLD_"] == ALLOCATOR_ENV["MALLOC_MMAP_THRESHOLD_"]
    assert environ["MALLOC_TRIM_THRESHOLD_"] == "12345"


def test_a_worker_killed_from_outside_is_reported_as_such_not_as_a_bug(tmp_path: Path) -> None:
    archive = write_zip(tmp_path / "a.zip", {"x/a.jpg": b"a"})
    with WorkerPool(archive, tmp_path, 1) as pool:
        worker = pool._workers[0]
        worker.process.kill()  # as the OOM killer would
        with pytest.raises(WorkerKilled) as killed:
            worker.receive()
    assert killed.value.exit_code == 130
    assert "killed by SIGKILL" in killed.value.message and "fewer --jobs" in (
        killed.value.hint or ""
    )
