"""`stats` (and the Python API's ``stats``): count each part's files per class, organ and
category beside the published counts, from the extracted tree or the zip."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from hyperkvasir_cli.core.errors import IntegrityError, UsageError

if TYPE_CHECKING:
    from hyperkvasir_cli.core.manifest import Part
    from hyperkvasir_cli.dataset.stats.base import PartStats
    from hyperkvasir_cli.ops.session import Session
    from hyperkvasir_cli.ops.table_stats import TableStats

    Counted = PartStats | TableStats


def parts_to_count(session: Session, names: list[str], from_archive: bool) -> list[Part]:
    """The named data parts (a part that is no data part is a usage error), else every
    data part extracted or downloaded here (none: a usage error, exit 2)."""
    from hyperkvasir_cli.dataset.paths import PART_KINDS, part_kind

    if names:
        chosen = session.manifest.select(names)
        for part in chosen:
            if part_kind(part) is None:
                raise UsageError(
                    f"stats counts the data parts ({', '.join(PART_KINDS)}), "
                    f"unlabeled-features and unlabeled-predictions, not {part.name!r}",
                    hint=_not_counted_hint(part.name),
                )
        return chosen
    present = [
        p for p in session.manifest.parts if part_kind(p) and _is_present(session, p, from_archive)
    ]
    if not present:
        where = "downloaded" if from_archive else "extracted or downloaded"
        raise UsageError(
            f"no data part is {where} in {session.layout.data_dir}",
            hint="run `hyperkvasir download labeled-images --extract`, or pass --data-dir",
        )
    return present


def _not_counted_hint(name: str) -> str:
    from hyperkvasir_cli.dataset.tables.parts import IMAGE_METADATA, VIDEO_METADATA

    if name == VIDEO_METADATA:
        return "the video metadata is read by `hyperkvasir stats labeled-videos`"
    if name == IMAGE_METADATA:
        return "the image metadata is compared by `hyperkvasir stats labeled-images --images`"
    return "name one of those parts, or none for every one present"


def _is_present(session: Session, part: Part, from_archive: bool) -> bool:
    from hyperkvasir_cli.dataset.sources import choose_source_kind, tree_candidates

    root = part.root or part.name
    tree = any((t / root).is_dir() for t in tree_candidates(session.layout, session.record(part)))
    archive = session.layout.archive_path(part).is_file()
    return choose_source_kind(tree, archive, from_archive) is not None


def count_part(
    session: Session,
    part: Part,
    *,
    from_archive: bool = False,
    images: bool = False,
    jobs: int,
    remote: bool = False,
    video_headers: bool = False,
) -> PartStats:
    """One part's counts, from its extracted tree (else, saying so, its archive), or from
    the archive with ``from_archive``, or from the server's copy with ``remote`` (its
    directory; the few files a part's stats read, such as masks or video headers, by
    range); ``images`` also reads every image's size. The published metadata is used when
    it is here: the videos' stands in for their headers (``video_headers`` reads and
    compares them too), the images' is compared with them."""
    from hyperkvasir_cli.dataset.sources import DataSource, locate_source
    from hyperkvasir_cli.dataset.stats.base import StatsOptions
    from hyperkvasir_cli.dataset.stats.compute import compute_stats
    from hyperkvasir_cli.ops.table_stats import metadata_options

    if remote:
        from hyperkvasir_cli.ops.members import remote_directory

        client, directory, _ = remote_directory(session, part)
        location = session.layout.archives_dir / part.file
        source = DataSource("remote", location, part.root or part.name, (client, directory))
        try:
            # One connection, in this process: the server's copy is read politely.
            side = metadata_options(session, part, images=images, video_headers=video_headers)
            options = StatsOptions(images=images, jobs=1, **side)
            return compute_stats(part, source, options, session.task_progress("files"))
        finally:
            client.client.close()
    source = locate_source(part, session.layout, session.record(part), from_archive=from_archive)
    from hyperkvasir_cli.ops.members import selection_warning

    warning = selection_warning(part, source)
    if warning is not None:
        session.warn(warning)
    if source.kind == "archive" and not from_archive:
        session.info(f"{part.name}: not extracted; reading {source.location}")
    side = metadata_options(session, part, images=images, video_headers=video_headers)
    options = StatsOptions(images=images, jobs=jobs, **side)
    return compute_stats(part, source, options, session.task_progress("files"))


