"""The small things users noticed: did-you-mean for names, each split format in its own
folder, what --plot expects, binary units everywhere, a progress total known from the
start, `config get`, dry runs of `sync` and `extract`, and `clean`."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from types import SimpleNamespace

import pytest

from hyperkvasir_cli.core.records import records_path
from tests.cli import Result, run_cli
from tests.downloads import LABELED, LABELED_ZIP, archive, leftovers
from tests.http_server import LocalServer
from tests.zips import BuiltArchive


def error_line(result: Result) -> str:
    return next(line for line in result.stderr.splitlines() if line.startswith("error:"))


# --- did you mean -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "guess"),
    [
        (("download", "labelled-images", "--dry-run"), "labeled-images"),
        (("stats", "segmented-image"), "segmented-images"),
        (("extract", "labeled-images", "--class", "polip", "--dry-run"), "polyps"),
        (("download", "labeled-images", "--class", "esophagitis"), "esophagitis-a"),
        (("config", "get", "conections"), "connections"),
    ],
)
def test_a_mistyped_name_gets_a_guess(args: tuple[str, ...], guess: str) -> None:
    result = run_cli(*args)
    assert result.exit_code == 2, result.stderr
    assert f"(did you mean {guess!r}?)" in error_line(result)


# --- split folders and --plot -------------------------------------------------------------


def test_an_imagefolder_split_after_a_csv_split_gets_its_own_default_folder(
    labeled_zip: BuiltArchive, labeled_served: LocalServer, data_dir: Path
) -> None:
    assert run_cli("download", LABELED, "--extract").exit_code == 0
    assert run_cli("split").exit_code == 0
    folders = run_cli("split", "--format", "imagefolder", "--json")
    assert folders.exit_code == 0, folders.stderr
    assert folders.json()["out"].endswith("splits/labeled-images-stratified-imagefolder")
    csv_folder = data_dir / "splits" / "labeled-images-stratified"
    assert sorted(p.name for p in csv_folder.iterdir()) == [
        "split.json",
        "test.csv",
        "train.csv",
        "val.csv",
    ]


@pytest.mark.parametrize("given", ["png", "svg"])
def test_plot_given_a_format_says_a_file_name_is_expected(given: str) -> None:
    result = run_cli("stats", "--plot", given)
    assert result.exit_code == 2
    error = error_line(result)
    assert "not a format" in error and f"classes.{given}" in error and "'none'" not in error


# --- units and progress ---------------------------------------------------------------------


def test_the_bar_shows_its_speed_in_binary_units() -> None:
    from hyperkvasir_cli.cli.console import _binary_speed_column

    column = _binary_speed_column()
    task = SimpleNamespace(finished_speed=None, speed=3 * 1024 * 1024)
    assert column.render(task).plain == "3.0 MiB/s"


def test_log_lines_say_sizes_in_binary_units_without_raw_byte_counts(
    labeled_served: LocalServer, data_dir: Path
) -> None:
    planned = run_cli("download", LABELED, "--dry-run")
    assert planned.exit_code == 0
    synced = run_cli("sync", LABELED)
    assert synced.exit_code == 0
    for line in (planned.stdout + synced.stderr).splitlines():
        # A number of bytes is only ever shown with a unit (B, KiB, MiB) and no raw count.
        assert " B)" not in line and not any(w.isdigit() and len(w) > 4 for w in line.split())


def test_a_check_of_several_phases_shows_its_whole_total_from_the_start(
    labeled_served: LocalServer, data_dir: Path
) -> None:
    assert run_cli("download", LABELED, "--extract").exit_code == 0
    result = run_cli("checksum", "--deep", "--extracted", "--jobs", "1")
    assert result.exit_code == 0, result.stderr
    lines = [line for line in result.stderr.splitlines() if "checking labeled-images" in line]
    started = lines[0].split("started, ")[1].removesuffix(" in all")
    assert lines[-1].endswith(f"of {started}, " + lines[-1].split(", ")[-2] + ", ETA 0s")
    assert all(f"of {started}" in line for line in lines[1:])


# --- config get ---------------------------------------------------------------------------


def test_config_get_prints_the_value_in_effect(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert (
        run_cli("config", "set", "mirrors", "https://a.example/,https://b.example/").exit_code == 0
    )
    mirrors = run_cli("config", "get", "mirrors")
    assert mirrors.stdout == "https://a.example/,https://b.example/\n"
    monkeypatch.setenv("HYPERKVASIR_CONNECTIONS", "6")
    document = run_cli("config", "get", "connections", "--json").json()
    assert document == {
        "key": "connections",
        "value": 6,
        "source": "environment HYPERKVASIR_CONNECTIONS",
    }
    assert run_cli("config", "get", "limit_rate").stdout == "\n"
    assert run_cli("config", "get", "data_dir").stdout == f"{tmp_path / 'data'}\n"


# --- dry runs -----------------------------------------------------------------------------


def test_sync_and_extract_dry_runs_say_what_would_happen_and_do_nothing(
    labeled_zip: BuiltArchive, labeled_served: LocalServer, data_dir: Path
) -> None:
    planned = run_cli("sync", LABELED, "--dry-run")
    assert planned.exit_code == 0, planned.stderr
    assert planned.stdout.splitlines() == [
        f"{LABELED}: fetch 35.3 KiB from {labeled_served.url(LABELED_ZIP)}",
        f"{LABELED}: then extract it into {data_dir}",
    ]
    extract = run_cli("extract", LABELED, "--dry-run", "--json").json()
    assert extract["dry_run"] is True and extract["parts"][0]["download_first"] is True
    assert labeled_served.log == [] and not data_dir.exists()  # no request, nothing written
    assert run_cli("download", LABELED).exit_code == 0
    files = len(labeled_zip.members)
    polyps = run_cli("extract", LABELED, "--class", "polyp", "--dry-run")
    assert polyps.stdout.startswith(f"{LABELED}: extract 2 members (")
    assert run_cli("extract", LABELED).exit_code == 0
    done = run_cli("sync", "--dry-run", "--json").json()["parts"][0]
    assert done["download"]["action"] == "nothing"
    assert (done["extract"]["members_to_extract"], done["extract"]["members_already_there"]) == (
        0,
        files,
    )
    blocked = run_cli("extract", LABELED, "--dry-run", "--to", str(archive(data_dir, LABELED_ZIP)))
    assert blocked.exit_code == 2 and "not a folder" in blocked.stderr


# --- clean --------------------------------------------------------------------------------


def test_clean_removes_what_runs_left_and_says_how_much_it_freed(
    labeled_zip: BuiltArchive, labeled_served: LocalServer, data_dir: Path
) -> None:
    assert run_cli("download", LABELED, "--extract").exit_code == 0
    archives = data_dir / "archives"
    bad = archives / f"{LABELED_ZIP}.bad-20260101T000000Z"
    bad.write_bytes(b"x" * 100_000)
    orphan = archives / "hyper-kvasir-segmented-images.zip.part.json"
    orphan.write_text("{}")
    stale = archives / "hyper-kvasir-videos.zip.part"  # no sidecar: cannot be continued
    stale.write_bytes(b"y" * 5000)
    killed = data_dir / LABELED / "lower-gi-tract" / ".x.jpg.abcdefgh.hkx-tmp"
    killed.write_bytes(b"z")
    rewrite = data_dir / ".hyperkvasir-records.yaml.k3j4h5g6.tmp"
    rewrite.write_text("half")
    resumable = archives / "hyper-kvasir-unlabeled-images.zip.part"
    shutil.copyfile(labeled_zip.path, resumable)
    (archives / "hyper-kvasir-unlabeled-images.zip.part.json").write_text(
        '{"url": "x", "size": 99999999, "segments": [{"start": 0}]}'
    )
    leftovers_made = {bad, orphan, stale, killed, rewrite}
    preview = run_cli("clean", "--dry-run", "--json").json()
    assert {Path(item["path"]) for item in preview["removed"]} == leftovers_made
    assert all(path.exists() for path in leftovers_made)
    result = run_cli("clean")
    assert result.exit_code == 0, result.stderr
    assert not any(path.exists() for path in leftovers_made)
    summary = result.stderr.strip().splitlines()[-1]
    assert "freed " in summary and "(5 files)" in summary and "resume" in summary
    assert resumable.exists() and archive(data_dir, LABELED_ZIP).exists()
    assert records_path(data_dir).exists() and (data_dir / LABELED).is_dir()
    assert sorted(leftovers(data_dir)) == sorted(
        [LABELED_ZIP, resumable.name, resumable.name + ".json"]
    )
    assert "freed 0 B (0 files)" in run_cli("clean").stderr
    assert os.path.exists(data_dir / ".hyperkvasir.lock")
