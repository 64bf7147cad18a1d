"""`hyperkvasir split`: reproducible files, the official folds under canonical names,
ImageFolder trees, segmented pairs kept together, and output never overwritten unasked."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import shutil
import zipfile
from collections import Counter
from fractions import Fraction
from pathlib import Path

import pytest
import yaml

import hyperkvasir_cli
from hyperkvasir_cli import __version__
from hyperkvasir_cli.core.classes import CLASS_ALIASES, CLASS_BY_NAME, LABELED_CLASSES
from hyperkvasir_cli.core.progress import SilentProgress
from tests.cli import Result, run_cli
from tests.same import assert_same_bytes
from tests.zips import BuiltArchive, build_labeled_images, build_segmented_images

# Uneven like the real data; every class has at least 4 images, so with 0.7/0.15/0.15
# every class can reach every split within one image of its ideal share.
PER_CLASS = {c.name: 4 + (i * 5) % 9 for i, c in enumerate(LABELED_CLASSES)}
HEADER = b"path,class,organ,category,split\n"
LABELED_ZIP = "hyper-kvasir-labeled-images.zip"
OFFICIAL_SPELLING = {canonical: alias for alias, canonical in CLASS_ALIASES.items()}


@pytest.fixture(scope="module")
def labeled_zip(tmp_path_factory: pytest.TempPathFactory) -> BuiltArchive:
    """Built once: making the JPEGs is the slow part of every test here."""
    return build_labeled_images(tmp_path_factory.mktemp("zips") / LABELED_ZIP, PER_CLASS)


@pytest.fixture
def labeled(labeled_zip: BuiltArchive, data_dir: Path) -> BuiltArchive:
    """The labeled zip in this test's archives folder, extracted into its data folder."""
    archive = data_dir / "archives" / LABELED_ZIP
    archive.parent.mkdir(parents=True)
    shutil.copyfile(labeled_zip.path, archive)
    with zipfile.ZipFile(archive) as zipped:
        zipped.extractall(data_dir)
    return BuiltArchive(archive, labeled_zip.members, labeled_zip.classes)


def image_paths(built: BuiltArchive) -> set[str]:
    return {m for m in built.members if m.endswith(".jpg")}


def split(*args: str) -> Result:
    result = run_cli("split", *args)
    assert "Traceback" not in result.stderr, result.stderr
    return result


def read_rows(path: Path) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(path.read_text("utf-8"))))


def folder_bytes(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file()}


