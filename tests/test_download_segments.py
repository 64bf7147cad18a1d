"""Several connections at once, a server that refuses them, and kill -9 mid-download."""

from __future__ import annotations

import hashlib
import json
import re
import signal
import threading
from pathlib import Path

import pytest

from hyperkvasir_cli.cli.console import Console, PlainProgress
from hyperkvasir_cli.core.progress import ProgressReporter
from tests.child import Child
from tests.cli import run_cli
from tests.conftest import FakeClock
from tests.downloads import archive, part_entry, random_bytes, write_manifest
from tests.http_server import LocalServer
from tests.same import assert_same_bytes

FILE = "hyper-kvasir-labeled-images.zip"
MIB = 1024 * 1024


def serve(tmp_path: Path, server: LocalServer, content: bytes) -> Path:
    server.put(FILE, content)
    return write_manifest(
        tmp_path / "manifest.yaml",
        [part_entry("labeled-images", FILE, [server.url(FILE)], content)],
    )


def test_four_connections_fetch_disjoint_ranges_into_one_correct_file(
    tmp_path: Path, http_server: LocalServer, data_dir: Path, fake_clock: FakeClock
) -> None:
    content = random_bytes(24 * MIB + 17, seed=1)
    manifest = serve(tmp_path, http_server, content)
    result = run_cli("download", "labeled-images", "--manifest", str(manifest), "-n", "4", "--json")
    assert result.exit_code == 0, result.stderr
    assert_same_bytes(archive(data_dir, FILE), content)
    outcome = result.json()["parts"][0]
    assert outcome["connections"] > 1
    starts = {r.range.split("=")[1].split("-")[0] for r in http_server.gets(FILE) if r.range}
    assert len(starts) >= 4
    assert http_server.body_bytes(FILE) <= len(content) * 1.05


def test_server_refusing_extra_connections_falls_back_without_failing(
    tmp_path: Path, http_server: LocalServer, data_dir: Path, fake_clock: FakeClock
) -> None:
    content = random_bytes(24 * MIB, seed=2)
    manifest = serve(tmp_path, http_server, content)
    http_server.fault(FILE).max_range_connections = 2
    http_server.fault(FILE).rate = 32 * MIB
    result = run_cli("download", "labeled-images", "--manifest", str(manifest), "-n", "6")
    assert result.exit_code == 0, result.stderr
    assert_same_bytes(archive(data_dir, FILE), content)
    assert any(r.status == 503 for r in http_server.log)
    assert "continuing with" in result.stderr


def test_limit_rate_is_accepted_and_validated(
    tmp_path: Path, http_server: LocalServer, data_dir: Path, fake_clock: FakeClock
) -> None:
    content = random_bytes(2 * MIB, seed=5)
    manifest = serve(tmp_path, http_server, content)
    bad = run_cli("download", "labeled-images", "--manifest", str(manifest), "--limit-rate", "fast")
    assert bad.exit_code == 2 and "--limit-rate" in bad.stderr  # a usage error (9bae3ab)
    ok = run_cli("download", "labeled-images", "--manifest", str(manifest), "--limit-rate", "1M")
    assert ok.exit_code == 0, ok.stderr
    # The fake clock records the waits the bucket asked for: about 2 s for 2 MiB at 1 MiB/s.
    assert 1.0 <= sum(fake_clock.sleeps) <= 2.5
    assert_same_bytes(archive(data_dir, FILE), content)


def _spawn_download(
    manifest: Path, data_dir: Path, config: Path, connections: int, *extra: str
) -> Child:
    """`hyperkvasir download labeled-images` in a process of its own, to kill or interrupt."""
    env = {"HYPERKVASIR_DATA_DIR": str(data_dir), "HYPERKVASIR_CONFIG": str(config)}
    argv = ["download", "labeled-images", "--manifest", str(manifest), "-n", str(connections)]
    return Child(*argv, *extra, env=env)


def recorded(data_dir: Path) -> int:
    """The bytes the partial's sidecar says are on disk (it never claims more)."""
    try:
        sidecar = json.loads((data_dir / "archives" / f"{FILE}.part.json").read_text())
    except (OSError, ValueError):
        return 0
    return sum(s["done"] for s in sidecar["segments"])


