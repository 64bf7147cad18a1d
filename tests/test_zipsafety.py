"""The safety rules, applied to member metadata alone: what is refused, and why."""

from __future__ import annotations

import posixpath
import stat

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hyperkvasir_cli.errors import ArchiveError
from hyperkvasir_cli.zipindex import ZipMember, extended_mtime
from hyperkvasir_cli.zipsafety import (
    find_refusals,
    is_inside,
    ordinary_path,
    path_problem,
    relative_path,
    safe_members,
)


def member(
    name: str,
    *,
    size: int = 10,
    method: int = 8,
    offset: int = 0,
    compressed: int = 8,
    flags: int = 0,
    mode: int = stat.S_IFREG | 0o644,
) -> ZipMember:
    return ZipMember(
        name=name,
        file_size=size,
        compress_size=compressed if method else size,
        compress_type=method,
        crc=0,
        header_offset=offset,
        flag_bits=flags,
        external_attr=mode << 16,
    )


def laid_out(*members: ZipMember) -> list[ZipMember]:
    """The members with offsets one after the other, as a writer would place them."""
    placed, offset = [], 0
    for m in members:
        placed.append(m._replace(header_offset=offset))
        offset += 30 + len(m.name) + m.compress_size
    return placed


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("../evil.txt", "'..'"),
        ("labeled-images/../../evil.txt", "'..'"),
        ("..\\evil.txt", "'..'"),
        ("/etc/passwd", "absolute"),
        ("\\\\server\\share\\x.txt", "absolute"),
        ("//server/share/x.txt", "absolute"),
        ("C:/Windows/x.txt", "drive letter"),
        ("c:x.txt", "drive letter"),
        ("ok.txt\x00.jpg", "NUL"),
        ("", "empty"),
        ("./", "empty"),
    ],
)
def test_paths_that_could_leave_the_target_are_refused(name: str, reason: str) -> None:
    problem = path_problem(name)
    assert problem is not None and reason in problem


@pytest.mark.parametrize(
    ("name", "path"),
    [
        ("labeled-images/a/b.jpg", "labeled-images/a/b.jpg"),
        ("./labeled-images//a/./b.jpg", "labeled-images/a/b.jpg"),
        ("labeled-images\\a\\b.jpg", "labeled-images/a/b.jpg"),
        ("a..b/c...jpg", "a..b/c...jpg"),
    ],
)
def test_harmless_oddities_are_normalised(name: str, path: str) -> None:
    assert path_problem(name) is None
    assert relative_path(name) == path


@given(st.text(alphabet=st.sampled_from(list("ab./\\:C\x00")), max_size=12))
def test_every_accepted_name_stays_inside_the_target(name: str) -> None:
    if path_problem(name) is None:
        resolved = posixpath.normpath(posixpath.join("/target", relative_path(name)))
        assert resolved.startswith("/target/")
        assert is_inside("/target", resolved)


@given(st.text(alphabet=st.sampled_from(list("ab./\\:C\x00\n")), max_size=14))
def test_the_fast_way_for_ordinary_names_agrees_with_the_general_one(name: str) -> None:
    fast = ordinary_path(name)
    if fast is not None:
        assert path_problem(name) is None
        assert fast == relative_path(name)


@pytest.mark.parametrize(
    "name",
    ["labeled-images/a/b.jpg", "labeled-images/a/", "a..b/c...jpg", ".hidden/.x", "x/..y"],
)
def test_ordinary_names_take_the_fast_way(name: str) -> None:
    assert ordinary_path(name) == relative_path(name)


@pytest.mark.parametrize("name", ["a/../b", "..", "./a", "a//b", "a/.", "C:x", "a\\b", "/a"])
def test_every_other_name_takes_the_general_way(name: str) -> None:
    assert ordinary_path(name) is None


@pytest.mark.parametrize(
    ("mode", "word"),
    [
        (stat.S_IFLNK | 0o777, "symbolic link"),
        (stat.S_IFCHR | 0o600, "character device"),
        (stat.S_IFBLK | 0o600, "block device"),
        (stat.S_IFIFO | 0o600, "FIFO"),
        (stat.S_IFSOCK | 0o600, "socket"),
    ],
)
def test_links_and_devices_are_refused(mode: int, word: str) -> None:
    refusals = find_refusals([member("labeled-images/x.jpg", mode=mode)], 10_000)
    assert [r.kind for r in refusals] == ["unsafe"]
    assert word in refusals[0].reason


def test_files_without_unix_mode_bits_are_accepted() -> None:
    # Archivers on Windows leave the high bits of external_attr empty.
    assert find_refusals([member("a/b.jpg", mode=0)], 10_000) == []


def test_encrypted_and_unreadable_methods_are_refused_by_name_and_number() -> None:
    refusals = find_refusals(
        [member("a/enc.jpg", flags=0x1), member("a/d64.jpg", method=9)], 10_000
    )
    assert [(r.member, r.kind) for r in refusals] == [
        ("a/enc.jpg", "encrypted"),
        ("a/d64.jpg", "unsupported"),
    ]
    assert "deflate64 (9)" in refusals[1].reason


def test_repeated_paths_and_file_folder_clashes_are_refused() -> None:
    members = laid_out(member("a/b.jpg"), member("a\\b.jpg"), member("a"))
    reasons = {r.member: r.reason for r in find_refusals(members, 10_000)}
    assert "repeats" in reasons["a\\b.jpg"]
    assert "folder" in reasons["a"]


def test_data_past_the_end_or_overlapping_is_refused() -> None:
    first, second = member("a.jpg", offset=0, compressed=100), member("b.jpg", offset=50)
    assert "overlaps" in find_refusals([first, second], 10_000)[0].reason
    assert (
        "past the end" in find_refusals([member("c.jpg", offset=0, compressed=100)], 60)[0].reason
    )


def test_names_of_our_own_files_are_refused() -> None:
    for name in ("a/.x.jpg.1234.hkx-tmp", "labeled-images/.hyperkvasir-extract.json"):
        assert find_refusals([member(name)], 10_000)[0].kind == "unsafe"


def test_the_error_names_the_first_member_and_counts_the_rest() -> None:
    members = laid_out(member("ok.jpg"), member("../a.txt"), member("/b.txt"))
    with pytest.raises(ArchiveError) as info:
        safe_members(members, archive_name="x.zip", archive_size=10_000)
    message = info.value.message
    assert message.startswith("x.zip is unsafe to extract: member '../a.txt'")
    assert "1 more members refused" in message and "nothing was written" in message
    assert info.value.exit_code == 6 and info.value.hint


def test_extended_timestamp_is_read_from_the_extra_field() -> None:
    extra = (
        b"\x0a\x00\x04\x00"
        + b"\x00" * 4
        + b"UT\x05\x00\x01"
        + (1_600_000_000).to_bytes(4, "little")
    )
    assert extended_mtime(extra) == 1_600_000_000
    assert extended_mtime(b"") is None
