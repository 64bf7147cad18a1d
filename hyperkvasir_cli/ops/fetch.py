"""Getting a part's archive onto disk for the workflows that need one (extract, split,
the Python API's ``path``), and making sure an archive found there is the one the manifest
describes."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from hyperkvasir_cli.core.errors import ArchiveError, IntegrityError
from hyperkvasir_cli.ops.session import Session

if TYPE_CHECKING:
    from hyperkvasir_cli.core.manifest import Part


def ensure_archive(session: Session, part: Part) -> Path:
    """The part's archive, downloaded (and verified) first when it is missing.

    A file already at the archive's path is returned as it is: callers that use it check
    it under the lock with :func:`ensure_verified` (extract does, in ``extract_part``).
    The caller must not hold the data lock; this takes it only when it has to download.
    """
    path = session.layout.archive_path(part)
    if path.exists():
        return path
    # The HTTP client and the download engine load only when something must be fetched.
    from hyperkvasir_cli.ops.downloader import download_options, make_downloader
    from hyperkvasir_cli.ops.requests import note_requests

    session.info(f"{part.name} is not on disk yet; downloading it")
    with session.locked():
        # Recorded first, so that a run killed during this download is visible to `sync`.
        note_requests(session, [part], "fetch", False, keep=True)
        record = session.record(part, fresh=True)
        make_downloader(session).download(part, record, download_options(session))
        session.record_store.forget_part_fields(part.name, "requested")
    session.records(fresh=True)
    return path


def ensure_verified(session: Session, part: Part, path: Path) -> None:
    """Make sure the archive at ``path`` is the part's before anything uses it.

    An archive the config records as verified, with the size it has now (and the sha256
    the manifest publishes, if it does), is trusted without reading it: a 58 GB archive is
    not hashed on every extraction. Any other,
    such as a file copied there by hand, is checked as `download` checks a file it finds
    at the final name: its size against the manifest (or the record) first, which costs
    nothing, then its sha256 against the manifest's, else the recorded one; when neither
    exists, the sha256 seen now is recorded as the first-seen value, with a note. Unless
    the manifest pins the sha256, a zip must also be a readable zip (its central directory
    is read): a recorded sha256 vouches only for what was first seen, which may have been
    an HTML page or a truncated file. A match is recorded as `download` records it. A
    mismatch raises :class:`IntegrityError` (exit 5), a file that is no readable zip
    :class:`ArchiveError` (exit 6, as a truncated zip does); either way, as `checksum`
    does, the file is left where it is, unused and unrecorded.

    The caller holds the data folder's lock.
    """
    from hyperkvasir_cli.check import integrity
    from hyperkvasir_cli.check.verify import record_matches_file
    from hyperkvasir_cli.core.hashing import FileDigest, sha256_file

    record = session.record(part, fresh=True)
    if record_matches_file(record, path) and (
        part.sha256 is None or (record is not None and record.sha256 == part.sha256)
    ):
        return
    expected = integrity.archive_expectation(part, record)
    size = path.stat().st_size
    result, reason = integrity.judge_archive(expected, FileDigest(size, {}), sizes_only=True)
    if result == "failed":
        raise _mismatch(part, path, reason)
    session.info(f"{part.name}: {path} is not recorded as verified; checking it before use")
    digest = sha256_file(path, session.task_progress(), label=f"checking {part.file}")
    result, reason = integrity.judge_archive(expected, FileDigest(size, {"sha256": digest}))
    if result == "failed":
        raise _mismatch(part, path, reason)
    if part.archive_kind == "zip" and part.sha256 is None:
        from hyperkvasir_cli.check.verify import zip_problem

        problem = zip_problem(path)
        if problem is not None:
            # Corrupt rather than another file (exit 6, as for a truncated zip): there is
            # nothing published to compare it with, and it is not recorded.
            raise ArchiveError(
                f"{part.name}: {path} is not a zip archive that can be read, so it is not "
                f"used: {problem}",
                hint=_LEFT_UNUSED
                + f"fetch it again with `hyperkvasir download {part.name} --force`",
            )
    if expected.sha256 is None:
        session.info(
            f"{part.name}: the manifest publishes no sha256 for {part.file}; recorded sha256 "
            f"{digest} as first seen: later checks prove only that the file has not changed "
            "since now"
        )
    session.record_store.record_verified(
        part.name, path, size, digest, part.sha256_source, session.clock.now()
    )
    session.records(fresh=True)


_LEFT_UNUSED = "the file was left where it is and not used; put the right file there, or "


def _mismatch(part: Part, path: Path, reason: str) -> IntegrityError:
    from hyperkvasir_cli.check.verify import looks_like_html

    html = "; it is an HTML page, not a zip" if looks_like_html(path) else ""
    return IntegrityError(
        f"{part.name}: {path} is not the part's archive: {reason}{html}",
        hint=_LEFT_UNUSED + f"fetch it again with `hyperkvasir download {part.name} --force`",
    )