def test_stratified_ratios_write_one_reproducible_csv_per_split(
    labeled: BuiltArchive, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    result = split("--ratios", "0.7,0.15,0.15", "--seed", "1", "--out", str(out))
    assert result.exit_code == 0, result.stderr
    assert sorted(p.name for p in out.iterdir()) == [
        "split.json",
        "test.csv",
        "train.csv",
        "val.csv",
    ]
    rows: dict[str, list[dict[str, str]]] = {}
    for name in ("train", "val", "test"):
        data = (out / f"{name}.csv").read_bytes()
        assert data.startswith(HEADER) and b"\r" not in data
        rows[name] = read_rows(out / f"{name}.csv")
        paths = [r["path"] for r in rows[name]]
        assert paths == sorted(paths)
        assert {r["split"] for r in rows[name]} == {name}
    every = [r["path"] for split_rows in rows.values() for r in split_rows]
    assert len(every) == len(set(every))  # no image in two splits
    assert set(every) == image_paths(labeled)  # none missing
    for row in rows["val"]:
        label = CLASS_BY_NAME[row["class"]]
        assert row["path"].startswith(f"labeled-images/{label.organ}/{label.category}/")
        assert (row["organ"], row["category"]) == (label.organ, label.category)
    for label, total in PER_CLASS.items():
        for name, ratio in (("train", 0.7), ("val", 0.15), ("test", 0.15)):
            count = sum(1 for r in rows[name] if r["class"] == label)
            assert abs(count - total * ratio) < 1, (label, name, count)
            assert count >= 1
    assert "total" in result.stdout and "train" in result.stdout.splitlines()[0]


def test_split_json_records_how_to_reproduce_and_nothing_machine_specific(
    labeled: BuiltArchive, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    assert split("--ratios", "0.8,0.2", "-S", "7", "-o", str(out)).exit_code == 0
    text = (out / "split.json").read_text()
    meta = json.loads(text)
    assert meta["strategy"] == "stratified" and meta["seed"] == 7
    assert meta["ratios"] == [0.8, 0.2] and meta["folds"] is None
    assert meta["tool_version"] == __version__
    assert (meta["dataset"], meta["dataset_version"]) == ("hyper-kvasir", "2020")
    assert meta["manifest"] == "bundled manifest"
    assert list(meta["splits"]) == ["train", "test"]
    for entry in meta["splits"].values():
        rows = read_rows(out / entry["file"])
        assert entry["total"] == len(rows)
        assert entry["classes"] == dict(sorted(Counter(r["class"] for r in rows).items()))
    assert meta["classes"] == dict(sorted(PER_CLASS.items()))
    assert str(tmp_path) not in text


def test_the_same_seed_gives_the_same_bytes_from_tree_or_archive(
    labeled: BuiltArchive, tmp_path: Path, data_dir: Path
) -> None:
    args = ("--ratios", "0.7,0.15,0.15", "--seed", "3")
    assert split(*args, "--out", str(tmp_path / "a")).exit_code == 0
    assert split(*args, "--out", str(tmp_path / "b"), "--from-archive").exit_code == 0
    assert folder_bytes(tmp_path / "a") == folder_bytes(tmp_path / "b")
    other = split("--ratios", "0.7,0.15,0.15", "--seed", "4", "--out", str(tmp_path / "c"))
    assert other.exit_code == 0
    assert folder_bytes(tmp_path / "c")["train.csv"] != folder_bytes(tmp_path / "a")["train.csv"]


def test_a_rerun_is_a_no_op_and_other_output_needs_force(
    labeled: BuiltArchive, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    assert split("--seed", "1", "--out", str(out)).exit_code == 0
    before = folder_bytes(out)
    again = split("--seed", "1", "--out", str(out))
    assert again.exit_code == 0 and "nothing to do" in again.stderr
    refused = split("--seed", "2", "--out", str(out))
    assert refused.exit_code == 2
    assert "exists already" in refused.stderr and "hint: pass --force" in refused.stderr
    assert folder_bytes(out) == before  # untouched
    assert split("--seed", "2", "--out", str(out), "--force").exit_code == 0
    assert folder_bytes(out) != before
    assert split("--folds", "3", "--out", str(out), "-f").exit_code == 0
    assert sorted(folder_bytes(out)) == ["fold-0.csv", "fold-1.csv", "fold-2.csv", "split.json"]


def test_a_foreign_file_in_the_way_is_not_overwritten(
    labeled: BuiltArchive, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "train.csv").write_text("my own notes\n")
    assert split("--out", str(out)).exit_code == 2
    assert (out / "train.csv").read_text() == "my own notes\n"


def test_stratified_folds(labeled: BuiltArchive, tmp_path: Path) -> None:
    out = tmp_path / "out"
    assert split("--folds", "5", "--seed", "9", "--out", str(out)).exit_code == 0
    folds = [read_rows(out / f"fold-{i}.csv") for i in range(5)]
    assert [{r["split"] for r in rows} for rows in folds] == [{f"fold-{i}"} for i in range(5)]
    for label, total in PER_CLASS.items():
        for rows in folds:
            count = sum(1 for r in rows if r["class"] == label)
            assert abs(count - total / 5) < 1
    assert sum(len(rows) for rows in folds) == sum(PER_CLASS.values())


def test_random_strategy_and_json_files(labeled: BuiltArchive, tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = split("--strategy", "random", "--ratios", "1/2,1/2", "-F", "json", "-o", str(out))
    assert result.exit_code == 0
    train = json.loads((out / "train.json").read_text())
    test = json.loads((out / "test.json").read_text())
    total = sum(PER_CLASS.values())
    assert abs(len(train) - total / 2) < 1 and len(train) + len(test) == total
    assert set(train[0]) == {"path", "class", "organ", "category", "split"}
    assert json.loads((out / "split.json").read_text())["seed"] == 0


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--ratios", "0.7,0.2,0.2"), "--ratios must sum to 1"),
        (("--ratios", "seventy,thirty"), "must be numbers"),
        (("--ratios", "1"), "at least two splits"),
        (("--ratios", "0.5,0.5", "--folds", "2"), "not both"),
        (("--link", "copy"), "--link applies to --format imagefolder only"),
        (("--strategy", "official", "--seed", "3"), "--ratios and --seed do not apply"),
        (("--strategy", "official", "--folds", "3"), "2 or 5 folds"),
        (("--part", "unlabeled-images"), "split works on labeled-images or segmented-images"),
    ],
)
def test_bad_options_exit_2_with_a_clear_error(
    labeled: BuiltArchive, args: tuple[str, ...], message: str
) -> None:
    result = split(*args)
    assert result.exit_code == 2
    assert result.stderr.startswith("error: ") and message in result.stderr


def test_no_images_here_exits_2_with_a_hint() -> None:
    result = split()
    assert result.exit_code == 2
    assert "labeled-images is neither extracted" in result.stderr
    assert "hint: " in result.stderr


# The official split files: `;`-separated, LF, official class spellings, no folders.


def official_file(built: BuiltArchive, folds: int, *, drop: int = 0) -> bytes:
    """An official-format split of ``built``'s images, folds dealt in path order."""
    lines = ["file-name;class-name;split-index"]
    images = sorted(image_paths(built))[drop:]
    for index, member in enumerate(images):
        label = member.split("/")[3]
        name = OFFICIAL_SPELLING.get(label, label)
        lines.append(f"{member.rsplit('/', 1)[1]};{name};{index % folds}")
    return ("\n".join(lines) + "\n").encode()


def official_manifest(
    path: Path, content: bytes, *, urls: list[str] | None = None, sha256: str | None = None
) -> Path:
    parts = [
        {
            "name": "labeled-images",
            "file": LABELED_ZIP,
            "urls": ["http://127.0.0.1:9/l.zip"],
            "root": "labeled-images",
        },
        {
            "name": "official-splits",
            "file": "2_fold_split.csv",
            "urls": urls or ["http://127.0.0.1:9/2_fold_split.csv"],
            "sha256": sha256 or hashlib.sha256(content).hexdigest(),
            "size": len(content),
        },
    ]
    path.write_text(yaml.safe_dump({"dataset": "hyper-kvasir", "version": "2020", "parts": parts}))
    return path


def test_official_split_under_canonical_names_twice_identical(
    labeled: BuiltArchive, tmp_path: Path, data_dir: Path
) -> None:
    content = official_file(labeled, folds=2)
    assert b";polyp;" in content and b";normal-z-line;" in content
    (data_dir / "archives" / "2_fold_split.csv").write_bytes(content)
    manifest = official_manifest(tmp_path / "m.yaml", content)
    first = split("--strategy", "official", "-m", str(manifest), "-o", str(tmp_path / "a"))
    assert first.exit_code == 0, first.stderr
    split("--strategy", "official", "-m", str(manifest), "-o", str(tmp_path / "b"))
    assert folder_bytes(tmp_path / "a") == folder_bytes(tmp_path / "b")
    folds = [read_rows(tmp_path / "a" / f"fold-{i}.csv") for i in (0, 1)]
    total = len(image_paths(labeled))
    assert [len(rows) for rows in folds] == [(total + 1) // 2, total // 2]
    classes = {r["class"] for rows in folds for r in rows}
    assert classes == set(PER_CLASS)  # canonical only: no `polyp`, no `normal-cecum`
    assert {r["path"] for rows in folds for r in rows} == image_paths(labeled)
    meta = json.loads((tmp_path / "a" / "split.json").read_text())
    assert meta["strategy"] == "official" and meta["folds"] == 2 and meta["seed"] is None
    assert meta["official"] == {
        "file": "2_fold_split.csv",
        "sha256": hashlib.sha256(content).hexdigest(),
    }


def test_official_split_reports_images_missing_here_or_missing_from_it(
    labeled: BuiltArchive, tmp_path: Path, data_dir: Path
) -> None:
    content = official_file(labeled, folds=2, drop=2)  # two local images it does not list
    (data_dir / "archives" / "2_fold_split.csv").write_bytes(content)
    gone = data_dir / sorted(image_paths(labeled))[-1]
    gone.unlink()
    manifest = official_manifest(tmp_path / "m.yaml", content)
    result = split("--strategy", "official", "-m", str(manifest), "-o", str(tmp_path / "a"))
    assert result.exit_code == 0
    assert "1 images of the official split are missing here" in result.stderr
    assert "2 local images are not in the official split" in result.stderr
    doc = split("--strategy", "official", "-m", str(manifest), "-o", str(tmp_path / "a"), "-j")
    images = sorted(image_paths(labeled))
    assert doc.json()["official_vs_local"] == {
        "missing_here": [gone.relative_to(data_dir).as_posix()],
        "not_in_split": images[:2],
    }
    assert doc.json()["unchanged"] is True


def test_official_file_fetched_when_missing(
    labeled: BuiltArchive, tmp_path: Path, data_dir: Path
) -> None:
    content = official_file(labeled, folds=2)
    served = tmp_path / "mirror" / "2_fold_split.csv"
    served.parent.mkdir()
    served.write_bytes(content)
    manifest = official_manifest(tmp_path / "m.yaml", content, urls=[served.as_uri()])
    result = split("--strategy", "official", "-m", str(manifest))
    assert result.exit_code == 0, result.stderr
    assert_same_bytes(data_dir / "archives" / "2_fold_split.csv", content)
    out = data_dir / "splits" / "labeled-images-official-2fold"  # the default --out
    assert len(read_rows(out / "fold-0.csv")) + len(read_rows(out / "fold-1.csv")) == len(
        image_paths(labeled)
    )


def test_official_file_with_the_wrong_checksum_exits_5(
    labeled: BuiltArchive, tmp_path: Path, data_dir: Path
) -> None:
    content = official_file(labeled, folds=2)
    (data_dir / "archives" / "2_fold_split.csv").write_bytes(content + b"x.jpg;polyp;0\n")
    manifest = official_manifest(tmp_path / "m.yaml", content)
    result = split("--strategy", "official", "-m", str(manifest), "-o", str(tmp_path / "a"))
    assert result.exit_code == 5
    assert hashlib.sha256(content).hexdigest() in result.stderr
    assert "the file was not used" in result.stderr
    assert not (tmp_path / "a").exists()


@pytest.mark.parametrize(
    ("line", "problem"),
    [
        ("a.jpg;tumour;0", "unknown class 'tumour'"),
        ("a.jpg;polyp;2", "expected a split index 0 to 1"),
        ("a.jpg;polyp", "expected 3 fields"),
        ("../a.jpg;polyp;0", "expected a plain file name"),
    ],
)
def test_a_malformed_official_file_exits_6_naming_the_line(
    labeled: BuiltArchive, tmp_path: Path, data_dir: Path, line: str, problem: str
) -> None:
    content = b"file-name;class-name;split-index\nb.jpg;normal-cecum;1\n" + line.encode() + b"\n"
    (data_dir / "archives" / "2_fold_split.csv").write_bytes(content)
    manifest = official_manifest(tmp_path / "m.yaml", content)
    result = split("--strategy", "official", "-m", str(manifest), "-o", str(tmp_path / "a"))
    assert result.exit_code == 6
    assert "2_fold_split.csv line 3: " + problem in result.stderr


# ImageFolder trees.


def test_imagefolder_of_relative_symlinks_survives_moving_the_data_folder(
    labeled: BuiltArchive, data_dir: Path, tmp_path: Path
) -> None:
    out = data_dir / "splits" / "folder"
    result = split("-F", "imagefolder", "--ratios", "0.5,0.5", "-o", str(out))
    assert result.exit_code == 0, result.stderr
    entries = sorted(p for p in out.rglob("*.jpg"))
    assert len(entries) == len(image_paths(labeled))
    for entry in entries:
        split_name, label = entry.relative_to(out).parts[:2]
        assert split_name in ("train", "test") and label in PER_CLASS
        assert entry.is_symlink() and not os.path.isabs(os.readlink(entry))
    member = next(m for m in labeled.members if m.endswith(".jpg"))
    linked = next(e for e in entries if e.name == member.rsplit("/", 1)[1])
    assert_same_bytes(linked, labeled.members[member])
    moved = tmp_path / "moved"
    data_dir.rename(moved)
    assert_same_bytes(moved / linked.relative_to(data_dir), labeled.members[member])


@pytest.mark.parametrize("link", ["hardlink", "copy"])
def test_imagefolder_hardlinks_or_copies(
    labeled: BuiltArchive, data_dir: Path, tmp_path: Path, link: str
) -> None:
    out = tmp_path / "folder"
    assert split("-F", "imagefolder", "--link", link, "-o", str(out)).exit_code == 0
    entry = next(out.rglob("*.jpg"))
    source = next(data_dir.rglob(entry.name))
    assert not entry.is_symlink()
    assert_same_bytes(entry, source)
    same_inode = entry.stat().st_ino == source.stat().st_ino
    assert same_inode == (link == "hardlink")


def test_imagefolder_is_rebuilt_only_with_force_and_never_over_foreign_folders(
    labeled: BuiltArchive, tmp_path: Path
) -> None:
    out = tmp_path / "folder"
    assert split("-F", "imagefolder", "-S", "1", "-o", str(out)).exit_code == 0
    assert split("-F", "imagefolder", "-S", "1", "-o", str(out)).exit_code == 0  # no-op
    refused = split("-F", "imagefolder", "-S", "2", "-o", str(out))
    assert refused.exit_code == 2 and "--force" in refused.stderr
    assert split("-F", "imagefolder", "-S", "2", "-o", str(out), "--force").exit_code == 0
    assert len(list(out.rglob("*.jpg"))) == len(image_paths(labeled))  # nothing stale
    assert json.loads((out / "split.json").read_text())["seed"] == 2
    foreign = tmp_path / "mine"
    (foreign / "train").mkdir(parents=True)
    (foreign / "train" / "keep.txt").write_text("mine")
    result = split("-F", "imagefolder", "-o", str(foreign), "--force")
    assert result.exit_code == 2 and "was not written by `hyperkvasir split`" in result.stderr
    assert (foreign / "train" / "keep.txt").read_text() == "mine"


class _StopAfter(SilentProgress):
    """Ctrl-C after a few images have been placed."""

    def __init__(self, placed: int) -> None:
        self.left = placed

    def advance(self, amount: int) -> None:
        self.left -= amount
        if self.left <= 0:
            raise KeyboardInterrupt


def test_an_interrupted_imagefolder_is_finished_by_the_next_run_without_force(
    labeled: BuiltArchive, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "folder"
    with monkeypatch.context() as patched:
        patched.setattr(
            "hyperkvasir_cli.cli.console.Console.progress", lambda self, unit="bytes": _StopAfter(5)
        )
        stopped = split("-F", "imagefolder", "--link", "copy", "-o", str(out))
    assert stopped.exit_code == 130 and "rerun to continue" in stopped.stderr
    assert not (out / "split.json").exists()
    again = split("-F", "imagefolder", "--link", "copy", "-o", str(out))
    assert again.exit_code == 0, again.stderr
    assert len(list(out.rglob("*.jpg"))) == len(image_paths(labeled))
    assert sorted(p.name for p in out.iterdir() if p.is_file()) == ["split.json"]


def test_more_folds_than_images_is_a_usage_error(labeled: BuiltArchive, tmp_path: Path) -> None:
    result = split("--folds", "1000", "-o", str(tmp_path / "f"))
    assert result.exit_code == 2 and "folds would be empty" in result.stderr
    assert not (tmp_path / "f").exists()


def test_imagefolder_needs_the_extracted_images(data_dir: Path, tmp_path: Path) -> None:
    build_labeled_images(data_dir / "archives" / LABELED_ZIP, 2)
    result = split("-F", "imagefolder", "-o", str(tmp_path / "f"))
    assert result.exit_code == 2 and "hint: run `hyperkvasir extract" in result.stderr


# Segmented images: an image and its mask always land in the same split.


def test_segmented_pairs_stay_together(data_dir: Path, tmp_path: Path) -> None:
    built = build_segmented_images(data_dir / "archives" / "hyper-kvasir-segmented-images.zip", 10)
    out = tmp_path / "seg"
    result = split("--part", "segmented-images", "--ratios", "0.8,0.2", "-o", str(out))
    assert result.exit_code == 0, result.stderr
    train, test = read_rows(out / "train.csv"), read_rows(out / "test.csv")
    assert (len(train), len(test)) == (8, 2)
    assert list(train[0]) == ["path", "class", "organ", "category", "split", "mask"]
    for row in train + test:
        assert row["path"].startswith("segmented-images/images/")
        assert row["mask"] == row["path"].replace("/images/", "/masks/")
        assert row["class"] == "polyps"
    masks = {m for m in built.members if "/masks/" in m}
    assert {r["mask"] for r in train + test} == masks
    with zipfile.ZipFile(built.path) as archive:
        archive.extractall(data_dir)
    folder = tmp_path / "seg-folder"
    args = ("--part", "segmented-images", "--ratios", "0.8,0.2", "-F", "imagefolder")
    assert split(*args, "-o", str(folder)).exit_code == 0
    for name in ("train", "test"):
        images = sorted(p.name for p in (folder / name / "images").iterdir())
        assert images == sorted(p.name for p in (folder / name / "masks").iterdir())


def test_allocation_is_exact_with_fractions() -> None:
    # 1/3 each of 3 images is exactly one each: no float rounding sends two to one split.
    from hyperkvasir_cli.dataset.split.assign import allocate

    assert allocate(3, [Fraction(1, 3)] * 3) == [1, 1, 1]
    assert allocate(10, [Fraction(7, 10), Fraction(3, 20), Fraction(3, 20)]) == [7, 2, 1]


def test_output_in_the_data_folder_waits_for_the_lock(
    labeled: BuiltArchive, data_dir: Path, tmp_path: Path
) -> None:
    from hyperkvasir_cli.core.lock import data_lock

    with data_lock(data_dir / ".hyperkvasir.lock"):
        held = split("--seed", "1")
        elsewhere = split("--seed", "1", "--out", str(tmp_path / "elsewhere"))
    assert held.exit_code == 8 and "--wait-lock" in held.stderr
    assert not (data_dir / "splits").exists()
    assert elsewhere.exit_code == 0, elsewhere.stderr  # outside the data folder: no lock


def test_a_copy_of_the_manifest_under_another_name_gives_the_same_bytes(
    labeled: BuiltArchive, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    mine = tmp_path / "one.yaml"
    bundled = Path(hyperkvasir_cli.__file__).parent / "data" / "manifest.yaml"
    mine.write_bytes(bundled.read_bytes())
    other = tmp_path / "copy-with-another-name.yaml"
    other.write_bytes(bundled.read_bytes())
    assert split("--seed", "5", "-o", str(out), "--manifest", str(mine)).exit_code == 0
    again = split("--seed", "5", "-o", str(out), "--manifest", str(other))
    assert again.exit_code == 0 and "nothing to do" in again.stderr
    assert json.loads((out / "split.json").read_text())["manifest"] == "a manifest of your own"
