"""Checksum files: `--format sha256sum` (and siblings) output that coreutils accepts, and
`--check FILE` reading what coreutils (or this program) wrote."""

from __future__ import annotations

import hashlib
import shutil
import subprocess
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hyperkvasir_cli.check.checkfile import escape_path, parse_check_file, parse_sum_line, sum_line
from tests.checksum_homes import LABELED_ZIP, Home, flip_byte, make_home
from tests.cli import run_cli


@pytest.fixture
def home(tmp_path: Path, data_dir: Path) -> Home:
    return make_home(data_dir, tmp_path / "manifest.yaml")


def coreutils(tool: str) -> str:
    found = shutil.which(tool)
    if found is None:
        pytest.skip(f"{tool} is not installed")
    return found


def run_tool(tool: str, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [coreutils(tool), *args], cwd=cwd, capture_output=True, text=True, check=False
    )


def test_sha256sum_format_passes_sha256sum_check(home: Home, tmp_path: Path) -> None:
    result = home.checksum("--format", "sha256sum")
    assert result.exit_code == 0, result.stderr
    digest = hashlib.sha256(home.archive.read_bytes()).hexdigest()
    assert result.stdout == f"{digest}  archives/{LABELED_ZIP}\n"
    sums = tmp_path / "SHA256SUMS"
    sums.write_text(result.stdout)
    checked = run_tool("sha256sum", "-c", str(sums), cwd=home.data)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert f"archives/{LABELED_ZIP}: OK" in checked.stdout


def test_extracted_files_are_listed_for_sha256sum_too(home: Home, tmp_path: Path) -> None:
    home.extract()
    result = home.checksum("--extracted", "--format", "sha256sum")
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) == 1 + len(home.built.members)
    member = home.image(2)
    expected = hashlib.sha256(home.built.members[member]).hexdigest()
    assert f"{expected}  {member}" in lines
    sums = tmp_path / "SHA256SUMS"
    sums.write_text(result.stdout)
    checked = run_tool("sha256sum", "--quiet", "-c", str(sums), cwd=home.data)
    assert checked.returncode == 0, checked.stdout + checked.stderr


@pytest.mark.parametrize(("fmt", "tool"), [("md5sum", "md5sum"), ("b2sum", "b2sum")])
def test_other_formats_pass_their_tools(home: Home, tmp_path: Path, fmt: str, tool: str) -> None:
    result = home.checksum("--format", fmt)
    assert result.exit_code == 0, result.stderr
    sums = tmp_path / "SUMS"
    sums.write_text(result.stdout)
    checked = run_tool(tool, "-c", str(sums), cwd=home.data)
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_a_checksum_file_never_vouches_for_a_bad_file(home: Home) -> None:
    home.extract()
    bad = home.image(0)
    flip_byte(home.data / bad, 50)
    result = home.checksum("--extracted", "--format", "sha256sum")
    assert result.exit_code == 5
    assert bad not in result.stdout
    assert len(result.stdout.splitlines()) == len(home.built.members)  # archive + the rest
    assert f"warning: labeled-images file {bad}: FAILED" in result.stderr


def test_check_verifies_a_file_written_by_this_program(home: Home) -> None:
    home.extract()
    sums = home.data / "SHA256SUMS"
    sums.write_text(home.checksum("--extracted", "--format", "sha256sum").stdout)
    assert run_cli("checksum", "--check", str(sums)).exit_code == 0

    changed, gone = home.image(3), home.image(4)
    flip_byte(home.data / changed, 10)
    (home.data / gone).unlink()
    result = run_cli("checksum", "--check", str(sums), "--json")
    assert result.exit_code == 5
    bad = {i["path"]: i["result"] for i in result.json()["items"] if i["result"] != "ok"}
    assert bad == {changed: "failed", gone: "missing"}
    plain = run_cli("checksum", "--check", str(sums))
    assert f"{changed}: FAILED (sha256: expected " in plain.stdout
    assert f"{gone}: FAILED (missing" in plain.stdout


def test_check_reads_what_coreutils_writes(tmp_path: Path) -> None:
    folder = tmp_path / "files"
    folder.mkdir()
    names = ["plain.jpg", "with space.jpg", "back\\slash.jpg", "new\nline.jpg"]
    for index, name in enumerate(names):
        (folder / name).write_bytes(bytes([index]) * (1000 + index))
    for tool, args, file_name in [
        ("sha256sum", ["-b"], "SHA256SUMS"),
        ("sha256sum", ["--tag"], "tagged.sha256"),
        ("md5sum", [], "MD5SUMS"),
        ("sha512sum", [], "SHA512SUMS"),
        ("b2sum", [], "B2SUMS"),
        ("b2sum", ["--tag"], "B2SUMS-tagged"),
    ]:
        written = run_tool(tool, *args, *names, cwd=folder)
        assert written.returncode == 0
        sums = folder / file_name
        sums.write_text(written.stdout)
        result = run_cli("checksum", "--check", str(sums), "--json", "--verbose")
        assert result.exit_code == 0, (tool, args, result.stdout, result.stderr)
        assert sorted(item["path"] for item in result.json()["items"]) == sorted(names)


