"""The Python API's members on demand: `ls(remote=True)`, `download(classes=...)`,
`stats(remote=True)`, silent, raising errors with exit codes."""

from __future__ import annotations

from pathlib import Path

import pytest

from hyperkvasir_cli import HyperKvasir, HyperkvasirError
from tests.http_server import LocalServer
from tests.remote_zips import serve_labeled

FILE = "hyper-kvasir-labeled-images.zip"


def test_ls_download_and_stats_from_the_server(
    tmp_path: Path, http_server: LocalServer, data_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    counts = {"polyps": 6, "cecum": 3, "pylorus": 3}
    built, manifest = serve_labeled(http_server, tmp_path, counts)
    assert len(built.data_files) == 12
    hk = HyperKvasir(data_dir, manifest=manifest)
    listing = hk.ls("labeled-images", remote=True, classes=["polyp"])
    assert len(listing.members) == 6 and not any(m.present for m in listing.members)
    polyps = hk.download("labeled-images", classes=["polyp"])
    assert polyps == data_dir / "labeled-images"
    assert len(list(polyps.rglob("*.jpg"))) == 6
    dry = hk.fetch_members("labeled-images", classes=["cecum"], dry_run=True)
    assert dry.to_fetch == 3 and dry.fetched == 0
    stats = hk.stats("labeled-images", remote=True)
    assert stats.as_json()["matches_published"] is True
    assert not (data_dir / "archives" / FILE).exists()
    assert capsys.readouterr() == ("", "")
    with pytest.raises(HyperkvasirError) as raised:
        hk.download("labeled-images", classes=["no-such-class"])
    assert raised.value.exit_code == 2
