"""The safety rules, applied to member metadata alone: what is refused, and why."""

from __future__ import annotations

import posixpath
import stat

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hyperkvasir_cli.archive.index import ZipMember, extended_mtime
from hyperkvasir_cli.archive.safety import (
    TEMP_STEM_BYTES,
    TEMP_SUFFIX,
    PathLimits,
    Placement,
    SafeMember,
    find_refusals,
    is_inside,
    length_refusals,
    ordinary_path,
    path_problem,
    refusal_error,
    relative_path,
    safe_members,
    temp_name_for,
)
from hyperkvasir_cli.archive.selection import is_platform_junk
from hyperkvasir_cli.core.errors import ArchiveError


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
    assert "(1 more member refused)" in message and "nothing was written" in message
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


# --- the part's folder and hyperkvasir's own places ---------------------------------------

ROOTED = Placement(root="labeled-images")
OWN = Placement(
    folders=(("archives", "the archives folder"),),
    prefixes=((".hyperkvasir.lock", "the data folder's lock"), ("config.yaml", "the config file")),
)


def refused(names: list[str], placement: Placement) -> dict[str, str]:
    """Member name -> kind, for the members ``placement`` refuses."""
    members = laid_out(*(member(n, mode=stat.S_IFDIR | 0o755) if n.endswith("/") else member(n)
                         for n in names))  # fmt: skip
    return {r.member: r.kind for r in find_refusals(members, 10_000_000, placement)}


def test_members_must_lie_under_the_parts_folder() -> None:
    names = [
        "labeled-images/",
        "labeled-images/a/b.jpg",
        "labeled-images",  # a file where the part's folder should be
        "labeled-images-old/a.jpg",
        "other/x.jpg",
        "other/",
        "README.txt",
        "Labeled-Images/a.jpg",
    ]
    assert refused(names, ROOTED) == dict.fromkeys(names[2:], "outside-root")


def test_platform_junk_outside_the_folder_is_not_judged_it_is_never_extracted() -> None:
    assert refused(["__MACOSX/", "__MACOSX/._a.jpg", ".DS_Store", "labeled-images/a"], ROOTED) == {}


def test_the_parents_of_a_deeper_root_may_have_folder_entries() -> None:
    deep = Placement(root="hyper-kvasir/labeled-images/")
    assert refused(["hyper-kvasir/", "hyper-kvasir/labeled-images/x.jpg"], deep) == {}
    assert refused(["hyper-kvasir/x.jpg"], deep) == {"hyper-kvasir/x.jpg": "outside-root"}


def test_without_a_root_any_folder_is_fine() -> None:
    assert refused(["a/b.jpg", "README.txt", "x/"], Placement()) == {}


@pytest.mark.parametrize(
    "name",
    [
        "archives/hyper-kvasir.zip",
        "archives/x.zip.part.json",
        "archives/",
        "archives",  # a file where the archives folder is
        "ARCHIVES/x.zip",  # the same folder on a case-insensitive file system
        "./archives//x.zip",
        ".hyperkvasir.lock",
        ".hyperkvasir.lock.info",
        ".hyperkvasir.lock/x",
        "config.yaml",
        "Config.YAML",
    ],
)
def test_hyperkvasirs_own_places_are_refused(name: str) -> None:
    assert refused([name], OWN) == {name: "reserved"}


@pytest.mark.parametrize("name", ["archive/x", "archives-old/x", "a/archives/x", "x/config.yaml"])
def test_names_that_only_look_alike_are_fine(name: str) -> None:
    assert refused([name], OWN) == {}


def test_with_a_root_the_places_under_or_above_it_stay_reserved() -> None:
    own = Placement(
        root="data",
        folders=(("DATA/archives", "the archives folder"), ("archives", "elsewhere")),
        prefixes=(("data/.hyperkvasir.lock", "the lock"),),
    )
    names = ["data/archives/x.zip", "data/.hyperkvasir.lock.info"]
    assert refused([*names, "data/archive/x.zip", "data/"], own) == dict.fromkeys(names, "reserved")
    assert [p for _, p, _ in own.folded[0]] == ["DATA/archives"]  # "archives" is unreachable
    above = Placement(root="data/sub", folders=(("data", "a folder above the root"),))
    assert refused(["data/sub/x.jpg"], above) == {"data/sub/x.jpg": "reserved"}


def test_a_file_where_a_reserved_folder_needs_a_folder_is_refused() -> None:
    nested = Placement(folders=(("data/archives", "the archives folder"),))
    assert refused(["data"], nested) == {"data": "reserved"}
    assert refused(["data/", "data/x.jpg"], nested) == {}


def test_the_refusal_says_what_would_be_overwritten() -> None:
    with pytest.raises(ArchiveError) as info:
        safe_members(
            laid_out(member("archives/x.zip"), member("config.yaml")),
            archive_name="full.zip",
            archive_size=10_000,
            placement=OWN,
        )
    message = info.value.message
    assert message.startswith("full.zip is unsafe to extract: member 'archives/x.zip' would be")
    assert "the archives folder (archives/)" in message and "(1 more member refused)" in message
    assert "--to" in (info.value.hint or "")