def test_kill_9_then_download_again_gives_the_right_file(
    tmp_path: Path, http_server: LocalServer, data_dir: Path, config_path: Path
) -> None:
    content = random_bytes(8 * MIB, seed=3)
    manifest = serve(tmp_path, http_server, content)
    faults = http_server.fault(FILE)
    faults.pause_after = 4 * MIB
    child = _spawn_download(manifest, data_dir, config_path, connections=1)
    partial = data_dir / "archives" / f"{FILE}.part"
    try:
        assert faults.paused.wait(30)
        child.wait_for(lambda: recorded(data_dir) >= 3 * MIB, "3 MiB recorded on disk")
        child.kill()
    finally:
        child.close()
    faults.resume.set()
    kept = partial.stat().st_size
    result = run_cli("download", "labeled-images", "--manifest", str(manifest), "-n", "1")
    assert result.exit_code == 0, result.stderr
    assert (
        hashlib.sha256(archive(data_dir, FILE).read_bytes()).hexdigest()
        == hashlib.sha256(content).hexdigest()
    )
    resumed = http_server.gets(FILE)[-1]
    assert resumed.range is not None and resumed.range.startswith(f"bytes={kept}-")


def test_kill_9_with_several_connections_resumes_each_segment(
    tmp_path: Path, http_server: LocalServer, data_dir: Path, config_path: Path
) -> None:
    size = 32 * MIB
    content = random_bytes(size, seed=4)
    manifest = serve(tmp_path, http_server, content)
    faults = http_server.fault(FILE)
    faults.pause_after = 2 * MIB  # the first connection hangs; the others finish
    child = _spawn_download(manifest, data_dir, config_path, connections=4)
    try:
        child.wait_for(lambda: recorded(data_dir) >= size // 2, "half the file recorded")
        child.kill()
    finally:
        child.close()
    faults.resume.set()
    result = run_cli("download", "labeled-images", "--manifest", str(manifest), "-n", "4")
    assert result.exit_code == 0, result.stderr
    assert_same_bytes(archive(data_dir, FILE), content)
    refetched = http_server.body_bytes(FILE) - size
    assert refetched <= size * 0.05 + 2 * MIB  # at most the hung connection's unrecorded bytes


@pytest.mark.parametrize("connections", [1, 4])
def test_file_urls_work_like_http(
    tmp_path: Path, data_dir: Path, connections: int, fake_clock: FakeClock
) -> None:
    content = random_bytes(9 * MIB, seed=6)
    source = tmp_path / "mirror" / FILE
    source.parent.mkdir()
    source.write_bytes(content)
    manifest = write_manifest(
        tmp_path / "m.yaml", [part_entry("labeled-images", FILE, [source.as_uri()], content)]
    )
    result = run_cli(
        "download", "labeled-images", "--manifest", str(manifest), "-n", str(connections)
    )
    assert result.exit_code == 0, result.stderr
    assert_same_bytes(archive(data_dir, FILE), content)


@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_ctrl_c_or_sigterm_exits_130_and_keeps_everything_for_resume(
    tmp_path: Path, http_server: LocalServer, data_dir: Path, config_path: Path, stop: int
) -> None:
    content = random_bytes(6 * MIB, seed=8)
    manifest = serve(tmp_path, http_server, content)
    faults = http_server.fault(FILE)
    faults.pause_after = 3 * MIB
    child = _spawn_download(manifest, data_dir, config_path, 1, "--json")
    process = child.process
    try:
        assert faults.paused.wait(30)
        # Bytes that reach a stalled connection are written at once, not held back.
        child.wait_for(lambda: recorded(data_dir) >= 3 * MIB, "3 MiB recorded on disk")
        process.send_signal(stop)
        stdout, stderr = process.communicate(timeout=30)
    finally:
        faults.resume.set()
        child.close()
    assert process.returncode == 130
    assert b"interrupted" in stderr and b"Traceback" not in stderr
    document = json.loads(stdout)  # the document says so too: a CI step reads stdout
    assert document["ok"] is False and document["parts"] == []
    assert document["error"]["exit_code"] == 130
    sidecar = json.loads((data_dir / "archives" / f"{FILE}.part.json").read_text())
    assert sidecar["etag"]
    # Every byte the server sent before it paused was written and recorded.
    assert sum(s["done"] for s in sidecar["segments"]) == 3 * MIB
    resumed = run_cli("resume", "--manifest", str(manifest))
    assert resumed.exit_code == 0, resumed.stderr
    assert_same_bytes(archive(data_dir, FILE), content)


# Progress in logs and on a terminal ------------------------------------------------------


def progress_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if f" {FILE}: " in line]


