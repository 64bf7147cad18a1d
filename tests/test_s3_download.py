"""Downloads from object storage keep every guarantee of HTTP: ranges and several
connections, resume from the same version only (the ETag pins it), verification by size
and sha256. Against moto's real S3 server on 127.0.0.1; nothing is mocked."""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

import httpx
import pytest

from hyperkvasir_cli.transfer.http_client import build_client
from tests.cli import run_cli
from tests.downloads import part_entry, random_bytes, write_manifest, zip_bytes
from tests.s3_server import Bucket
from tests.same import assert_same_bytes

FILE = "hyper-kvasir-labeled-images.zip"
SIZE = 9 * 1024 * 1024 + 12345


def _client() -> httpx.Client:
    return build_client(connect_timeout=5, stall_timeout=30)


def _manifest(tmp_path: Path, urls: list[str], content: bytes) -> Path:
    return write_manifest(
        tmp_path / "manifest.yaml", [part_entry("labeled-images", FILE, urls, content)]
    )


def _archive(data_dir: Path) -> Path:
    return data_dir / "archives" / FILE


def test_ranged_get_answers_206_with_the_objects_etag(s3_bucket: Bucket) -> None:
    content = random_bytes(5000)
    etag = s3_bucket.put("a/x.bin", content)
    with _client() as client:
        whole = client.get(s3_bucket.url("a/x.bin"))
        ranged = client.get(s3_bucket.url("a/x.bin"), headers={"Range": "bytes=100-199"})
        head = client.head(s3_bucket.url("a/x.bin"))
    assert (whole.status_code, ranged.status_code) == (200, 206)
    assert_same_bytes(whole.content, content)
    assert_same_bytes(ranged.content, content[100:200])
    assert ranged.headers["content-range"] == "bytes 100-199/5000"
    assert ranged.headers["etag"] == etag == head.headers["etag"]
    assert head.headers["content-length"] == "5000"


def test_if_range_on_a_changed_object_answers_200_with_the_new_version(
    s3_bucket: Bucket,
) -> None:
    """As an HTTP server does: the resume rules then start over instead of splicing."""
    old = s3_bucket.put("a/x.bin", random_bytes(4000, seed=1))
    new = s3_bucket.put("a/x.bin", random_bytes(3000, seed=2))
    with _client() as client:
        same = client.get(s3_bucket.url("a/x.bin"), headers={"Range": "bytes=10-", "If-Range": new})
        changed = client.get(
            s3_bucket.url("a/x.bin"), headers={"Range": "bytes=10-", "If-Range": old}
        )
    assert same.status_code == 206
    assert_same_bytes(same.content, random_bytes(3000, seed=2)[10:])
    assert (changed.status_code, changed.headers["etag"]) == (200, new)
    assert_same_bytes(changed.content, random_bytes(3000, seed=2))


def test_missing_object_and_range_past_the_end(s3_bucket: Bucket) -> None:
    s3_bucket.put("a/x.bin", b"0123456789")
    with _client() as client:
        missing = client.get(s3_bucket.url("a/nothing.bin"))
        past = client.get(s3_bucket.url("a/x.bin"), headers={"Range": "bytes=10-"})
    assert missing.status_code == 404
    assert (past.status_code, past.headers["content-range"]) == (416, "bytes */10")


