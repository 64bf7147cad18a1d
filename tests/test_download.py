"""Downloads against a real HTTP server on 127.0.0.1: resume, validators, mirrors, faults."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
import yaml

from hyperkvasir_cli.lock import data_lock
from tests.cli import run_cli
from tests.conftest import FakeClock
from tests.downloads import archive, leftovers, part_entry, random_bytes, write_manifest
from tests.http_server import LocalServer

FILE = "hyper-kvasir-segmented-images.zip"
SIZE = 3 * 1024 * 1024 + 123


@pytest.fixture
def content() -> bytes:
    return random_bytes(SIZE, seed=7)


@pytest.fixture
def manifest(tmp_path: Path, http_server: LocalServer, content: bytes) -> Path:
    http_server.put(FILE, content)
    return write_manifest(
        tmp_path / "manifest.yaml",
        [part_entry("segmented-images", FILE, [http_server.url(FILE)], content)],
    )


def download(manifest: Path, *args: str) -> object:
    return run_cli("download", "segmented-images", "--manifest", str(manifest), *args)


def test_clean_download_is_byte_identical_and_recorded(
    manifest: Path, content: bytes, data_dir: Path, config_path: Path, fake_clock: FakeClock
) -> None:
    result = run_cli("download", "segmented-images", "--manifest", str(manifest), "--json")
    assert result.exit_code == 0, result.stderr
    assert archive(data_dir, FILE).read_bytes() == content
    assert leftovers(data_dir) == [FILE]  # no .part, no sidecar
    document = result.json()
    assert document["ok"] is True
    (outcome,) = document["parts"]
    assert outcome["sha256"] == hashlib.sha256(content).hexdigest()
    assert outcome["sha256_source"] == "manifest"
    assert outcome["size"] == SIZE
    record = yaml.safe_load(config_path.read_text())["parts"]["segmented-images"]
    assert record["size"] == SIZE and record["etag"] and record["verified_at"]
    states = run_cli("parts", "--json", "--manifest", str(manifest)).json()["parts"]
    assert states[0]["state"] == "verified"


def test_second_download_sends_no_request_and_exits_0(
    manifest: Path, http_server: LocalServer, fake_clock: FakeClock
) -> None:
    assert run_cli("download", "segmented-images", "--manifest", str(manifest)).exit_code == 0
    requests_before = len(http_server.log)
    again = run_cli("download", "segmented-images", "--manifest", str(manifest))
    assert again.exit_code == 0
    assert "nothing to do" in again.stderr
    assert len(http_server.log) == requests_before


def test_dropped_connection_at_40_percent_resumes_without_refetching(
    manifest: Path, http_server: LocalServer, content: bytes, data_dir: Path, fake_clock: FakeClock
) -> None:
    faults = http_server.fault(FILE)
    faults.drop_after, faults.drops_left = int(SIZE * 0.4), 1
    result = run_cli("download", "segmented-images", "--manifest", str(manifest), "-n", "1")
    assert result.exit_code == 0, result.stderr
    assert archive(data_dir, FILE).read_bytes() == content
    resumed = http_server.gets(FILE)[-1]
    assert resumed.range is not None and resumed.if_range
    assert resumed.range.startswith(f"bytes={int(SIZE * 0.4)}-")
    assert http_server.body_bytes(FILE) <= SIZE * 1.05


def test_retry_count_resets_while_bytes_flow(
    manifest: Path,
    http_server: LocalServer,
    content: bytes,
    data_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
    fake_clock: FakeClock,
) -> None:
    monkeypatch.setenv("HYPERKVASIR_RETRIES", "1")
    faults = http_server.fault(FILE)
    faults.drop_every, faults.drops_left = SIZE // 8, 5  # five drops, one retry allowed
    result = run_cli("download", "segmented-images", "--manifest", str(manifest), "-n", "1")
    assert result.exit_code == 0, result.stderr
    assert archive(data_dir, FILE).read_bytes() == content


def test_failure_after_retries_exits_4_and_keeps_partial_for_resume(
    manifest: Path,
    http_server: LocalServer,
    content: bytes,
    data_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
    fake_clock: FakeClock,
) -> None:
    monkeypatch.setenv("HYPERKVASIR_RETRIES", "0")
    faults = http_server.fault(FILE)
    faults.drop_after, faults.drops_left = SIZE // 2, 1
    failed = run_cli("download", "segmented-images", "--manifest", str(manifest), "-n", "1")
    assert failed.exit_code == 4
    error, hint = failed.stderr.splitlines()[-2:]
    assert error.startswith("error: segmented-images: every URL failed")
    assert hint.startswith("hint: ") and ".part" in hint
    assert "Traceback" not in failed.stderr
    partial = data_dir / "archives" / f"{FILE}.part"
    assert partial.stat().st_size == SIZE // 2
    assert (
        run_cli("parts", "--json", "--manifest", str(manifest)).json()["parts"][0]["state"]
        == "partial"
    )
    resumed = run_cli("resume", "--manifest", str(manifest))
    assert resumed.exit_code == 0, resumed.stderr
    assert archive(data_dir, FILE).read_bytes() == content
    assert http_server.body_bytes(FILE) == SIZE  # not one byte fetched twice


def test_file_replaced_between_runs_gives_the_new_file_never_a_splice(
    tmp_path: Path,
    http_server: LocalServer,
    content: bytes,
    data_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
    fake_clock: FakeClock,
) -> None:
    http_server.put(FILE, content)
    manifest = write_manifest(
        tmp_path / "m.yaml", [part_entry("segmented-images", FILE, [http_server.url(FILE)])]
    )
    monkeypatch.setenv("HYPERKVASIR_RETRIES", "0")
    http_server.fault(FILE).drop_after, http_server.fault(FILE).drops_left = SIZE // 2, 1
    assert download(manifest, "-n", "1").exit_code == 4
    replacement = random_bytes(SIZE + 10, seed=99)
    http_server.put(FILE, replacement)
    result = download(manifest, "-n", "1")
    assert result.exit_code == 0, result.stderr
    assert archive(data_dir, FILE).read_bytes() == replacement
    # If-Range did not match the new version: the server answered 200, not a 206 to splice.
    assert any(r.if_range and r.status == 200 for r in http_server.gets(FILE))


def test_file_replaced_with_pinned_checksum_exits_5_and_keeps_nothing_final(
    manifest: Path,
    http_server: LocalServer,
    content: bytes,
    data_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
    fake_clock: FakeClock,
) -> None:
    http_server.put(FILE, random_bytes(SIZE, seed=3))  # same size, other bytes
    result = download(manifest)
    assert result.exit_code == 5
    assert "sha256" in result.stderr and hashlib.sha256(content).hexdigest() in result.stderr
    assert not archive(data_dir, FILE).exists()
    assert any(name.startswith(f"{FILE}.bad-") for name in leftovers(data_dir))


def test_file_replaced_during_download_restarts_cleanly(
    tmp_path: Path, http_server: LocalServer, content: bytes, data_dir: Path, fake_clock: FakeClock
) -> None:
    http_server.put(FILE, content)
    manifest = write_manifest(
        tmp_path / "m.yaml", [part_entry("segmented-images", FILE, [http_server.url(FILE)])]
    )
    new = random_bytes(SIZE, seed=42)
    faults = http_server.fault(FILE)
    faults.replace_after_bytes = (SIZE // 3, new)
    faults.drop_after, faults.drops_left = SIZE // 3, 1
    result = download(manifest, "-n", "1")
    assert result.exit_code == 0, result.stderr
    assert archive(data_dir, FILE).read_bytes() == new


def test_server_that_ignores_range_still_gives_the_right_file(
    manifest: Path, http_server: LocalServer, content: bytes, data_dir: Path, fake_clock: FakeClock
) -> None:
    faults = http_server.fault(FILE)
    faults.ignore_range = True
    faults.drop_after, faults.drops_left = SIZE // 2, 1
    result = download(manifest)
    assert result.exit_code == 0, result.stderr
    assert archive(data_dir, FILE).read_bytes() == content


def test_503_with_retry_after_is_honoured(
    manifest: Path, http_server: LocalServer, content: bytes, data_dir: Path, fake_clock: FakeClock
) -> None:
    http_server.fault(FILE).statuses = [(503, {"Retry-After": "7"}), (503, {"Retry-After": "7"})]
    result = download(manifest)
    assert result.exit_code == 0, result.stderr
    assert archive(data_dir, FILE).read_bytes() == content
    assert fake_clock.sleeps[:2] == [7.0, 7.0]


def test_dead_first_mirror_falls_back_to_the_second(
    tmp_path: Path, http_server: LocalServer, content: bytes, data_dir: Path, fake_clock: FakeClock
) -> None:
    http_server.put(FILE, content)
    urls = ["http://127.0.0.1:9/" + FILE, http_server.url("old/" + FILE), http_server.url(FILE)]
    manifest = write_manifest(
        tmp_path / "m.yaml", [part_entry("segmented-images", FILE, urls, content)]
    )
    result = download(manifest, "--json")
    assert result.exit_code == 0, result.stderr
    assert result.json()["parts"][0]["url"] == http_server.url(FILE)
    assert archive(data_dir, FILE).read_bytes() == content


def test_extra_mirror_is_tried_first(
    manifest: Path, tmp_path: Path, content: bytes, data_dir: Path, fake_clock: FakeClock
) -> None:
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    (mirror / FILE).write_bytes(content)
    result = download(manifest, "--mirror", mirror.as_uri(), "--json")
    assert result.exit_code == 0, result.stderr
    assert result.json()["parts"][0]["url"] == f"{mirror.as_uri()}/{FILE}"
    assert archive(data_dir, FILE).read_bytes() == content


def test_html_error_page_exits_5_with_nothing_at_the_final_path(
    manifest: Path, http_server: LocalServer, data_dir: Path, fake_clock: FakeClock
) -> None:
    http_server.fault(FILE).html_instead = True
    result = download(manifest)
    assert result.exit_code == 5
    assert "HTML" in result.stderr
    assert not archive(data_dir, FILE).exists()


def test_html_page_without_a_pinned_size_is_caught_by_the_checksum(
    tmp_path: Path, http_server: LocalServer, content: bytes, data_dir: Path, fake_clock: FakeClock
) -> None:
    http_server.put(FILE, content)
    http_server.fault(FILE).html_instead = True
    manifest = write_manifest(
        tmp_path / "m.yaml",
        [part_entry("segmented-images", FILE, [http_server.url(FILE)], content, pin_size=False)],
    )
    result = download(manifest)
    assert result.exit_code == 5
    assert "HTML page" in result.stderr
    assert not archive(data_dir, FILE).exists()
    assert any(n.startswith(f"{FILE}.bad-") for n in leftovers(data_dir))


def test_lying_content_length_still_completes(
    manifest: Path, http_server: LocalServer, content: bytes, data_dir: Path, fake_clock: FakeClock
) -> None:
    faults = http_server.fault(FILE)
    faults.lie_content_length = 1000
    faults.drop_after, faults.drops_left = SIZE // 3, 1
    result = download(manifest)
    assert result.exit_code == 0, result.stderr
    assert archive(data_dir, FILE).read_bytes() == content


def test_unknown_part_exits_2_listing_valid_names() -> None:
    result = run_cli("download", "labelled-images")
    assert result.exit_code == 2
    assert "labeled-images" in result.stderr and "segmented-images" in result.stderr


def test_a_concurrent_run_exits_8(manifest: Path, data_dir: Path) -> None:
    with data_lock(data_dir / ".hyperkvasir.lock"):
        result = download(manifest)
    assert result.exit_code == 8
    assert "locked" in result.stderr and "--wait-lock" in result.stderr


def test_not_enough_disk_exits_7_and_writes_nothing(
    tmp_path: Path, http_server: LocalServer, data_dir: Path
) -> None:
    manifest = write_manifest(
        tmp_path / "m.yaml",
        [
            {
                "name": "segmented-images",
                "file": FILE,
                "urls": [http_server.url(FILE)],
                "size": 10**18,
            }
        ],
    )
    result = download(manifest)
    assert result.exit_code == 7
    assert "disk space" in result.stderr
    assert leftovers(data_dir) == []
    assert http_server.log == []


def test_dry_run_says_what_and_how_many_bytes(manifest: Path, http_server: LocalServer) -> None:
    result = download(manifest, "--dry-run", "--json")
    assert result.exit_code == 0
    assert result.json()["bytes_to_fetch"] == SIZE
    assert http_server.log == []


def test_resume_with_nothing_to_resume_is_success() -> None:
    result = run_cli("resume")
    assert result.exit_code == 0
    assert "nothing to resume" in result.stderr


def test_unpublished_checksum_is_recorded_and_said(
    tmp_path: Path,
    http_server: LocalServer,
    content: bytes,
    config_path: Path,
    fake_clock: FakeClock,
) -> None:
    http_server.put(FILE, content)
    manifest = write_manifest(
        tmp_path / "m.yaml",
        [part_entry("segmented-images", FILE, [http_server.url(FILE)], content, pin_sha=False)],
    )
    result = download(manifest)
    assert result.exit_code == 0, result.stderr
    assert "no checksum" in result.stderr
    record = yaml.safe_load(config_path.read_text())["parts"]["segmented-images"]
    assert record["sha256"] == hashlib.sha256(content).hexdigest()
    assert record["sha256_source"] == "recorded"


def test_stalled_server_is_detected_and_resumed(
    manifest: Path,
    http_server: LocalServer,
    content: bytes,
    data_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
    fake_clock: FakeClock,
) -> None:
    monkeypatch.setenv("HYPERKVASIR_STALL_TIMEOUT", "0.3")
    http_server.fault(FILE).pause_after = SIZE // 2
    result = download(manifest, "-n", "1")
    assert result.exit_code == 0, result.stderr
    assert archive(data_dir, FILE).read_bytes() == content
    retry = http_server.gets(FILE)[-1]  # the stalled request is still hanging, unlogged
    assert retry.range is not None
    assert int(retry.range.removeprefix("bytes=").split("-")[0]) >= SIZE // 2


def test_download_with_extract_unpacks_and_records_the_tree(
    tmp_path: Path, http_server: LocalServer, data_dir: Path, fake_clock: FakeClock
) -> None:
    from tests.zips import build_segmented_images

    built = build_segmented_images(tmp_path / "src" / FILE, pairs=2)
    content = built.path.read_bytes()
    http_server.put(FILE, content)
    manifest = write_manifest(
        tmp_path / "m.yaml",
        [
            part_entry(
                "segmented-images", FILE, [http_server.url(FILE)], content, root="segmented-images"
            )
        ],
    )
    result = download(manifest, "--extract", "--json")
    assert result.exit_code == 0, result.stderr
    for member, data in built.members.items():
        assert (data_dir / member).read_bytes() == data
    states = run_cli("parts", "--json", "--manifest", str(manifest)).json()["parts"]
    assert states[0]["state"] == "extracted"
    assert states[0]["extracted"] == str(data_dir / "segmented-images")


def test_a_partial_from_a_dead_mirror_continues_from_the_next_when_validators_agree(
    tmp_path: Path,
    http_server: LocalServer,
    content: bytes,
    data_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
    fake_clock: FakeClock,
) -> None:
    second = LocalServer().start()
    try:
        http_server.put(FILE, content)
        second.put(FILE, content)  # same bytes, same validators: a true mirror
        second.gone.add(FILE)  # down during the first run
        manifest = write_manifest(
            tmp_path / "m.yaml",
            [
                part_entry(
                    "segmented-images", FILE, [http_server.url(FILE), second.url(FILE)], content
                )
            ],
        )
        monkeypatch.setenv("HYPERKVASIR_RETRIES", "0")
        http_server.fault(FILE).drop_after, http_server.fault(FILE).drops_left = SIZE // 2, 1
        assert download(manifest, "-n", "1").exit_code == 4
        http_server.gone.add(FILE)  # the first mirror dies; the second is back
        second.gone.discard(FILE)
        result = download(manifest, "-n", "1")
        assert result.exit_code == 0, result.stderr
        assert archive(data_dir, FILE).read_bytes() == content
        (continued,) = [r for r in second.gets(FILE) if r.status != 404]
        assert continued.status == 206 and continued.range is not None
        assert continued.range.startswith(f"bytes={SIZE // 2}-")
    finally:
        second.stop()


def test_a_complete_partial_left_by_a_killed_run_is_verified_without_fetching(
    manifest: Path,
    http_server: LocalServer,
    content: bytes,
    data_dir: Path,
    fake_clock: FakeClock,
) -> None:
    partial = data_dir / "archives" / f"{FILE}.part"
    partial.parent.mkdir(parents=True)
    partial.write_bytes(content)
    served = http_server.files[FILE]
    sidecar = {
        "version": 1,
        "url": http_server.url(FILE),
        "etag": served.etag,
        "size": SIZE,
        "accepts_ranges": True,
        "segments": [{"start": 0, "end": SIZE, "done": SIZE}],
    }
    (data_dir / "archives" / f"{FILE}.part.json").write_text(json.dumps(sidecar))
    result = download(manifest)
    assert result.exit_code == 0, result.stderr
    assert archive(data_dir, FILE).read_bytes() == content
    assert http_server.body_bytes(FILE) == 0
