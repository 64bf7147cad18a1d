"""The guarantees that matter most, each broken on purpose by one edit (see tests/mutate.py).

A mutation is a file, an exact snippet of it (whitespace included, found exactly once),
its replacement, and the tests that must fail once the guarantee is gone. When code moves
or changes, update the snippet here; `python -m tests.mutate --list` says which drifted.
Prefer snippets in places that say the rule itself (resume.py, safety.py, lock.py, ...),
and tests that show the user-visible harm (the wrong bytes on disk), not only a unit test.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Mutation:
    name: str
    file: str
    snippet: str
    replacement: str
    tests: tuple[str, ...]


ONE_VERSION = "tests/test_one_version.py"

MUTATIONS: tuple[Mutation, ...] = (
    # The five rows of issue 16's table ---------------------------------------------------
    Mutation(
        "validators required: a partial without ETag or Last-Modified is continued",
        "hyperkvasir_cli/transfer/sidecar.py",
        "        return self.validators.if_range is not None or self.downloaded == 0\n",
        "        return True\n",
        (f"{ONE_VERSION}::test_without_validators_a_partial_is_never_continued",),
    ),
    Mutation(
        "If-Range honoured: a 206 of another version is appended (a cache ignoring If-Range)",
        "hyperkvasir_cli/transfer/resume.py",
        "    if known is not None and known.conflicts_with(answer.validators):\n"
        "        return Judgement(Verdict.RESTART, changed_on_server(known, answer.validators), "
        "total)\n"
        '    return Judgement(Verdict.APPEND, "range accepted", total)\n',
        '    return Judgement(Verdict.APPEND, "range accepted", total)\n',
        (
            f"{ONE_VERSION}::test_a_206_of_another_version_starts_over_never_appended",
            f"{ONE_VERSION}::test_a_change_mid_run_behind_such_a_cache_gives_one_version",
        ),
    ),
    Mutation(
        "If-Range honoured: the file:// transport ignores If-Range",
        "hyperkvasir_cli/transfer/file_transport.py",
        "        if wanted is not None and _if_range_matches(request, etag, last_modified):\n",
        "        if wanted is not None:\n",
        ("tests/test_file_urls.py",),
    ),
    Mutation(
        "split order stable: Python's salted hash() instead of sha256",
        "hyperkvasir_cli/dataset/split/assign.py",
        '    return sorted(paths, key=lambda p: (hashlib.sha256(f"{seed}:{p}".encode()).digest(), '
        "p))\n",
        '    return sorted(paths, key=lambda p: (hash(f"{seed}:{p}"), p))\n',
        ("tests/test_split_reproducible.py",),
    ),
    Mutation(
        "split.json machine-free: the host name written into it",
        "hyperkvasir_cli/dataset/split/writers.py",
        '        "tool": "hyperkvasir",\n',
        '        "tool": "hyperkvasir",\n        "host": __import__("socket").gethostname(),\n',
        (
            "tests/test_split_reproducible.py::"
            "test_split_files_are_the_same_bytes_in_any_process_on_any_machine",
        ),
    ),
    Mutation(
        "split.json machine-free: the time written into it",
        "hyperkvasir_cli/dataset/split/writers.py",
        '        "tool": "hyperkvasir",\n',
        '        "tool": "hyperkvasir",\n'
        '        "written": __import__("time").strftime("%Y-%m-%d %H:%M"),\n',
        (
            "tests/test_split_reproducible.py::"
            "test_split_files_are_the_same_bytes_in_any_process_on_any_machine",
        ),
    ),
    # Never splice ------------------------------------------------------------------------
    Mutation(
        "never splice: a 200 answering a resumed request is appended",
        "hyperkvasir_cli/transfer/resume.py",
        "        if start > 0:\n"
        "            return Judgement(Verdict.RESTART, "
        '"the server ignored the range and sent it all", total)\n',
        "",
        ("tests/test_download.py::test_server_that_ignores_range_still_gives_the_right_file",),
    ),
    Mutation(
        "never splice: a 206 starting elsewhere than asked is appended",
        "hyperkvasir_cli/transfer/resume.py",
        "    if content_range.first != start:\n",
        "    if False:\n",
        (f"{ONE_VERSION}::test_a_206_that_starts_elsewhere_than_asked_is_never_appended",),
    ),
    Mutation(
        "If-Range sent: a resumed request carries no If-Range",
        "hyperkvasir_cli/transfer/range_request.py",
        '        headers["If-Range"] = known.if_range\n',
        "        pass\n",
        (
            "tests/test_download.py::"
            "test_dropped_connection_at_40_percent_resumes_without_refetching",
            "tests/test_download.py::test_file_replaced_between_runs_gives_the_new_file_never_a_splice",
        ),
    ),
    Mutation(
        "never splice without validators: a continuation's overlap is not compared",
        "hyperkvasir_cli/transfer/range_request.py",
        "    if area[:overlap] != held:\n",
        "    if False:\n",
        (
            f"{ONE_VERSION}::test_without_validators_a_drop_mid_run_gives_one_version",
            f"{ONE_VERSION}::test_without_validators_a_change_after_the_first_request_is_caught",
        ),
    ),
    Mutation(
        "never splice without validators: several connections share a file nothing pins",
        "hyperkvasir_cli/transfer/connection.py",
        "        return self.job.connections if self.s.sidecar.validators.if_range else 1\n",
        "        return self.job.connections\n",
        (f"{ONE_VERSION}::test_without_validators_several_connections_become_one_and_say_why",),
    ),
    # Verification ------------------------------------------------------------------------
    Mutation(
        "sha256 compared: a download of other bytes is accepted",
        "hyperkvasir_cli/check/verify.py",
        "    hash_ok = expected_sha256 is None or sha256 == expected_sha256\n",
        "    hash_ok = True\n",
        (
            "tests/test_download.py::"
            "test_file_replaced_with_pinned_checksum_exits_5_and_keeps_nothing_final",
        ),
    ),
    Mutation(
        "sha256 compared: checksum passes an archive of other bytes",
        "hyperkvasir_cli/check/integrity.py",
        "    if expected.sha256 and sha256 and sha256 != expected.sha256:\n",
        "    if False:\n",
        ("tests/test_checksum.py::test_one_flipped_byte_exits_5_with_expected_and_found_sha256",),
    ),
    Mutation(
        "CRC checked: extract keeps a member whose CRC-32 is wrong",
        "hyperkvasir_cli/archive/stream.py",
        "    if crc != member.crc:\n",
        "    if False:\n",
        ("tests/test_extract.py::test_a_bad_crc_exits_6_and_leaves_no_file_under_its_name",),
    ),
    Mutation(
        "CRC checked: checksum --extracted passes a changed file of the same size",
        "hyperkvasir_cli/check/file_compare.py",
        "    if crc != expected_crc:\n",
        "    if False:\n",
        (
            "tests/test_checksum.py::test_a_corrupted_image_is_named_as_changed",
            "tests/test_tree_workers.py::test_workers_find_what_one_process_finds",
        ),
    ),
    # Safety ------------------------------------------------------------------------------
    Mutation(
        "zip-slip refused: a member with '..' in its path is extracted",
        "hyperkvasir_cli/archive/safety.py",
        '    if ".." in parts:\n',
        "    if False:\n",
        (
            "tests/test_extract.py::test_unsafe_archives_exit_6_naming_the_member_and_write_nothing_anywhere",
        ),
    ),
    Mutation(
        "zip-slip refused: the fast way for ordinary names lets '..' through",
        "hyperkvasir_cli/archive/safety.py",
        '_COMPONENT = r"(?!\\.\\.?(?:/|\\Z))[^/\\\\\\x00:]+"\n',
        '_COMPONENT = r"(?!\\.(?:/|\\Z))[^/\\\\\\x00:]+"\n',
        (
            "tests/test_extract.py::test_unsafe_archives_exit_6_naming_the_member_and_write_nothing_anywhere",
        ),
    ),
    Mutation(
        "lock held: a second writer runs beside the first",
        "hyperkvasir_cli/core/lock.py",
        "            lock.acquire()\n        except filelock.Timeout:\n",
        "            pass\n        except filelock.Timeout:\n",
        (
            "tests/test_download.py::test_a_concurrent_run_exits_8",
            "tests/test_extract.py::test_another_run_holding_the_lock_exits_8",
        ),
    ),
    # Atomic renames ----------------------------------------------------------------------
    Mutation(
        "atomic rename: config, sidecars and split files are rewritten in place",
        "hyperkvasir_cli/core/atomic.py",
        '    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", '
        "dir=path.parent)\n",
        "    fd, tmp_name = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644), "
        "str(path)\n",
        ("tests/test_atomic.py",),
    ),
    Mutation(
        "atomic rename: a member is written under its final name",
        "hyperkvasir_cli/archive/worker.py",
        "    temp = os.path.join(folder, temp_name(name))\n",
        "    temp = destination\n",
        (
            "tests/test_extract_engine.py::"
            "test_a_member_is_written_under_a_temporary_name_until_it_is_whole",
        ),
    ),
    Mutation(
        "atomic rename: a download is written under its final name",
        "hyperkvasir_cli/core/layout.py",
        '        return self.archives_dir / f"{part.file}.part"\n',
        "        return self.archives_dir / part.file\n",
        (f"{ONE_VERSION}::test_a_206_that_starts_elsewhere_than_asked_is_never_appended",),
    ),
    # The README ---------------------------------------------------------------------------
    Mutation(
        "README transcripts: the program prints sizes another way",
        "hyperkvasir_cli/core/units.py",
        '            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"\n',
        '            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.2f} {unit}"\n',
        (
            "tests/test_readme_examples.py::"
            "test_every_console_transcript_is_what_the_program_prints",
        ),
    ),
)