def test_download_from_s3_uses_several_connections_and_verifies(
    s3_bucket: Bucket, tmp_path: Path, data_dir: Path
) -> None:
    content = zip_bytes(SIZE)
    s3_bucket.put("mirror/" + FILE, content)
    manifest = _manifest(tmp_path, [s3_bucket.url("mirror/" + FILE)], content)
    # Asked for: left to its default, the count adapts (one on a link one fills).
    result = run_cli(
        "--manifest", str(manifest), "download", "labeled-images", "-n", "4", "--json"
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    (outcome,) = result.json()["parts"]
    assert outcome["url"] == s3_bucket.url("mirror/" + FILE)
    assert outcome["connections"] > 1
    assert outcome["sha256"] == hashlib.sha256(content).hexdigest()
    assert_same_bytes(_archive(data_dir), content)


def test_an_s3_mirror_is_tried_first_with_the_file_name_appended(
    s3_bucket: Bucket, tmp_path: Path, data_dir: Path, http_server: object
) -> None:
    content = zip_bytes(200_000)
    s3_bucket.put("lab/" + FILE, content)
    manifest = _manifest(tmp_path, ["http://127.0.0.1:9/nowhere.zip"], content)
    result = run_cli(
        "--manifest", str(manifest), "download", "labeled-images",
        "--mirror", s3_bucket.url("lab/"), "--json",
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    assert result.json()["parts"][0]["url"] == s3_bucket.url("lab/" + FILE)
    assert_same_bytes(_archive(data_dir), content)


def _leave_partial(data_dir: Path, url: str, content: bytes, etag: str, done: int) -> None:
    archives = data_dir / "archives"
    archives.mkdir(parents=True, exist_ok=True)
    (archives / (FILE + ".part")).write_bytes(content[:done])
    sidecar = {
        "version": 1,
        "url": url,
        "etag": etag,
        "size": len(content),
        "accepts_ranges": True,
        "segments": [{"start": 0, "end": len(content), "done": done}],
    }
    (archives / (FILE + ".part.json")).write_text(json.dumps(sidecar))


def test_a_partial_of_the_same_object_is_resumed(
    s3_bucket: Bucket, tmp_path: Path, data_dir: Path
) -> None:
    content = zip_bytes(SIZE)
    url = s3_bucket.url("mirror/" + FILE)
    etag = s3_bucket.put("mirror/" + FILE, content)
    _leave_partial(data_dir, url, content, etag, SIZE // 2)
    manifest = _manifest(tmp_path, [url], content)
    result = run_cli("--manifest", str(manifest), "download", "labeled-images", "--json")
    assert result.exit_code == 0, result.stderr
    (outcome,) = result.json()["parts"]
    assert (outcome["action"], outcome["resumed_from"], outcome["restarts"]) == (
        "resumed",
        SIZE // 2,
        0,
    )
    assert outcome["bytes_fetched"] == SIZE - SIZE // 2
    assert_same_bytes(_archive(data_dir), content)


def test_a_partial_of_an_object_since_replaced_starts_over(
    s3_bucket: Bucket, tmp_path: Path, data_dir: Path
) -> None:
    """The ETag is the validator: bytes of the old object are never spliced to the new."""
    old, new = zip_bytes(SIZE, seed=1), zip_bytes(SIZE, seed=2)
    url = s3_bucket.url("mirror/" + FILE)
    old_etag = s3_bucket.put("mirror/" + FILE, old)
    s3_bucket.put("mirror/" + FILE, new)
    _leave_partial(data_dir, url, old, old_etag, SIZE // 2)
    manifest = _manifest(tmp_path, [url], new)
    result = run_cli("--manifest", str(manifest), "download", "labeled-images", "--json")
    assert result.exit_code == 0, result.stderr
    (outcome,) = result.json()["parts"]
    assert (outcome["action"], outcome["restarts"], outcome["bytes_fetched"]) == (
        "restarted",
        1,
        SIZE,
    )
    assert "changed on the server" in result.stderr
    assert_same_bytes(_archive(data_dir), new)


def test_an_object_overwritten_behind_the_tools_back_exits_5_and_keeps_nothing(
    s3_bucket: Bucket, tmp_path: Path, data_dir: Path
) -> None:
    good, other = zip_bytes(SIZE, seed=1), zip_bytes(SIZE, seed=3)
    url = s3_bucket.url("mirror/" + FILE)
    s3_bucket.put("mirror/" + FILE, other)
    manifest = _manifest(tmp_path, [url], good)
    result = run_cli("--manifest", str(manifest), "download", "labeled-images")
    assert result.exit_code == 5, result.stderr
    assert "sha256" in result.stderr
    assert not _archive(data_dir).exists()


def test_a_missing_object_falls_through_to_the_next_url(
    s3_bucket: Bucket, tmp_path: Path, data_dir: Path, http_server: object
) -> None:
    from tests.http_server import LocalServer

    assert isinstance(http_server, LocalServer)
    content = zip_bytes(100_000)
    http_server.put(FILE, content)
    manifest = _manifest(tmp_path, [s3_bucket.url("gone/" + FILE), http_server.url(FILE)], content)
    result = run_cli("--manifest", str(manifest), "download", "labeled-images", "--json")
    assert result.exit_code == 0, result.stderr
    assert result.json()["parts"][0]["url"] == http_server.url(FILE)


def test_without_the_extra_an_s3_url_names_the_install_command(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from hyperkvasir_cli.transfer import s3_client

    monkeypatch.setitem(sys.modules, "s3fs", None)  # what an install without the extra has
    monkeypatch.setattr(s3_client, "_filesystems", {})
    content = zip_bytes(1000)
    manifest = _manifest(tmp_path, ["s3://lab/mirror/" + FILE], content)
    result = run_cli("--manifest", str(manifest), "download", "labeled-images")
    assert result.exit_code == 3, result.stderr
    assert "pip install 'hyperkvasir[s3]'" in result.stderr
