"""`push` and `--manifest s3://...` as a lab uses them, against moto's S3 server on
127.0.0.1: one machine pushes its verified archive, another syncs from the bucket."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.cli import run_cli
from tests.downloads import part_entry, write_manifest, zip_bytes
from tests.http_server import LocalServer
from tests.s3_server import Bucket, MotoServer
from tests.same import assert_same_bytes
from tests.socks_proxy import dead_port
from tests.zips import BuiltArchive, build_labeled_images

REPO = Path(__file__).resolve().parents[1]
LABELED_ZIP = "hyper-kvasir-labeled-images.zip"
MIB = 1024 * 1024


@pytest.fixture(scope="module")
def labeled_zip(tmp_path_factory: pytest.TempPathFactory) -> BuiltArchive:
    return build_labeled_images(tmp_path_factory.mktemp("zips") / LABELED_ZIP, 2)


def _serve(server: LocalServer, tmp_path: Path, content: bytes, **extra: object) -> Path:
    server.put(LABELED_ZIP, content)
    entry = part_entry("labeled-images", LABELED_ZIP, [server.url(LABELED_ZIP)], content, **extra)
    return write_manifest(tmp_path / "manifest.yaml", [entry])


def _verified_here(server: LocalServer, tmp_path: Path, content: bytes, **extra: object) -> Path:
    """The manifest of a part served by ``server``, its archive downloaded and verified in
    this machine's data folder (what `push` needs)."""
    manifest = _serve(server, tmp_path, content, **extra)
    downloaded = run_cli("--manifest", str(manifest), "download", "labeled-images")
    assert downloaded.exit_code == 0, downloaded.stderr
    return manifest


def _fresh_machine(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str) -> Path:
    """Another node: its own config and data folder."""
    monkeypatch.setenv("HYPERKVASIR_CONFIG", str(tmp_path / name / "config.yaml"))
    monkeypatch.setenv("HYPERKVASIR_DATA_DIR", str(tmp_path / name / "data"))
    return tmp_path / name / "data"


