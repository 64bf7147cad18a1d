"""A first download that never finished is visible: what the run was asked to do is
recorded when it starts, so `sync` finishes it and `resume` extracts when `--extract` was
asked (a killed run and a run stopped by the network leave the same records)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.cli import run_cli
from tests.conftest import FakeClock
from tests.downloads import archive, part_entry, records_of, write_manifest
from tests.http_server import LocalServer
from tests.same import assert_same_bytes
from tests.zips import build_segmented_images

PART = "segmented-images"
FILE = "hyper-kvasir-segmented-images.zip"
SPLITS = "official-splits"
SPLITS_FILE = "2_fold_split.csv"
SPLITS_CONTENT = b"file-name;class-name;split-index\n" * 100


@pytest.fixture
def stopped_half_way(
    tmp_path: Path,
    http_server: LocalServer,
    fake_clock: FakeClock,
    data_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> LocalServer:
    """`download segmented-images official-splits --extract` stopped half way through the
    first part (the connection drops and no retry is allowed): the second never began."""
    content = build_segmented_images(tmp_path / "src" / FILE, pairs=40).path.read_bytes()
    http_server.put(FILE, content)
    http_server.put(SPLITS_FILE, SPLITS_CONTENT)
    manifest = write_manifest(
        tmp_path / "m.yaml",
        [
            part_entry(PART, FILE, [http_server.url(FILE)], content, root=PART),
            part_entry(SPLITS, SPLITS_FILE, [http_server.url(SPLITS_FILE)], SPLITS_CONTENT),
        ],
    )
    monkeypatch.setenv("HYPERKVASIR_MANIFEST", str(manifest))
    faults = http_server.fault(FILE)
    faults.drop_after, faults.drops_left = len(content) // 2, 1
    monkeypatch.setenv("HYPERKVASIR_RETRIES", "0")
    stopped = run_cli("download", PART, SPLITS, "--extract", "-n", "1")
    assert stopped.exit_code == 4, stopped.stderr
    assert archive(data_dir, FILE).with_name(FILE + ".part").exists()
    monkeypatch.delenv("HYPERKVASIR_RETRIES")
    return http_server


def test_the_request_is_recorded_before_any_byte(
    stopped_half_way: LocalServer, data_dir: Path
) -> None:
    records = records_of(data_dir)
    for name in (PART, SPLITS):
        requested = records[name].requested
        assert requested is not None and requested.command == "download"
    assert records[PART].requested.extract is True  # type: ignore[union-attr]
    parts = run_cli("parts", "--json").json()["parts"]
    assert {p["name"]: p["state"] for p in parts}[PART] == "partial"


def test_sync_finishes_an_interrupted_first_download(
    stopped_half_way: LocalServer, data_dir: Path
) -> None:
    result = run_cli("sync", "--json")
    assert result.exit_code == 0, result.stderr
    assert "nothing to sync" not in result.stderr
    steps = {step["part"]: step for step in result.json()["parts"]}
    assert steps[PART]["download"] == "resumed" and steps[PART]["extract"] is not None
    assert steps[SPLITS]["download"] == "downloaded"
    assert (data_dir / PART / "images").is_dir()
    assert all(r.requested is None for r in records_of(data_dir).values())


def test_resume_extracts_when_the_interrupted_run_was_asked_to(
    stopped_half_way: LocalServer, data_dir: Path
) -> None:
    result = run_cli("resume", "--json")
    assert result.exit_code == 0, result.stderr
    done = {p["part"]: p for p in result.json()["parts"]}
    assert set(done) == {PART, SPLITS}  # the part that never began is resumed too
    assert done[PART]["action"] == "resumed" and done[PART]["extract"] is not None
    assert (data_dir / PART / "images").is_dir()
    assert_same_bytes(archive(data_dir, SPLITS_FILE), SPLITS_CONTENT)
    assert all(r.requested is None for r in records_of(data_dir).values())
    assert "nothing to resume" in run_cli("resume").stderr