def test_outside_the_folder_the_refusal_names_the_folder() -> None:
    with pytest.raises(ArchiveError) as info:
        safe_members(
            laid_out(member("labeled-images/a.jpg"), member("config.yaml")),
            archive_name="l.zip",
            archive_size=10_000,
            placement=ROOTED,
        )
    assert "member 'config.yaml' lies outside the part's folder labeled-images/" in str(
        info.value.message
    )
    assert info.value.exit_code == 6


@pytest.mark.parametrize(
    "name", ["a/.hyperkvasir-extract.json/x.jpg", "a/b.hkx-tmp/", "a/b.hkx-tmp"]
)
def test_hyperkvasirs_own_names_are_refused_for_folders_too(name: str) -> None:
    assert refused([name], Placement()) == {name: "unsafe"}


@given(st.text(alphabet=st.sampled_from(list("ab./\\_M")), max_size=14))
@settings(max_examples=500)
def test_every_member_accepted_under_a_root_lies_under_it(name: str) -> None:
    candidate = member(name)
    if not find_refusals([candidate], 10_000, Placement(root="a")):
        path = relative_path(name)
        under = path.startswith("a/") or (candidate.is_dir and path == "a")
        assert under or is_platform_junk(path)  # junk is never extracted


# --- names and paths the file system can hold ---------------------------------------------


def safe(name: str) -> SafeMember:
    return SafeMember.of(member(name), name.rstrip("/"))


def test_a_name_up_to_name_max_bytes_fits_and_one_more_does_not() -> None:
    limits = PathLimits(name_max=12, path_max=4096)
    fits, too_long = safe("d/" + "x" * 12), safe("d/" + "x" * 13)
    assert length_refusals([fits], 10, limits) == []
    [refusal] = length_refusals([too_long], 10, limits)
    assert refusal.kind == "name-too-long" and "13 bytes" in refusal.reason
    assert "12 bytes" in refusal.reason


def test_names_are_measured_in_encoded_bytes_not_characters() -> None:
    [refusal] = length_refusals([safe("é" * 7)], 10, PathLimits(name_max=12, path_max=4096))
    assert "14 bytes" in refusal.reason


def test_the_whole_path_counts_the_target_and_the_temporary_name() -> None:
    # target (100 B) + "/" + "d/" + temporary name: "." + "f" + "." + 8 + ".hkx-tmp" = 19 B
    member_ = safe("d/f")
    longest = 100 + 1 + 2 + len(temp_name_for("f", "0" * 8))
    assert length_refusals([member_], 100, PathLimits(path_max=longest + 1)) == []
    [refusal] = length_refusals([member_], 100, PathLimits(path_max=longest))
    assert refusal.kind == "path-too-long" and f"{longest} bytes" in refusal.reason
    assert f"PATH_MAX {longest} bytes" in refusal.reason


def test_temporary_names_are_cut_so_they_fit_where_the_final_name_fits() -> None:
    for final in ("a.jpg", "y" * 255, "é" * 120, "x" * 63 + "é"):
        temp = temp_name_for(final, "0123abcd")
        assert temp.endswith(f".0123abcd{TEMP_SUFFIX}") and temp.startswith(".")
        stem = temp[1 : -len(f".0123abcd{TEMP_SUFFIX}")]
        assert final.startswith(stem) and len(stem.encode()) <= TEMP_STEM_BYTES
        assert len(temp.encode()) <= max(len(final.encode()), TEMP_STEM_BYTES + 18)


def test_too_long_names_cannot_be_extracted_and_the_hint_says_what_to_do() -> None:
    [refusal] = length_refusals([safe("x" * 300)], 10, PathLimits())
    error = refusal_error("a.zip", [refusal])
    assert error.message.startswith("a.zip cannot be extracted: member 'xxx")
    assert "--exclude" in (error.hint or "")


@given(
    components=st.lists(
        st.text(alphabet=st.sampled_from(list("ab-é€😀")), min_size=1, max_size=40),
        min_size=1,
        max_size=6,
    ),
    target_bytes=st.integers(min_value=1, max_value=120),
    name_max=st.integers(min_value=8, max_value=160),
    path_max=st.integers(min_value=100, max_value=400),
)
@settings(max_examples=400)
def test_the_quick_way_past_counting_bytes_agrees_with_counting_them(
    components: list[str], target_bytes: int, name_max: int, path_max: int
) -> None:
    path = "/".join(components)
    folder, base = path.rpartition("/")[0], components[-1]
    temp = f"{folder}/{temp_name_for(base, '0' * 8)}" if folder else temp_name_for(base, "0" * 8)
    longest = target_bytes + 1 + max(len(path.encode()), len(temp.encode()))
    fits = all(len(c.encode()) <= name_max for c in components) and longest < path_max
    refusals = length_refusals([safe(path)], target_bytes, PathLimits(name_max, path_max))
    assert (refusals == []) is fits
