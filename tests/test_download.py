"""Downloads against a real HTTP server on 127.0.0.1: resume, validators, mirrors, faults."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import pytest

from hyperkvasir_cli.core.lock import data_lock
from tests.cli import Result, run_cli
from tests.conftest import FakeClock
from tests.downloads import (
    archive,
    leftovers,
    part_entry,
    random_bytes,
    raw_records,
    write_manifest,
    zip_bytes,
)
from tests.http_server import Faults, LocalServer
from tests.same import assert_same_bytes

FILE = "hyper-kvasir-segmented-images.zip"
PART = "segmented-images"
SIZE = 3 * 1024 * 1024 + 123


@dataclass
class Scene:
    """One part served by the test server, a manifest describing it, and the data folder."""

    server: LocalServer
    content: bytes
    data_dir: Path
    tmp_path: Path
    clock: FakeClock
    monkeypatch: pytest.MonkeyPatch

    @property
    def manifest(self) -> Path:
        return self.tmp_path / "manifest.yaml"

    @property
    def faults(self) -> Faults:
        return self.server.fault(FILE)

    def describe(self, urls: list[str] | None = None, **pins: bool) -> None:
        """Rewrite the manifest: other URLs, or without the pinned size or sha256."""
        entry = part_entry(PART, FILE, urls or [self.server.url(FILE)], self.content, **pins)
        write_manifest(self.manifest, [entry])

    def download(self, *args: str) -> Result:
        return run_cli("download", PART, "--manifest", str(self.manifest), *args)

    def retries(self, count: int) -> None:
        self.monkeypatch.setenv("HYPERKVASIR_RETRIES", str(count))

    def html_mirror(self, folder: str) -> str:
        """A mirror base URL under ``folder/`` whose copy of the file is an HTML page."""
        self.server.put(folder + FILE, self.content)
        self.server.fault(folder + FILE).html_instead = True
        return self.server.url(folder)

    def drop_once_at(self, offset: int) -> None:
        self.faults.drop_after, self.faults.drops_left = offset, 1

    def state(self) -> str:
        parts = run_cli("parts", "--json", "--manifest", str(self.manifest)).json()["parts"]
        return str(parts[0]["state"])

    @property
    def archive(self) -> Path:
        return archive(self.data_dir, FILE)

    def has(self, content: bytes) -> bool:
        return self.archive.read_bytes() == content

    def kept_aside(self) -> bool:
        return any(name.startswith(f"{FILE}.bad-") for name in leftovers(self.data_dir))


@pytest.fixture
def scene(
    tmp_path: Path,
    http_server: LocalServer,
    data_dir: Path,
    fake_clock: FakeClock,
    monkeypatch: pytest.MonkeyPatch,
) -> Scene:
    # A readable zip: a part without a published sha256 is recorded only when it is one.
    content = zip_bytes(SIZE, seed=7)
    http_server.put(FILE, content)
    made = Scene(http_server, content, data_dir, tmp_path, fake_clock, monkeypatch)
    made.describe()
    return made


def test_clean_download_is_byte_identical_and_recorded(scene: Scene, data_dir: Path) -> None:
    result = scene.download("--json")
    assert result.exit_code == 0, result.stderr
    assert scene.has(scene.content)
    assert leftovers(scene.data_dir) == [FILE]  # no .part, no sidecar
    document = result.json()
    assert document["ok"] is True
    (outcome,) = document["parts"]
    assert outcome["sha256"] == hashlib.sha256(scene.content).hexdigest()
    assert (outcome["sha256_source"], outcome["size"]) == ("manifest", SIZE)
    record = raw_records(data_dir)[PART]
    assert record["size"] == SIZE and record["etag"] and record["verified_at"]
    assert scene.state() == "verified"


def test_second_download_sends_no_request_and_exits_0(scene: Scene) -> None:
    assert scene.download().exit_code == 0
    requests_before = len(scene.server.log)
    again = scene.download()
    assert again.exit_code == 0
    assert "nothing to do" in again.stderr
    assert len(scene.server.log) == requests_before


def test_dropped_connection_at_40_percent_resumes_without_refetching(scene: Scene) -> None:
    scene.drop_once_at(int(SIZE * 0.4))
    result = scene.download("-n", "1")
    assert result.exit_code == 0, result.stderr
    assert scene.has(scene.content)
    resumed = scene.server.gets(FILE)[-1]
    assert resumed.range is not None and resumed.if_range
    assert resumed.range.startswith(f"bytes={int(SIZE * 0.4)}-")
    assert scene.server.body_bytes(FILE) <= SIZE * 1.05


def test_retry_count_resets_while_bytes_flow(scene: Scene) -> None:
    scene.retries(1)
    scene.faults.drop_every, scene.faults.drops_left = SIZE // 8, 5  # five drops, one retry
    result = scene.download("-n", "1")
    assert result.exit_code == 0, result.stderr
    assert scene.has(scene.content)


def test_failure_after_retries_exits_4_and_keeps_partial_for_resume(scene: Scene) -> None:
    scene.retries(0)
    scene.drop_once_at(SIZE // 2)
    failed = scene.download("-n", "1")
    assert failed.exit_code == 4
    error, hint = failed.stderr.splitlines()[-2:]
    assert error.startswith("error: segmented-images: every URL failed")
    assert hint.startswith("hint: ") and ".part" in hint
    assert "Traceback" not in failed.stderr
    assert (scene.data_dir / "archives" / f"{FILE}.part").stat().st_size == SIZE // 2
    assert scene.state() == "partial"
    resumed = run_cli("resume", "--manifest", str(scene.manifest))
    assert resumed.exit_code == 0, resumed.stderr
    assert scene.has(scene.content)
    assert scene.server.body_bytes(FILE) == SIZE  # not one byte fetched twice


def test_file_replaced_between_runs_gives_the_new_file_never_a_splice(scene: Scene) -> None:
    scene.describe(pin_size=False, pin_sha=False)
    scene.retries(0)
    scene.drop_once_at(SIZE // 2)
    assert scene.download("-n", "1").exit_code == 4
    replacement = zip_bytes(SIZE + 10, seed=99)
    scene.server.put(FILE, replacement)
    result = scene.download("-n", "1")
    assert result.exit_code == 0, result.stderr
    assert scene.has(replacement)
    # If-Range did not match the new version: the server answered 200, not a 206 to splice.
    assert any(r.if_range and r.status == 200 for r in scene.server.gets(FILE))


def test_file_replaced_with_pinned_checksum_exits_5_and_keeps_nothing_final(
    scene: Scene,
) -> None:
    scene.server.put(FILE, random_bytes(SIZE, seed=3))  # same size, other bytes
    result = scene.download()
    assert result.exit_code == 5
    assert hashlib.sha256(scene.content).hexdigest() in result.stderr
    assert not scene.archive.exists()
    assert scene.kept_aside()


def test_file_replaced_during_download_restarts_cleanly(scene: Scene) -> None:
    scene.describe(pin_size=False, pin_sha=False)
    new = zip_bytes(SIZE, seed=42)
    scene.faults.replace_after_bytes = (SIZE // 3, new)
    scene.drop_once_at(SIZE // 3)
    result = scene.download("-n", "1")
    assert result.exit_code == 0, result.stderr
    assert scene.has(new)


def test_server_that_ignores_range_still_gives_the_right_file(scene: Scene) -> None:
    scene.faults.ignore_range = True
    scene.drop_once_at(SIZE // 2)
    result = scene.download()
    assert result.exit_code == 0, result.stderr
    assert scene.has(scene.content)


def test_503_with_retry_after_is_honoured(scene: Scene) -> None:
    scene.faults.statuses = [(503, {"Retry-After": "7"}), (503, {"Retry-After": "7"})]
    result = scene.download()
    assert result.exit_code == 0, result.stderr
    assert scene.has(scene.content)
    assert scene.clock.sleeps[:2] == [7.0, 7.0]


def test_dead_first_mirror_falls_back_to_the_second(scene: Scene) -> None:
    server = scene.server
    scene.describe(["http://127.0.0.1:9/" + FILE, server.url("old/" + FILE), server.url(FILE)])
    result = scene.download("--json")
    assert result.exit_code == 0, result.stderr
    assert result.json()["parts"][0]["url"] == server.url(FILE)
    assert scene.has(scene.content)


def test_extra_mirror_is_tried_first(scene: Scene) -> None:
    mirror = scene.tmp_path / "mirror"
    mirror.mkdir()
    (mirror / FILE).write_bytes(scene.content)
    result = scene.download("--mirror", mirror.as_uri(), "--json")
    assert result.exit_code == 0, result.stderr
    assert result.json()["parts"][0]["url"] == f"{mirror.as_uri()}/{FILE}"
    assert scene.has(scene.content)


def test_html_error_page_exits_4_naming_a_web_page(scene: Scene) -> None:
    # A maintenance or login page is the server's answer, not bad data: exit 4, not 5.
    scene.faults.html_instead = True
    result = scene.download()
    assert result.exit_code == 4, result.stderr
    error, hint = result.stderr.splitlines()[-2:]
    assert "web page" in error and "HTML" in error
    assert hint.startswith("hint: a web page (HTML) was served") and "changed" not in hint
    assert not scene.archive.exists()


def test_html_page_without_a_pinned_size_is_caught_by_the_checksum(scene: Scene) -> None:
    scene.describe(pin_size=False)
    scene.faults.html_instead = True
    result = scene.download()
    assert result.exit_code == 4, result.stderr
    assert "HTML page" in result.stderr and "hint: a web page (HTML)" in result.stderr
    assert not scene.archive.exists()
    assert scene.kept_aside()


def test_lying_content_length_still_completes(scene: Scene) -> None:
    scene.faults.lie_content_length = 1000
    scene.drop_once_at(SIZE // 3)
    result = scene.download()
    assert result.exit_code == 0, result.stderr
    assert scene.has(scene.content)


def test_unknown_part_exits_2_listing_valid_names() -> None:
    result = run_cli("download", "labelled-images")
    assert result.exit_code == 2
    assert "labeled-images" in result.stderr and "segmented-images" in result.stderr


def test_a_concurrent_run_exits_8(scene: Scene) -> None:
    with data_lock(scene.data_dir / ".hyperkvasir.lock"):
        result = scene.download()
    assert result.exit_code == 8
    assert "locked" in result.stderr and "--wait-lock" in result.stderr


def test_not_enough_disk_exits_7_and_writes_nothing(scene: Scene) -> None:
    urls = [scene.server.url(FILE)]
    write_manifest(scene.manifest, [{"name": PART, "file": FILE, "urls": urls, "size": 10**18}])
    result = scene.download()
    assert result.exit_code == 7
    assert "disk space" in result.stderr
    assert leftovers(scene.data_dir) == []
    assert scene.server.log == []


def test_dry_run_says_what_and_how_many_bytes(scene: Scene) -> None:
    result = scene.download("--dry-run", "--json")
    assert result.exit_code == 0
    assert result.json()["bytes_to_fetch"] == SIZE
    assert scene.server.log == []


def test_dry_run_says_when_a_size_is_not_published(scene: Scene) -> None:
    scene.describe(pin_size=False)
    result = scene.download("--dry-run")
    assert result.exit_code == 0
    assert "at least" in result.stdout and "sizes not published: segmented-images" in result.stdout


def test_resume_with_nothing_to_resume_is_success() -> None:
    result = run_cli("resume")
    assert result.exit_code == 0
    assert "nothing to resume" in result.stderr


def test_unpublished_checksum_is_recorded_and_said(scene: Scene, data_dir: Path) -> None:
    scene.describe(pin_sha=False)
    result = scene.download()
    assert result.exit_code == 0, result.stderr
    assert "no checksum" in result.stderr
    record = raw_records(data_dir)[PART]
    assert record["sha256"] == hashlib.sha256(scene.content).hexdigest()
    assert record["sha256_source"] == "recorded"


def test_stalled_server_is_detected_and_resumed(scene: Scene) -> None:
    scene.monkeypatch.setenv("HYPERKVASIR_STALL_TIMEOUT", "0.3")
    scene.faults.pause_after = SIZE // 2
    result = scene.download("-n", "1")
    assert result.exit_code == 0, result.stderr
    assert scene.has(scene.content)
    retry = scene.server.gets(FILE)[-1]  # after the stalled one, which still hangs
    assert retry.range is not None
    assert int(retry.range.removeprefix("bytes=").split("-")[0]) >= SIZE // 2


def test_download_with_extract_unpacks_and_records_the_tree(scene: Scene) -> None:
    from tests.zips import build_segmented_images

    built = build_segmented_images(scene.tmp_path / "src" / FILE, pairs=2)
    scene.content = built.path.read_bytes()
    scene.server.put(FILE, scene.content)
    entry = part_entry(PART, FILE, [scene.server.url(FILE)], scene.content, root=PART)
    write_manifest(scene.manifest, [entry])
    result = scene.download("--extract", "--json")
    assert result.exit_code == 0, result.stderr
    assert result.json()["parts"][0]["extract"]["extracted"] == len(built.members)
    for member, data in built.members.items():
        assert_same_bytes(scene.data_dir / member, data)
    parts = run_cli("parts", "--json", "--manifest", str(scene.manifest)).json()["parts"]
    assert parts[0]["state"] == "extracted"
    assert parts[0]["extracted"] == str(scene.data_dir / PART)


def test_a_partial_from_a_dead_mirror_continues_from_the_next_when_validators_agree(
    scene: Scene,
) -> None:
    second = LocalServer().start()
    try:
        second.put(FILE, scene.content)  # same bytes, same validators: a true mirror
        second.gone.add(FILE)  # down during the first run
        scene.describe([scene.server.url(FILE), second.url(FILE)])
        scene.retries(0)
        scene.drop_once_at(SIZE // 2)
        assert scene.download("-n", "1").exit_code == 4
        scene.server.gone.add(FILE)  # the first mirror dies; the second is back
        second.gone.discard(FILE)
        result = scene.download("-n", "1")
        assert result.exit_code == 0, result.stderr
        assert scene.has(scene.content)
        (continued,) = [r for r in second.gets(FILE) if r.status != 404]
        assert continued.status == 206 and continued.range is not None
        assert continued.range.startswith(f"bytes={SIZE // 2}-")
    finally:
        second.stop()


def test_a_complete_partial_left_by_a_killed_run_is_verified_without_fetching(
    scene: Scene,
) -> None:
    folder = scene.data_dir / "archives"
    folder.mkdir(parents=True)
    (folder / f"{FILE}.part").write_bytes(scene.content)
    sidecar = {
        "version": 1,
        "url": scene.server.url(FILE),
        "etag": scene.server.files[FILE].etag,
        "size": SIZE,
        "accepts_ranges": True,
        "segments": [{"start": 0, "end": SIZE, "done": SIZE}],
    }
    (folder / f"{FILE}.part.json").write_text(json.dumps(sidecar))
    result = scene.download()
    assert result.exit_code == 0, result.stderr
    assert scene.has(scene.content)
    assert scene.server.body_bytes(FILE) == 0


# A lab mirror with the wrong bytes, integrity failures, and what restarts are called -----


def bad_copies(scene: Scene) -> list[str]:
    return [name for name in leftovers(scene.data_dir) if name.startswith(f"{FILE}.bad-")]


@pytest.mark.parametrize("how", ["--mirror", "mirrors setting"])
def test_a_mirror_serving_other_bytes_is_set_aside_and_the_next_url_fetched_from_zero(
    scene: Scene, how: str
) -> None:
    lab = scene.server.url("lab/")
    scene.server.put("lab/" + FILE, random_bytes(SIZE, seed=5))  # same size, other bytes
    args = ["--json"]
    if how == "--mirror":
        args += ["--mirror", lab]
    else:
        scene.monkeypatch.setenv("HYPERKVASIR_MIRRORS", lab)
    result = scene.download(*args)
    assert result.exit_code == 0, result.stderr
    assert scene.has(scene.content)
    (outcome,) = result.json()["parts"]
    assert outcome["url"] == scene.server.url(FILE)
    assert (outcome["action"], outcome["resumed_from"]) == ("downloaded", 0)
    (kept,) = bad_copies(scene)
    # The log names the URL that served the bad bytes and where they were kept.
    (said,) = [line for line in result.stderr.splitlines() if lab + FILE in line]
    assert "does not match" in said and kept in said and "next URL" in said
    assert leftovers(scene.data_dir) == [FILE, kept]  # no .part, no sidecar
    first = scene.server.gets(FILE)[0]
    assert first.range is not None and first.range.startswith("bytes=0-")
    assert not first.if_range  # fresh, not a resume of the lab mirror's bytes
    # A rerun neither goes back to the lab mirror nor makes another bad copy.
    requests = len(scene.server.log)
    again = scene.download(*args)
    assert again.exit_code == 0 and "nothing to do" in again.stderr
    assert len(scene.server.log) == requests and len(bad_copies(scene)) == 1


def test_every_url_serving_bad_bytes_exits_5_naming_each_and_leaves_no_sidecar(
    scene: Scene,
) -> None:
    lab = scene.server.url("lab/")
    scene.server.put("lab/" + FILE, random_bytes(SIZE, seed=5))
    scene.server.put(FILE, random_bytes(SIZE, seed=6))  # replaced upstream too
    result = scene.download("--mirror", lab, "--json")
    assert result.exit_code == 5
    error = result.json()["error"]
    assert error["exit_code"] == 5
    assert lab + FILE in error["message"] and scene.server.url(FILE) in error["message"]
    assert hashlib.sha256(scene.content).hexdigest() in error["message"]
    kept = bad_copies(scene)
    assert len(kept) == 1 and kept[0] in error["message"]  # the newest bad copy, only
    assert sorted(leftovers(scene.data_dir)) == sorted(kept)  # no .part, no .part.json
    assert not scene.archive.exists()


def test_an_integrity_failure_removes_the_sidecar(scene: Scene) -> None:
    scene.server.put(FILE, random_bytes(SIZE, seed=3))  # same size, other bytes
    result = scene.download()
    assert result.exit_code == 5
    assert scene.server.url(FILE) in result.stderr
    assert leftovers(scene.data_dir) == bad_copies(scene) != []
    assert scene.state() == "absent"


def test_a_mirror_of_the_wrong_size_is_passed_over_without_a_restart_message(
    scene: Scene,
) -> None:
    # An unreachable first mirror leaves an empty partial; the HTML page of the second is
    # not "a changed file to start over from", just a URL that does not have the file.
    page = scene.html_mirror("moved/")
    result = scene.download("--mirror", "http://127.0.0.1:9/", "--mirror", page, "--json")
    assert result.exit_code == 0, result.stderr
    assert scene.has(scene.content)
    assert "starting over" not in result.stderr and ", was " not in result.stderr
    (said,) = [line for line in result.stderr.splitlines() if page + FILE in line]
    assert "web page" in said and "HTML" in said
    assert result.json()["parts"][0]["restarts"] == 0


def test_a_mirror_of_the_wrong_size_does_not_cost_the_partial(scene: Scene) -> None:
    scene.retries(0)
    scene.drop_once_at(SIZE // 2)
    assert scene.download("-n", "1").exit_code == 4
    page = scene.html_mirror("moved/")
    result = scene.download("-n", "1", "--mirror", page, "--json")
    assert result.exit_code == 0, result.stderr
    assert scene.has(scene.content)
    assert scene.server.body_bytes(FILE) == SIZE  # the half on disk was kept
    (outcome,) = result.json()["parts"]
    assert (outcome["action"], outcome["resumed_from"]) == ("resumed", SIZE // 2)
    assert "web page" in result.stderr and "starting over" not in result.stderr


def test_a_file_changed_on_the_server_since_the_partial_is_reported_as_a_restart(
    scene: Scene,
) -> None:
    scene.describe(pin_size=False, pin_sha=False)
    scene.retries(0)
    scene.drop_once_at(SIZE // 2)
    assert scene.download("-n", "1").exit_code == 4
    scene.server.put(FILE, scene.content)  # `touch` on the server: new validators
    result = scene.download("-n", "1", "--json")
    assert result.exit_code == 0, result.stderr
    assert scene.has(scene.content)
    assert "ignored the range" not in result.stderr
    (said,) = [line for line in result.stderr.splitlines() if "starting over" in line]
    assert "changed on the server" in said and "ETag" in said
    (outcome,) = result.json()["parts"]
    assert outcome["action"] == "restarted"
    assert (outcome["resumed_from"], outcome["restarts"]) == (0, 1)
    assert outcome["bytes_fetched"] == SIZE


def test_a_resume_reports_the_bytes_it_kept(scene: Scene) -> None:
    scene.retries(0)
    scene.drop_once_at(SIZE // 2)
    assert scene.download("-n", "1").exit_code == 4
    result = scene.download("-n", "1", "--json")
    assert result.exit_code == 0, result.stderr
    (outcome,) = result.json()["parts"]
    assert (outcome["action"], outcome["resumed_from"], outcome["restarts"]) == (
        "resumed",
        SIZE // 2,
        0,
    )
    assert outcome["bytes_fetched"] == SIZE - SIZE // 2


def test_without_a_published_checksum_the_first_mirror_that_serves_a_file_is_taken(
    scene: Scene,
) -> None:
    """Nothing to compare against: the first download is what gets recorded (and said)."""
    scene.describe(pin_sha=False)
    lab = scene.server.url("lab/")
    other = zip_bytes(SIZE, seed=5)
    scene.server.put("lab/" + FILE, other)
    result = scene.download("--mirror", lab, "--json")
    assert result.exit_code == 0, result.stderr
    assert result.json()["parts"][0]["url"] == lab + FILE
    assert scene.has(other) and bad_copies(scene) == []
    assert "no checksum" in result.stderr


# A part without a published sha256: only a readable zip is recorded as first seen --------


def record_of(data_dir: Path) -> dict[str, object] | None:
    return raw_records(data_dir).get(PART)


def nothing_verified(data_dir: Path) -> bool:
    """No size, sha256 or verification recorded: at most what the run was asked to do."""
    return set(record_of(data_dir) or {}) <= {"requested"}


def test_an_html_page_for_a_part_without_published_values_is_never_recorded(scene: Scene) -> None:
    scene.describe(pin_size=False, pin_sha=False)
    scene.faults.html_instead = True  # 200, text/html, 66 bytes
    result = scene.download("--json")
    assert result.exit_code == 4, result.stderr
    error = result.json()["error"]
    assert "web page" in error["message"] and "HTML" in error["message"]
    assert scene.server.url(FILE) in error["message"]
    (kept,) = bad_copies(scene)
    assert kept in error["message"]
    assert leftovers(scene.data_dir) == [kept]  # nothing at the final name, no .part
    assert nothing_verified(scene.data_dir)
    assert scene.state() == "absent"
    # sync says the same (not exit 6 on every later run), and records nothing either.
    synced = run_cli("sync", PART, "--manifest", str(scene.manifest))
    assert synced.exit_code == 4, synced.stderr
    assert nothing_verified(scene.data_dir)
    # Once the server serves the file, a plain download fetches it: nothing was recorded.
    scene.faults.html_instead = False
    again = scene.download("--json")
    assert again.exit_code == 0, again.stderr
    (outcome,) = again.json()["parts"]
    assert (outcome["action"], outcome["sha256_source"]) == ("downloaded", "recorded")
    assert scene.has(scene.content)


def test_without_published_values_an_html_mirror_is_passed_over_for_the_zip(scene: Scene) -> None:
    scene.describe(pin_size=False, pin_sha=False)
    lab = scene.html_mirror("lab/")
    result = scene.download("--mirror", lab, "--json")
    assert result.exit_code == 0, result.stderr
    (outcome,) = result.json()["parts"]
    assert (outcome["url"], outcome["restarts"]) == (scene.server.url(FILE), 1)
    assert scene.has(scene.content)
    (kept,) = bad_copies(scene)
    (said,) = [line for line in result.stderr.splitlines() if lab + FILE in line]
    assert "not a zip" in said and "HTML" in said and kept in said and "next URL" in said
    record = record_of(scene.data_dir)
    assert record is not None and record["sha256"] == hashlib.sha256(scene.content).hexdigest()


def test_a_body_labelled_text_html_is_not_taken_for_the_zip(scene: Scene) -> None:
    scene.describe(pin_size=False, pin_sha=False)
    scene.faults.statuses = [(200, {"Content-Type": "text/html; charset=utf-8"})]
    result = scene.download()
    assert result.exit_code == 4, result.stderr
    assert "web page" in result.stderr and "text/html" in result.stderr
    assert not scene.archive.exists() and len(bad_copies(scene)) == 1


def test_a_readable_zip_labelled_text_html_is_still_suspect(tmp_path: Path) -> None:
    from hyperkvasir_cli.check.verify import zip_problem

    path = tmp_path / FILE
    path.write_bytes(zip_bytes(4096))
    assert zip_problem(path) is None
    assert zip_problem(path, "application/zip") is None
    labelled = zip_problem(path, "text/html; charset=utf-8")
    assert labelled is not None and "text/html" in labelled
    path.write_bytes(zip_bytes(4096)[:2048])
    truncated = zip_problem(path)
    assert truncated is not None and "not a readable zip" in truncated


def test_a_truncated_zip_copied_in_by_hand_is_set_aside_and_fetched(scene: Scene) -> None:
    scene.describe(pin_size=False, pin_sha=False)
    scene.archive.parent.mkdir(parents=True)
    scene.archive.write_bytes(scene.content[: SIZE // 2])
    result = scene.download("--json")
    assert result.exit_code == 0, result.stderr
    assert result.json()["parts"][0]["action"] == "downloaded"
    assert scene.has(scene.content)
    (kept,) = bad_copies(scene)
    assert (scene.data_dir / "archives" / kept).stat().st_size == SIZE // 2
    assert "not a zip" in result.stderr
    record = record_of(scene.data_dir)
    assert record is not None and record["size"] == SIZE


# An archive found damaged by `checksum` is fetched again by a plain download or sync ----


@pytest.mark.parametrize("command", ["download", "sync"])
@pytest.mark.parametrize("pinned", [True, False], ids=["manifest-sha256", "recorded-sha256"])
def test_an_archive_that_fails_checksum_is_fetched_again_without_force(
    scene: Scene, command: str, pinned: bool
) -> None:
    from tests.checksum_homes import flip_byte

    if not pinned:
        scene.describe(pin_size=False, pin_sha=False)
    assert scene.download().exit_code == 0
    flip_byte(scene.archive, SIZE // 2)
    checked = run_cli("checksum", PART, "--manifest", str(scene.manifest))
    assert checked.exit_code == 5, checked.stderr
    assert f"`hyperkvasir download {PART} --force`" in checked.stderr
    record = record_of(scene.data_dir)
    assert record is not None and "verified_at" not in record and record["sha256"]
    assert scene.state() == "downloaded"
    extra = ["--no-extract"] if command == "sync" else []
    fixed = run_cli(command, PART, "--manifest", str(scene.manifest), *extra)
    assert fixed.exit_code == 0, fixed.stderr
    assert "nothing to do" not in fixed.stderr
    assert scene.has(scene.content)
    assert len(bad_copies(scene)) == 1  # the damaged copy, kept aside
    assert run_cli("checksum", PART, "--manifest", str(scene.manifest)).exit_code == 0
    assert scene.state() == "verified"


# Exit 7 and bytes_fetched ------------------------------------------------------------------


def test_not_enough_disk_for_a_size_learned_from_the_server_leaves_nothing(
    scene: Scene, monkeypatch: pytest.MonkeyPatch
) -> None:
    from hyperkvasir_cli.core import diskspace

    scene.describe(pin_size=False, pin_sha=False)
    monkeypatch.setattr(diskspace, "free_bytes", lambda directory: SIZE)  # < SIZE + margin
    result = scene.download()
    assert result.exit_code == 7, result.stderr
    assert "disk space" in result.stderr
    assert leftovers(scene.data_dir) == []  # no empty .part, no .part.json


def test_not_enough_disk_keeps_a_partial_that_holds_bytes(
    scene: Scene, monkeypatch: pytest.MonkeyPatch
) -> None:
    from hyperkvasir_cli.core import diskspace

    scene.describe(pin_size=False, pin_sha=False)
    scene.retries(0)
    scene.drop_once_at(SIZE // 2)
    assert scene.download("-n", "1").exit_code == 4
    monkeypatch.setattr(diskspace, "free_bytes", lambda directory: SIZE // 4)
    result = scene.download("-n", "1")
    assert result.exit_code == 7, result.stderr
    assert leftovers(scene.data_dir) == [f"{FILE}.part", f"{FILE}.part.json"]
    assert (scene.data_dir / "archives" / f"{FILE}.part").stat().st_size == SIZE // 2


def test_bytes_fetched_counts_a_bad_copy_set_aside_on_the_way(scene: Scene) -> None:
    lab = scene.server.url("lab/")
    scene.server.put("lab/" + FILE, random_bytes(SIZE, seed=5))  # same size, other bytes
    result = scene.download("--mirror", lab, "--json")
    assert result.exit_code == 0, result.stderr
    (outcome,) = result.json()["parts"]
    assert outcome["url"] == scene.server.url(FILE)
    assert (outcome["bytes_fetched"], outcome["restarts"]) == (2 * SIZE, 1)
    assert outcome["bytes_fetched"] == sum(r.body_bytes for r in scene.server.log)


@pytest.mark.parametrize("where", ["itself", "ftp"])
def test_a_url_that_redirects_nowhere_usable_is_passed_over(scene: Scene, where: str) -> None:
    """A login page's redirect loop or a redirect to ftp:// is that URL failing, not a bug."""
    server = scene.server
    looping = server.url("loop/" + FILE)
    target = looping if where == "itself" else "ftp://127.0.0.1/" + FILE
    server.fault("loop/" + FILE).statuses = [(302, {"Location": target})] * 40
    scene.describe([looping, server.url(FILE)])
    result = scene.download("--json")
    assert result.exit_code == 0, result.stderr
    assert result.json()["parts"][0]["url"] == server.url(FILE)
    assert "redirected nowhere usable" in result.stderr and "bug" not in result.stderr
    assert scene.has(scene.content)
