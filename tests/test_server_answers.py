"""What a server's refusals and web pages mean for a download, against the real local server:
401/403/404/410 are final for a URL (the next one is tried at once, no backoff), and a web
page where the file should be is a server answer (exit 4), not bad data (exit 5)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.cli import Result, run_cli
from tests.conftest import FakeClock
from tests.downloads import archive, leftovers, part_entry, write_manifest, zip_bytes
from tests.http_server import LocalServer
from tests.same import assert_same_bytes

FILE = "hyper-kvasir-segmented-images.zip"
PART = "segmented-images"
CONTENT = zip_bytes(512 * 1024 + 7, seed=11)


def download(manifest: Path, *args: str) -> Result:
    return run_cli("download", PART, "--manifest", str(manifest), *args)


def describe(tmp_path: Path, urls: list[str], **pins: bool) -> Path:
    return write_manifest(
        tmp_path / "manifest.yaml", [part_entry(PART, FILE, urls, CONTENT, **pins)]
    )


@pytest.mark.parametrize("status", [401, 403, 404, 410])
def test_a_final_refusal_moves_on_to_the_next_url_at_once(
    status: int,
    tmp_path: Path,
    http_server: LocalServer,
    fake_clock: FakeClock,
    data_dir: Path,
) -> None:
    http_server.put(FILE, CONTENT)
    refusing = "portal/" + FILE
    http_server.put(refusing, CONTENT)
    http_server.fault(refusing).statuses = [(status, {})] * 20
    manifest = describe(tmp_path, [http_server.url(refusing), http_server.url(FILE)])
    result = download(manifest, "--json")
    assert result.exit_code == 0, result.stderr
    assert result.json()["parts"][0]["url"] == http_server.url(FILE)
    assert len(http_server.gets(refusing)) == 1  # asked once, never again
    assert fake_clock.sleeps == []  # no backoff before the next URL
    assert_same_bytes(archive(data_dir, FILE), CONTENT)


def test_403_on_every_url_fails_at_once_with_exit_4(
    tmp_path: Path, http_server: LocalServer, fake_clock: FakeClock
) -> None:
    http_server.put(FILE, CONTENT)
    http_server.fault(FILE).statuses = [(403, {})] * 20
    result = download(describe(tmp_path, [http_server.url(FILE)]))
    assert result.exit_code == 4, result.stderr
    assert len(http_server.gets(FILE)) == 1 and fake_clock.sleeps == []
    error, hint = result.stderr.splitlines()[-2:]
    assert "HTTP 403" in error
    assert "refused access" in hint and "not retried" in hint


def test_503_is_still_retried_on_the_same_url(
    tmp_path: Path, http_server: LocalServer, fake_clock: FakeClock, data_dir: Path
) -> None:
    http_server.put(FILE, CONTENT)
    http_server.fault(FILE).statuses = [(503, {})] * 2
    result = download(describe(tmp_path, [http_server.url(FILE)]))
    assert result.exit_code == 0, result.stderr
    assert len(fake_clock.sleeps) == 2
    assert_same_bytes(archive(data_dir, FILE), CONTENT)


@pytest.mark.parametrize("pins", [{}, {"pin_size": False}, {"pin_size": False, "pin_sha": False}])
def test_an_html_page_instead_of_the_file_is_exit_4_naming_a_web_page(
    pins: dict[str, bool],
    tmp_path: Path,
    http_server: LocalServer,
    fake_clock: FakeClock,
    data_dir: Path,
) -> None:
    http_server.put(FILE, CONTENT)
    http_server.fault(FILE).html_instead = True  # a maintenance page, 200 text/html
    result = download(describe(tmp_path, [http_server.url(FILE)], **pins), "--json")
    assert result.exit_code == 4, result.stderr
    error = result.json()["error"]
    assert error["exit_code"] == 4 and "web page" in error["message"]
    assert "web page (HTML) was served" in error["hint"]
    assert "upstream" not in error["hint"] and "replaced" not in error["hint"]
    assert not archive(data_dir, FILE).exists()
    # At most the page itself is kept aside for a look; nothing is recorded.
    assert [n for n in leftovers(data_dir) if not n.startswith(FILE + ".bad-")] == []


def test_a_real_checksum_mismatch_stays_exit_5(
    tmp_path: Path, http_server: LocalServer, fake_clock: FakeClock
) -> None:
    http_server.put(FILE, zip_bytes(len(CONTENT), seed=12))  # same size, other content
    result = download(describe(tmp_path, [http_server.url(FILE)]))
    assert result.exit_code == 5, result.stderr
    assert "replaced upstream" in result.stderr.splitlines()[-1]


def test_a_web_page_on_one_mirror_and_a_bad_file_on_the_other_is_exit_5(
    tmp_path: Path, http_server: LocalServer, fake_clock: FakeClock, data_dir: Path
) -> None:
    page, bad = "portal/" + FILE, "old/" + FILE
    http_server.put(page, CONTENT)
    http_server.fault(page).html_instead = True
    http_server.put(bad, zip_bytes(len(CONTENT), seed=13))
    manifest = describe(tmp_path, [http_server.url(page), http_server.url(bad)])
    result = download(manifest)
    assert result.exit_code == 5, result.stderr  # a real mismatch outranks the page
    error = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert (
        len(error) == 1 and http_server.url(page) in error[0] and http_server.url(bad) in error[0]
    )
    assert not archive(data_dir, FILE).exists()