@dataclass(frozen=True)
class StatsReport:
    """The counts of each part asked for; ``one_named``: one part was named, so the JSON
    document is that part's own, not ``{"parts": [...]}``."""

    parts: list[Counted]
    one_named: bool = False

    def as_json(self) -> dict[str, Any]:
        if self.one_named:
            return self.parts[0].as_json()
        matches = [r.as_json()["matches_published"] for r in self.parts]
        return {
            "parts": [r.as_json() for r in self.parts],
            "matches_published": None if None in matches else all(matches),
        }

    def differences(self) -> list[tuple[str, str]]:
        """(part, what differs) for every count that differs from the published one."""
        return [(counted_name(r), d) for r in self.parts for d in r.differences()]

    def difference_error(self) -> IntegrityError | None:
        """`--strict`: the error (exit 5) naming the first differences; None when every
        count matches."""
        differing = self.differences()
        if not differing:
            return None
        first = "; ".join(f"{part}: {what}" for part, what in differing[:3])
        more = f" and {len(differing) - 3} more" if len(differing) > 3 else ""
        return IntegrityError(
            f"{_counts_differ(len(differing))} from the published ones: {first}{more}",
            hint="the counts printed show each difference; an unfinished download or extraction "
            "is the usual cause",
        )

    def difference_warning(self) -> str | None:
        """Without --strict: one line saying that counts differ; None when none does."""
        differing = self.differences()
        if not differing:
            return None
        return (
            f"{_counts_differ(len(differing))} from the published ones (--strict makes this exit 5)"
        )


def counted_name(result: Counted) -> str:
    """The part (or group) a result counts."""
    overview = getattr(result, "overview", None)
    return overview.part if overview is not None else str(getattr(result, "part", ""))


def _counts_differ(count: int) -> str:
    return "1 count differs" if count == 1 else f"{count} counts differ"


def count_parts(
    session: Session,
    names: list[str],
    *,
    from_archive: bool = False,
    images: bool = False,
    jobs: int | None = None,
    remote: bool = False,
    video_headers: bool = False,
) -> StatsReport:
    """The counts of the named data parts, else of every one present (see
    :func:`parts_to_count`); with ``remote``, of the named parts' copies on the server;
    then of the features and predicted labels when named (``unlabeled-features``,
    ``unlabeled-predictions`` or one model's part). Reads only (but for the server's
    directory, kept in the archives folder); differences are reported, not raised."""
    from hyperkvasir_cli.ops.table_stats import table_stats
    from hyperkvasir_cli.ops.tables import is_table_subject

    if remote and (from_archive or images):
        option = "--from-archive" if from_archive else "--images"
        raise UsageError(
            f"--remote and {option} do not go together",
            hint="--remote counts the server's copy from its directory; --images reads every "
            "image, which needs it downloaded first",
        )
    if remote and not names:
        raise UsageError(
            "name the parts to count on the server with --remote",
            hint="for example `hyperkvasir stats labeled-images --remote`",
        )
    subjects = [n for n in names if is_table_subject(session.manifest, n)]
    data_names = [n for n in names if n not in subjects]
    results: list[Counted] = []
    if data_names or not subjects:
        chosen = parts_to_count(session, data_names, from_archive)
        workers = session.jobs(jobs)
        results += [
            count_part(
                session,
                part,
                from_archive=from_archive,
                images=images,
                jobs=workers,
                remote=remote,
                video_headers=video_headers,
            )
            for part in chosen
        ]
    results += table_stats(session, subjects)
    return StatsReport(results, one_named=len(names) == 1)
