"""An empty file or folder value (`--to "$SCRATCH"` with the variable unset) is a usage
error, never the current folder: the same mistake as an empty HYPERKVASIR_DATA_DIR, caught
the same way, on every option that names a path and in the Python API."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest

from hyperkvasir_cli import HyperKvasir, UsageError
from tests.cli import run_cli
from tests.downloads import LABELED, LABELED_ZIP, place_labeled_archive, use_labeled_manifest
from tests.zips import BuiltArchive, build_labeled_images


@pytest.fixture(scope="module")
def labeled_zip(tmp_path_factory: pytest.TempPathFactory) -> BuiltArchive:
    return build_labeled_images(tmp_path_factory.mktemp("zips") / LABELED_ZIP, per_class=1)


@pytest.fixture
def downloaded(
    labeled_zip: BuiltArchive, data_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Path:
    """The labeled archive in the data folder (not extracted), and an empty working folder."""
    content = labeled_zip.path.read_bytes()
    use_labeled_manifest(tmp_path, "http://127.0.0.1:9/x.zip", content, monkeypatch)
    place_labeled_archive(data_dir, labeled_zip.path)
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    return cwd


def test_extract_to_an_empty_value_writes_nothing_in_the_working_folder(
    downloaded: Path, data_dir: Path
) -> None:
    result = run_cli("extract", LABELED, "--to", "")
    assert result.exit_code == 2, result.stderr
    assert "--to" in result.stderr and "empty" in result.stderr
    assert "hint: see `hyperkvasir extract --help`" in result.stderr
    assert list(downloaded.iterdir()) == []
    assert not (data_dir / LABELED).exists()


def test_an_empty_data_folder_option_is_not_the_working_folder(downloaded: Path) -> None:
    for args in (("--data-dir", "", "config", "get", "data_dir"), ("parts", "-d", "")):
        result = run_cli(*args)
        assert result.exit_code == 2, (args, result.stdout)
        assert "--data-dir" in result.stderr and "empty" in result.stderr
        assert result.stdout == ""


@pytest.mark.parametrize(
    "args",
    [
        ("--config", "", "parts"),
        ("--manifest", "", "parts"),
        ("parts", "--manifest", " "),
        ("split", "--out", ""),
        ("checksum", "--check", ""),
        ("checksum", LABELED, "--extracted", "--to", ""),
        ("download", LABELED, "--ca-bundle", ""),
        ("stats", LABELED, "--plot", ""),
        ("export", LABELED, "--format", "webdataset", "--to", ""),
        ("export", LABELED, "--format", "webdataset", "--to", "out", "--split", ""),
    ],
)
def test_every_path_option_refuses_an_empty_value(downloaded: Path, args: tuple[str, ...]) -> None:
    result = run_cli(*args, "--json")
    assert result.exit_code == 2, result.stderr
    option = next(a for a, b in itertools.pairwise(args) if a.startswith("-") and not b.strip())
    (line,) = [x for x in result.stderr.splitlines() if x.startswith("error:")]
    assert option in line and "empty" in line
    assert result.json()["error"]["exit_code"] == 2
    assert list(downloaded.iterdir()) == []


@pytest.mark.parametrize("name", ["data_dir", "config", "manifest"])
def test_the_api_refuses_an_empty_path(name: str, tmp_path: Path) -> None:
    with pytest.raises(UsageError) as raised:
        HyperKvasir(**{name: ""})  # type: ignore[arg-type]
    assert raised.value.exit_code == 2
    assert f"{name}=" in raised.value.message and "empty" in raised.value.message


def test_the_api_refuses_an_empty_target(downloaded: Path, data_dir: Path) -> None:
    hk = HyperKvasir(data_dir)
    with pytest.raises(UsageError):
        hk.extract(LABELED, to="")
    with pytest.raises(UsageError):
        hk.split(out="")
    assert list(downloaded.iterdir()) == []
    assert not (data_dir / LABELED).exists()