def test_logs_give_the_size_learned_from_the_server_and_end_at_one_100_percent_line(
    tmp_path: Path, http_server: LocalServer, data_dir: Path, fake_clock: FakeClock
) -> None:
    content = random_bytes(24 * MIB, seed=9)
    http_server.put(FILE, content)
    manifest = write_manifest(  # no size published: the server's answer tells it
        tmp_path / "manifest.yaml",
        [part_entry("labeled-images", FILE, [http_server.url(FILE)], content, pin_size=False)],
    )
    # 24 MiB at 1 MiB/s of fake time: lines in between, as the coordinator gets to look.
    args = ["--manifest", str(manifest), "-n", "4", "--limit-rate", "1M", "--json"]
    result = run_cli("download", "labeled-images", *args)
    assert result.exit_code == 0, result.stderr
    assert result.json()["parts"][0]["connections"] > 1
    lines = progress_lines(result.stderr)
    assert lines[0].endswith(f"{FILE}: started, 24.0 MiB in all")
    assert len(lines) >= 2 and all("% " in line for line in lines[1:])
    assert " 100.0% 24.0 MiB of 24.0 MiB" in lines[-1]
    assert sum("100.0%" in line for line in lines) == 1


class SlowLog:
    """A progress reporter whose first report takes so long (a slow terminal or log
    disk) that every connection has finished its bytes meanwhile."""

    def __init__(self, inner: ProgressReporter) -> None:
        self.inner = inner
        self.slowed = False

    def start(self, label: str, total: int | None, completed: int = 0) -> None:
        self.inner.start(label, total, completed)

    def extend(self, label: str, total: int | None, completed: int) -> None:
        self.inner.extend(label, total, completed)

    def advance(self, amount: int) -> None:
        self.inner.advance(amount)
        if not self.slowed:
            self.slowed = True
            for thread in threading.enumerate():
                if thread.name == "hyperkvasir-fetch":
                    thread.join(30)  # the connections finish their bytes meanwhile
                    assert not thread.is_alive(), "a connection did not finish"

    def finish(self) -> None:
        self.inner.finish()

    def note(self, message: str) -> None:
        self.inner.note(message)


@pytest.mark.parametrize("terminal", [False, True], ids=["log", "terminal"])
def test_a_finished_download_shows_every_byte_even_when_reporting_lags(
    tmp_path: Path,
    http_server: LocalServer,
    data_dir: Path,
    fake_clock: FakeClock,
    monkeypatch: pytest.MonkeyPatch,
    terminal: bool,
) -> None:
    content = random_bytes(20 * 1000 * 1000, seed=10)
    manifest = serve(tmp_path, http_server, content)
    made = Console.progress
    monkeypatch.setattr(Console, "progress", lambda self, *a: SlowLog(made(self, *a)))
    monkeypatch.setattr(Console, "stderr_is_tty", property(lambda self: terminal))
    result = run_cli("download", "labeled-images", "--manifest", str(manifest), "-n", "4")
    assert result.exit_code == 0, result.stderr
    assert_same_bytes(archive(data_dir, FILE), content)
    if terminal:  # the bar's last drawing: 19.1/19.1 MiB (20 MB), not 19.0/19.1
        assert re.search(r"19\.1/19\.1 MiB", result.stderr), result.stderr
        assert not re.search(r"1?\d\.\d/19\.1 MiB", result.stderr.replace("19.1/19.1", ""))
    else:
        lines = progress_lines(result.stderr)
        assert "100.0% 19.1 MiB of 19.1 MiB" in lines[-1]
        assert sum("100.0%" in line for line in lines) == 1


def test_plain_progress_ends_with_one_line_when_the_last_report_was_already_complete(
    capsys: pytest.CaptureFixture[str],
) -> None:
    clock = FakeClock()
    progress = Console(stderr_is_tty=False, clock=clock).progress()
    assert isinstance(progress, PlainProgress)
    progress.start(FILE, 1000)
    clock.elapsed += 5
    progress.advance(600)
    clock.elapsed += 5
    progress.advance(400)  # a line is due: 100%
    progress.finish()
    lines = capsys.readouterr().err.splitlines()
    assert [line.split(" ", 1)[1] for line in lines] == [
        f"{FILE}: started, 1000 B in all",
        f"{FILE}: 60.0% 600 B of 1000 B, 120 B/s, ETA 3s",
        f"{FILE}: 100.0% 1000 B of 1000 B, 100 B/s, ETA 0s",
    ]