def test_push_then_any_node_syncs_from_the_buckets_manifest(
    labeled_zip: BuiltArchive,
    s3_bucket: Bucket,
    http_server: LocalServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    content = labeled_zip.path.read_bytes()
    manifest = _verified_here(http_server, tmp_path, content, root="labeled-images")
    pushed = run_cli(
        "--manifest", str(manifest), "push", "labeled-images", "--to", s3_bucket.url("hk/"),
        "--json",
    )  # fmt: skip
    assert pushed.exit_code == 0, pushed.stderr
    document = pushed.json()
    assert document["manifest"] == s3_bucket.url("hk/manifest.yaml")
    assert document["manifest_written"] is True
    (part,) = document["parts"]
    assert (part["part"], part["action"], part["bytes_sent"]) == (
        "labeled-images",
        "uploaded",
        len(content),
    )
    assert s3_bucket.keys("hk/") == ["hk/" + LABELED_ZIP, "hk/manifest.yaml"]
    written = yaml.safe_load(s3_bucket.get("hk/manifest.yaml"))
    assert written["parts"][0]["urls"] == [
        s3_bucket.url("hk/" + LABELED_ZIP),
        http_server.url(LABELED_ZIP),
    ]

    data = _fresh_machine(tmp_path, monkeypatch, "node")
    synced = run_cli(
        "--manifest", s3_bucket.url("hk/manifest.yaml"), "sync", "labeled-images", "--json"
    )
    assert synced.exit_code == 0, synced.stderr
    archive = data / "archives" / LABELED_ZIP
    assert hashlib.sha256(archive.read_bytes()).hexdigest() == hashlib.sha256(content).hexdigest()
    for member, data_bytes in labeled_zip.members.items():
        assert_same_bytes(data / member, data_bytes)
    assert not http_server.gets(LABELED_ZIP)[1:]  # the node fetched nothing from the origin


def test_a_second_push_sends_nothing(
    s3_bucket: Bucket, http_server: LocalServer, tmp_path: Path
) -> None:
    content = zip_bytes(300_000)
    manifest = _verified_here(http_server, tmp_path, content)
    to = s3_bucket.url("hk/")
    assert run_cli("--manifest", str(manifest), "push", "labeled-images", "--to", to).exit_code == 0
    again = run_cli("--manifest", str(manifest), "push", "labeled-images", "--to", to, "--json")
    assert again.exit_code == 0, again.stderr
    document = again.json()
    assert (document["bytes_sent"], document["manifest_written"]) == (0, False)
    assert document["parts"][0]["action"] == "unchanged"


def test_push_killed_with_sigkill_then_rerun_resends_few_bytes(
    moto_server: MotoServer,
    s3_bucket: Bucket,
    http_server: LocalServer,
    tmp_path: Path,
) -> None:
    size = 2 * 8 * MIB + 1000
    content = zip_bytes(size)
    manifest = _verified_here(http_server, tmp_path, content)
    argv = ["--manifest", str(manifest), "push", "labeled-images", "--to", s3_bucket.url("hk/")]
    moto_server.gate.hold_after(1)
    child = subprocess.Popen(
        [sys.executable, "-m", "hyperkvasir_cli", *argv, "--jobs", "2"],
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=dict(os.environ),
    )
    try:
        assert moto_server.gate.reached.wait(60), "the push stored no part"
        child.send_signal(signal.SIGKILL)
        assert child.wait(30) == -signal.SIGKILL
    finally:
        moto_server.gate.release()
    rerun = run_cli(*argv, "--json")
    assert rerun.exit_code == 0, rerun.stderr
    (part,) = rerun.json()["parts"]
    assert part["action"] == "resumed" and part["parts_kept"] >= 1
    assert part["bytes_sent"] <= size - 8 * MIB
    assert_same_bytes(s3_bucket.get("hk/" + LABELED_ZIP), content, "the uploaded object")
    assert s3_bucket.pending_uploads() == []


@pytest.mark.parametrize("other_size", [300_000, 120_000], ids=["same-size", "other-size"])
def test_an_object_overwritten_behind_the_tools_back_fails_a_fresh_download(
    fake_clock: object,
    s3_bucket: Bucket,
    http_server: LocalServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    other_size: int,
) -> None:
    """Other bytes are found by the sha256, or by the size before a byte is fetched:
    either way exit 5, the origin being out of reach or not."""
    content = zip_bytes(300_000)
    manifest = _verified_here(http_server, tmp_path, content)
    to = s3_bucket.url("hk/")
    assert run_cli("--manifest", str(manifest), "push", "labeled-images", "--to", to).exit_code == 0
    s3_bucket.put("hk/" + LABELED_ZIP, zip_bytes(other_size, seed=4))
    http_server.stop()  # the origin is out of reach, as the university server is from a node
    data = _fresh_machine(tmp_path, monkeypatch, "node")
    result = run_cli("--manifest", s3_bucket.url("hk/manifest.yaml"), "download", "labeled-images")
    assert result.exit_code == 5, result.stderr
    assert not (data / "archives" / LABELED_ZIP).exists()


def test_push_refuses_an_archive_that_is_not_verified_here(
    s3_bucket: Bucket, tmp_path: Path
) -> None:
    result = run_cli("push", "labeled-images", "--to", s3_bucket.url("hk/"))
    assert result.exit_code == 2
    assert "hint: run `hyperkvasir download labeled-images` first" in result.stderr
    bad = run_cli("push", "labeled-images", "--to", "/tmp/not-a-bucket")
    assert bad.exit_code == 2 and "s3://" in bad.stderr
    assert s3_bucket.keys() == []


def test_a_missing_manifest_in_the_bucket_is_a_clear_error(s3_bucket: Bucket) -> None:
    result = run_cli("--manifest", s3_bucket.url("nothing/manifest.yaml"), "parts")
    assert result.exit_code in (3, 4), result.stderr
    assert s3_bucket.url("nothing/manifest.yaml") in result.stderr
    assert "hint:" in result.stderr


def test_push_to_an_endpoint_that_does_not_answer_is_a_network_error(
    s3_bucket: Bucket, http_server: LocalServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    manifest = _verified_here(http_server, tmp_path, zip_bytes(100_000))
    holder, closed = dead_port()
    with holder:
        monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{closed}")
        monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")  # botocore's retries would back off
        push = ["push", "labeled-images", "--to", "s3://lab/hk/"]
        result = run_cli("--manifest", str(manifest), *push)
    assert result.exit_code == 4, result.stderr
    assert "object storage unreachable" in result.stderr and "AWS_ENDPOINT_URL" in result.stderr


def test_push_without_the_extra_names_the_install_command(
    s3_bucket: Bucket, http_server: LocalServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from hyperkvasir_cli.transfer import s3_client

    manifest = _verified_here(http_server, tmp_path, zip_bytes(100_000))
    monkeypatch.setitem(sys.modules, "s3fs", None)  # what an install without the extra has
    monkeypatch.setattr(s3_client, "_apis", {})
    result = run_cli("--manifest", str(manifest), "push", "labeled-images", "--to", "s3://lab/hk/")
    assert result.exit_code == 3, result.stderr
    assert "pip install 'hyperkvasir[s3]'" in result.stderr
    assert s3_bucket.keys() == []


def test_push_through_a_proxy_that_does_not_answer_names_the_proxy_and_no_proxy(
    s3_bucket: Bucket, http_server: LocalServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    manifest = _verified_here(http_server, tmp_path, zip_bytes(100_000))
    holder, closed = dead_port()
    with holder:
        for name in ("http_proxy", "HTTP_PROXY"):
            monkeypatch.setenv(name, f"http://127.0.0.1:{closed}")
        monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")  # botocore's retries would back off
        push = ["push", "labeled-images", "--to", s3_bucket.url("hk/")]
        through = run_cli("--manifest", str(manifest), *push)
        monkeypatch.setenv("NO_PROXY", "127.0.0.1")
        direct = run_cli("--manifest", str(manifest), *push)
    assert through.exit_code == 4, through.stderr
    assert f"127.0.0.1:{closed}" in through.stderr and "no_proxy" in through.stderr
    assert direct.exit_code == 0, direct.stderr