def test_check_notes_malformed_lines_and_refuses_a_file_without_any(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_bytes(b"a")
    digest = hashlib.sha256(b"a").hexdigest()
    sums = tmp_path / "SUMS"
    sums.write_text(f"# made by hand\n\n{digest}  a.txt\nnot a checksum line\n")
    result = run_cli("checksum", "--check", str(sums))
    assert result.exit_code == 0
    assert "1 improperly formatted line(s) skipped (line 4)" in result.stderr
    sums.write_text("nothing here\n")
    empty = run_cli("checksum", "--check", str(sums))
    assert empty.exit_code == 2
    assert "no checksum lines found" in empty.stderr
    absent = run_cli("checksum", "--check", str(tmp_path / "nope"))
    assert absent.exit_code == 2
    assert "cannot read" in absent.stderr


def test_algorithm_makes_check_strict(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_bytes(b"a")
    sums = tmp_path / "SUMS"
    sums.write_text(f"{hashlib.md5(b'a').hexdigest()}  a.txt\n")
    assert run_cli("checksum", "--check", str(sums)).exit_code == 0
    strict = run_cli("checksum", "--check", str(sums), "--algorithm", "sha256")
    assert strict.exit_code == 2


def test_check_with_another_algorithm_names_the_one_the_lines_hold(home: Home) -> None:
    sums = home.data / "SUMS.md5sum"
    sums.write_text(home.checksum("--format", "md5sum").stdout)
    assert run_cli("checksum", "--check", str(sums)).exit_code == 0
    result = run_cli("checksum", "--check", str(sums), "-A", "sha256")
    assert result.exit_code == 2
    assert "no checksum lines found" not in result.stderr
    assert "holds md5 lines, not sha256 (--algorithm sha256)" in result.stderr
    assert "hint: drop --algorithm, or use --algorithm md5" in result.stderr


def test_check_shows_the_resolved_path_it_looked_for(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    absent = run_cli("checksum", "--check", "nope.sha256")
    assert absent.exit_code == 2
    assert f"cannot read {tmp_path / 'nope.sha256'}: No such file" in absent.stderr
    (tmp_path / "sums").mkdir()
    listing = tmp_path / "sums" / "SHA256SUMS"
    listing.write_text(f"{hashlib.sha256(b'a').hexdigest()}  ../data/a.txt\n")
    result = run_cli("checksum", "--check", "sums/SHA256SUMS")
    assert result.exit_code == 5
    looked = (tmp_path / "sums" / ".." / "data" / "a.txt").resolve()
    assert f"../data/a.txt: FAILED (missing: {looked} does not exist)" in result.stdout


# -- parsing, pure -------------------------------------------------------------------------


def test_parse_sum_line_forms() -> None:
    sha = "ab" * 32
    assert parse_sum_line(f"{sha}  a/b.zip") == ("sha256", sha, "a/b.zip")
    assert parse_sum_line(f"{sha} *a/b.zip") == ("sha256", sha, "a/b.zip")
    assert parse_sum_line(f"{sha.upper()}  x") == ("sha256", sha, "x")
    assert parse_sum_line(f"SHA256 (a b.zip) = {sha}") == ("sha256", sha, "a b.zip")
    assert parse_sum_line(f"MD5 (x) = {sha}") is None  # tag and length disagree
    assert parse_sum_line(f"{'c' * 128}  x") == ("sha512", "c" * 128, "x")
    assert parse_sum_line(f"{'c' * 128}  x", wide="blake2b") == ("blake2b", "c" * 128, "x")
    assert parse_sum_line(f"BLAKE2b (x) = {'c' * 128}") == ("blake2b", "c" * 128, "x")
    assert parse_sum_line(f"BLAKE2b-256 (x) = {sha}") is None  # shortened digests unsupported
    assert parse_sum_line(f"{sha}  x", algorithm="md5") is None
    assert parse_sum_line(f"{sha}x") is None
    assert parse_sum_line(f"\\{sha}  a\\nb") == ("sha256", sha, "a\nb")
    assert parse_sum_line(f"\\{sha}  a\\qb") is None


@given(st.text(min_size=1))
def test_written_lines_parse_back_to_the_same_path(path: str) -> None:
    digest = hashlib.sha256(path.encode("utf-8", "surrogatepass")).hexdigest()
    line = sum_line(digest, path)
    assert "\n" not in line and "\r" not in line
    parsed = parse_check_file([line + "\n"])
    assert [(e.algorithm, e.digest, e.path) for e in parsed.entries] == [("sha256", digest, path)]
    assert escape_path(path)[1] == line.startswith("\\")
