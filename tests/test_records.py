"""Records belong to the data folder they describe: two data folders sharing one config file
never see each other's records, and config files written before records moved into the
data folders stay readable."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from hyperkvasir_cli.core.records import records_path
from tests.cli import Result, run_cli
from tests.conftest import FakeClock
from tests.downloads import archive, part_entry, records_of, write_manifest
from tests.http_server import LocalServer
from tests.zips import build_segmented_images

SEGMENTED = "segmented-images"
SEGMENTED_ZIP = "hyper-kvasir-segmented-images.zip"
SPLITS = "official-splits"
SPLITS_FILE = "2_fold_split.csv"


@pytest.fixture
def two_folders(
    tmp_path: Path,
    http_server: LocalServer,
    fake_clock: FakeClock,
    monkeypatch: pytest.MonkeyPatch,
) -> tuple[Path, Path, Path]:
    """Folders A and B and one manifest; the config file is the shared default one."""
    built = build_segmented_images(tmp_path / "src" / SEGMENTED_ZIP, pairs=2)
    content = built.path.read_bytes()
    http_server.put(SEGMENTED_ZIP, content)
    splits = b"file-name;class-name;split-index\n"
    http_server.put(SPLITS_FILE, splits)
    manifest = write_manifest(
        tmp_path / "m.yaml",
        [
            part_entry(
                SEGMENTED,
                SEGMENTED_ZIP,
                [http_server.url(SEGMENTED_ZIP)],
                content,
                root=SEGMENTED,
            ),
            part_entry(SPLITS, SPLITS_FILE, [http_server.url(SPLITS_FILE)], splits, kind="csv"),
        ],
    )
    monkeypatch.setenv("HYPERKVASIR_MANIFEST", str(manifest))
    monkeypatch.delenv("HYPERKVASIR_DATA_DIR")
    return tmp_path / "a", tmp_path / "b", manifest


def in_folder(folder: Path, *args: str) -> Result:
    return run_cli(*args, "--data-dir", str(folder))


def states(folder: Path) -> dict[str, str]:
    parts = in_folder(folder, "parts", "--json").json()["parts"]
    return {p["name"]: p["state"] for p in parts}


def test_two_data_folders_sharing_one_config_see_only_their_own_records(
    two_folders: tuple[Path, Path, Path], http_server: LocalServer, config_path: Path
) -> None:
    a, b, _ = two_folders
    assert in_folder(a, "download", SEGMENTED, "--extract").exit_code == 0
    assert in_folder(b, "download", SPLITS).exit_code == 0
    assert states(a) == {SEGMENTED: "extracted", SPLITS: "absent"}
    assert states(b) == {SEGMENTED: "absent", SPLITS: "verified"}
    # stats in B does not read A's tree; sync in A does not fetch what only B recorded.
    stats = in_folder(b, "stats", SEGMENTED)
    assert stats.exit_code == 2 and str(a) not in stats.stdout + stats.stderr
    requests = len(http_server.log)
    synced = in_folder(a, "sync", "--json")
    assert synced.exit_code == 0, synced.stderr
    assert [step["part"] for step in synced.json()["parts"]] == [SEGMENTED]
    assert len(http_server.log) == requests  # nothing fetched for B's part
    assert set(records_of(a)) == {SEGMENTED} and set(records_of(b)) == {SPLITS}
    assert not config_path.exists()  # the shared config holds settings only


def test_an_old_config_with_every_folders_records_stays_readable(
    two_folders: tuple[Path, Path, Path], config_path: Path
) -> None:
    a, b, _ = two_folders
    assert in_folder(a, "download", SEGMENTED).exit_code == 0
    assert in_folder(b, "download", SPLITS).exit_code == 0
    # What an earlier version wrote: one `parts:` list in the config, for both folders.
    old = {**records_of(a), **records_of(b)}
    config_path.parent.mkdir(parents=True, exist_ok=True)
    config_path.write_text(
        yaml.safe_dump(
            {
                "connections": 2,
                "parts": {n: r.model_dump(mode="json", exclude_none=True) for n, r in old.items()},
            }
        )
    )
    for folder in (a, b):
        records_path(folder).unlink()
    assert states(a) == {SEGMENTED: "verified", SPLITS: "absent"}
    assert states(b) == {SEGMENTED: "absent", SPLITS: "verified"}
    # The first write moves A's records into A; the config file is left as it was.
    before = config_path.read_text()
    assert in_folder(a, "extract", SEGMENTED).exit_code == 0
    assert set(records_of(a)) == {SEGMENTED} and records_of(a)[SEGMENTED].verified_at
    assert config_path.read_text() == before
    assert states(a)[SEGMENTED] == "extracted" and states(b)[SPLITS] == "verified"


def test_a_broken_records_file_is_a_config_error_naming_it(
    two_folders: tuple[Path, Path, Path],
) -> None:
    a, _, _ = two_folders
    assert in_folder(a, "download", SPLITS).exit_code == 0
    records_path(a).write_text("parts:\n  official-splits: {size: lots}\n")
    result = in_folder(a, "parts")
    assert result.exit_code == 3
    assert f"records {records_path(a)}" in result.stderr and "size" in result.stderr
    assert archive(a, SPLITS_FILE).exists()


def test_extract_to_elsewhere_is_a_copy_beside_the_data_folders_tree(
    two_folders: tuple[Path, Path, Path], tmp_path: Path
) -> None:
    a, _, _ = two_folders
    elsewhere = tmp_path / "scratch"
    assert in_folder(a, "download", SEGMENTED, "--extract").exit_code == 0
    assert in_folder(a, "extract", SEGMENTED, "--to", str(elsewhere)).exit_code == 0
    (status,) = [
        p for p in in_folder(a, "parts", "--json").json()["parts"] if p["name"] == SEGMENTED
    ]
    assert status["extracted"] == str(a / SEGMENTED) and status["copies"] == [str(elsewhere)]
    # A file deleted from the data folder's tree is found: the copy does not stand in for it.
    image = next((a / SEGMENTED / "images").iterdir())
    image.unlink()
    checked = in_folder(a, "checksum", SEGMENTED, "--extracted")
    assert checked.exit_code == 5, checked.stdout + checked.stderr
    assert str(elsewhere) not in checked.stdout
    assert image.name in checked.stdout and "missing" in checked.stdout
    counted = in_folder(a, "stats", SEGMENTED, "--json").json()
    assert str(elsewhere) not in str(counted)
    # The copy itself is checked when named.
    assert in_folder(a, "checksum", SEGMENTED, "--extracted", "--to", str(elsewhere)).exit_code == 0
