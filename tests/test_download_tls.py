"""TLS: verification is always on; a CA bundle adds trust; a failure explains itself."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.cli import Result, run_cli
from tests.conftest import FakeClock
from tests.downloads import archive, part_entry, random_bytes, write_manifest
from tests.http_server import LocalServer
from tests.same import assert_same_bytes

FILE = "hyper-kvasir-segmented-images.zip"
CONTENT = random_bytes(200_000, seed=9)


@pytest.fixture
def manifest(tmp_path: Path, https_server: LocalServer) -> Path:
    https_server.put(FILE, CONTENT)
    return write_manifest(
        tmp_path / "m.yaml",
        [part_entry("segmented-images", FILE, [https_server.url(FILE)], CONTENT)],
    )


def assert_fetched_over_tls(result: Result, data_dir: Path, server: LocalServer) -> None:
    """The archive came from the HTTPS server, whole and verified against the manifest."""
    assert result.exit_code == 0, result.stderr
    assert_same_bytes(archive(data_dir, FILE), CONTENT)
    assert server.scheme == "https" and server.body_bytes(FILE) == len(CONTENT)
    (outcome,) = result.json()["parts"]
    assert (outcome["action"], outcome["sha256_source"]) == ("downloaded", "manifest")
    assert outcome["url"].startswith("https://")


def test_untrusted_certificate_fails_with_a_hint_and_no_insecure_fallback(
    manifest: Path, data_dir: Path, fake_clock: FakeClock
) -> None:
    result = run_cli("download", "segmented-images", "--manifest", str(manifest))
    assert result.exit_code == 4
    error, hint = result.stderr.splitlines()[-2:]
    assert "CERTIFICATE_VERIFY_FAILED" in error
    assert hint.startswith("hint: ") and "--ca-bundle" in hint and "incomplete chain" in hint
    assert not archive(data_dir, FILE).exists()


def test_ca_bundle_option_adds_trust(
    manifest: Path,
    data_dir: Path,
    certificate: tuple[str, str],
    https_server: LocalServer,
    fake_clock: FakeClock,
) -> None:
    args = ["--manifest", str(manifest), "--ca-bundle", certificate[0], "--json"]
    result = run_cli("download", "segmented-images", *args)
    assert_fetched_over_tls(result, data_dir, https_server)


def test_ssl_cert_file_adds_trust(
    manifest: Path,
    data_dir: Path,
    certificate: tuple[str, str],
    monkeypatch: pytest.MonkeyPatch,
    https_server: LocalServer,
    fake_clock: FakeClock,
) -> None:
    monkeypatch.setenv("SSL_CERT_FILE", certificate[0])
    result = run_cli("download", "segmented-images", "--manifest", str(manifest), "--json")
    assert_fetched_over_tls(result, data_dir, https_server)


def test_unreadable_ca_bundle_is_a_config_error(manifest: Path, tmp_path: Path) -> None:
    bogus = tmp_path / "bogus.pem"
    bogus.write_text("not a certificate")
    result = run_cli(
        "download", "segmented-images", "--manifest", str(manifest), "--ca-bundle", str(bogus)
    )
    assert result.exit_code == 3
    assert str(bogus) in result.stderr
