"""The Python API: the dataset from a notebook or a training script.

>>> from hyperkvasir_cli import HyperKvasir
>>> hk = HyperKvasir()                                  # doctest: +SKIP
>>> images = hk.path("labeled-images")                  # doctest: +SKIP

Each method runs the same workflow as the command of its name (:mod:`hyperkvasir_cli.ops`),
with the same settings precedence (the constructor's values, then ``HYPERKVASIR_<KEY>``,
then the config file, then the defaults), the same files, records and lock, and the same
guarantees. Results are the objects the commands render (their ``as_json()`` is what
``--json`` prints). A failure raises a :class:`~hyperkvasir_cli.core.errors.HyperkvasirError`
subclass carrying the command's exit code (``.exit_code``) and a hint (``.hint``). Nothing
is printed: pass a ``progress`` reporter to hear progress and messages.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hyperkvasir_cli.core.errors import UsageError
from hyperkvasir_cli.core.progress import ProgressReporter, SilentProgress
from hyperkvasir_cli.ops.session import Session, SessionOptions

if TYPE_CHECKING:
    from hyperkvasir_cli.core.config import Settings
    from hyperkvasir_cli.core.manifest import Manifest, Part
    from hyperkvasir_cli.export.features import TableExport
    from hyperkvasir_cli.ops.checksum import ChecksumResult
    from hyperkvasir_cli.ops.clean import CleanReport
    from hyperkvasir_cli.ops.export import ExportOutcome
    from hyperkvasir_cli.ops.members import MemberListing
    from hyperkvasir_cli.ops.preview import Preview
    from hyperkvasir_cli.ops.push import PushResult
    from hyperkvasir_cli.ops.split import Ratios, SplitResult
    from hyperkvasir_cli.ops.stats import Counted
    from hyperkvasir_cli.ops.status import PartStatus
    from hyperkvasir_cli.ops.sync import SyncReport
    from hyperkvasir_cli.remote.members import SelectionResult

PathLike = str | os.PathLike[str]


def _path(value: PathLike | None, name: str) -> Path | None:
    """An argument naming a file or folder; None stays None (the default applies). An
    empty string is a UsageError (exit 2): as a path it would mean the current folder."""
    if value is None:
        return None
    if isinstance(value, str) and not value.strip():
        raise UsageError(
            f"{name}= is empty (an unset environment variable?)",
            hint=f"give a path, or leave {name} out for the default",
        )
    return Path(value).expanduser()


def _names(parts: str | Sequence[str] | None) -> list[str]:
    """The part names asked for: one name, several, or none (None)."""
    return [parts] if isinstance(parts, str) else list(parts or [])


class HyperKvasir:
    """The HyperKvasir dataset on this machine.

    ``data_dir``: where archives and extracted trees go (None: the configured one).
    ``config``: the config file (None: ``HYPERKVASIR_CONFIG``, else the user's).
    ``manifest``: a manifest replacing the bundled one (None: ``HYPERKVASIR_MANIFEST``,
    else the bundled one). ``progress``: a reporter of progress and messages (None:
    silence). ``settings``: any setting of the config file (``connections=8``,
    ``mirrors=[...]``, ``wait_lock=30``, ...), winning over the environment and the file.

    The settings and the config file are read here, so that a bad value fails at once
    (:class:`~hyperkvasir_cli.core.errors.UsageError` for a value given here,
    :class:`~hyperkvasir_cli.core.errors.ConfigError` for one in the environment or the
    file). Each call then starts from the files as they are at that moment, as a command
    does, so records written by other runs in between are seen.
    """

    def __init__(
        self,
        data_dir: PathLike | None = None,
        *,
        config: PathLike | None = None,
        manifest: PathLike | None = None,
        progress: ProgressReporter | None = None,
        **settings: Any,
    ) -> None:
        manifest_at = manifest if isinstance(manifest, str) and "://" in manifest else None
        self._options = SessionOptions(
            _path(config, "config"),
            manifest_at or _path(manifest, "manifest"),
            _path(data_dir, "data_dir"),
        )
        self._environ = dict(os.environ)
        self._progress: ProgressReporter = progress if progress is not None else SilentProgress()
        self._settings = dict(settings)
        from hyperkvasir_cli.core.config import SETTING_KEYS

        unknown = sorted(set(settings) - set(SETTING_KEYS))
        if unknown:
            raise UsageError(
                f"unknown setting {unknown[0]!r}", hint=f"valid keys: {', '.join(SETTING_KEYS)}"
            )
        _ = self._session().settings  # read now, so that a bad value fails here

    def _session(self) -> Session:
        """A session as a command has one: files read afresh, nothing cached from before."""
        session = Session(options=self._options, environ=self._environ, progress=self._progress)
        session.override(**self._settings)
        return session

    def __repr__(self) -> str:
        return f"HyperKvasir(data_dir={str(self.data_dir)!r})"

    # what is configured -----------------------------------------------------------------

    @property
    def settings(self) -> Settings:
        """The settings in effect (a copy: changing it changes nothing)."""
        return self._session().settings.model_copy()

    @property
    def data_dir(self) -> Path:
        return self._session().layout.data_dir

    @property
    def manifest(self) -> Manifest:
        return self._session().manifest

    def _part(self, session: Session, name: str) -> Part:
        """The part called ``name``; an unknown name, or a group's (which stands for
        several parts), is a UsageError (exit 2) listing the valid ones."""
        return session.manifest.part(name)

    # the workflows ----------------------------------------------------------------------

    def parts(self) -> list[PartStatus]:
        """Every part of the manifest with its local state (absent, partial, downloaded,
        verified, extracted) and paths: what `hyperkvasir parts --json` lists."""
        from hyperkvasir_cli.ops.status import list_parts

        return list_parts(self._session()).parts

    def download(
        self,
        part: str,
        *,
        force: bool = False,
        mirrors: Sequence[str] = (),
        classes: Sequence[str] = (),
        include: Sequence[str] = (),
        exclude: Sequence[str] = (),
        to: PathLike | None = None,
    ) -> Path:
        """The path of the part's verified archive, downloaded (or resumed) first unless a
        verified copy is there (then no request is sent). ``force`` fetches it again;
        ``mirrors`` are base URLs tried before the configured ones and the manifest's.

        With ``classes``, ``include`` or ``exclude``: only those members, fetched by range
        straight into the extracted tree (``to``, else the configured folder), CRC-checked
        and resumable, as `hyperkvasir download PART --class ...` does; returns the part's
        folder in the tree. :meth:`fetch_members` gives the full report."""
        if classes or include or exclude:
            result = self.fetch_members(
                part, classes=classes, include=include, exclude=exclude, mirrors=mirrors, to=to
            )
            session = self._session()
            chosen = self._part(session, part)
            return result.target / (chosen.root or chosen.name)
        if to is not None:
            raise UsageError(
                "to= goes with a selection (classes=, include=, exclude=)",
                hint="a whole archive goes to the archives folder; extract(part, to=...) "
                "unpacks it elsewhere",
            )
        from hyperkvasir_cli.ops.downloader import download_options
        from hyperkvasir_cli.ops.downloads import download_parts

        session = self._session()
        chosen = self._part(session, part)
        options = download_options(session, mirrors=list(mirrors), force=force)
        return download_parts(session, [chosen], options).outcomes[0].path

    def fetch_members(
        self,
        part: str,
        *,
        classes: Sequence[str] = (),
        include: Sequence[str] = (),
        exclude: Sequence[str] = (),
        mirrors: Sequence[str] = (),
        to: PathLike | None = None,
        dry_run: bool = False,
    ) -> SelectionResult:
        """Fetch only the selected members of a zip part from the server, by range, into
        the extracted tree: what `hyperkvasir download PART --class ... --json` reports
        (members, bytes and requests; with ``dry_run``, what would be fetched and the share
        of the archive, nothing written)."""
        from hyperkvasir_cli.ops.members import selective_download

        return selective_download(
            self._session(),
            part,
            classes=classes,
            include=include,
            exclude=exclude,
            mirrors=mirrors,
            to=_path(to, "to"),
            dry_run=dry_run,
        )

    def ls(
        self,
        part: str,
        *,
        remote: bool = False,
        classes: Sequence[str] = (),
        include: Sequence[str] = (),
        exclude: Sequence[str] = (),
        mirrors: Sequence[str] = (),
    ) -> MemberListing:
        """The part's members (path, size, compressed size, CRC-32, present in the tree):
        from the downloaded archive, or with ``remote`` from the server's copy, reading
        only its central directory (kept: listing again costs one conditional request).
        What `hyperkvasir ls PART --json` prints; ``.members`` is the list."""
        from hyperkvasir_cli.ops.members import list_members

        return list_members(
            self._session(),
            part,
            remote=remote,
            include=include,
            exclude=exclude,
            classes=classes,
            mirrors=mirrors,
        )

    def extract(
        self,
        part: str,
        to: PathLike | None = None,
        include: Sequence[str] = (),
        exclude: Sequence[str] = (),
        classes: Sequence[str] = (),
        *,
        jobs: int | None = None,
        verify: bool = False,
        force: bool = False,
    ) -> Path:
        """Extract the part (its archive downloaded first when missing) into ``to`` (None:
        the configured folder) and return the folder its files are in
        (``<to>/labeled-images`` for the labeled images). ``include``/``exclude`` are globs
        on the member path (``*`` matches ``/`` too); ``classes`` names classes in any
        spelling (``"polyp"``, ``"polyps"``). Members already extracted and intact are
        skipped, so an interrupted call continues where it stopped."""
        from hyperkvasir_cli.ops.extract import extract_requested, requested_parts

        session = self._session()
        parts, request = requested_parts(
            session,
            [part],
            to=_path(to, "to"),
            include=include,
            exclude=exclude,
            classes=classes,
            jobs=jobs,
            verify=verify,
            force=force,
            delete_archive=False,
        )
        report = extract_requested(session, parts, request)
        return report.parts[0].tree

    def path(self, part: str) -> Path:
        """The folder of the part's extracted files; the part is downloaded and extracted
        first when no whole extraction of it is recorded. For a part that is not a zip
        (the official split files), the path of the verified file."""
        from hyperkvasir_cli.ops.status import complete_tree

        session = self._session()
        chosen = self._part(session, part)
        if chosen.archive_kind != "zip":
            return self.download(part)
        tree = complete_tree(session, chosen)
        if tree is not None and tree.is_dir():
            return tree
        return self.extract(part)

    def checksum(
        self,
        parts: str | Sequence[str] | None = None,
        deep: bool = False,
        extracted: bool = False,
        *,
        quick: bool = False,
        to: PathLike | None = None,
        jobs: int | None = None,
    ) -> ChecksumResult:
        """Check the parts' archives (size and sha256), with ``deep`` every zip member's
        CRC-32, with ``extracted`` every extracted file against the archive (None: every
        part downloaded here). A mismatch is not raised: the result's ``ok`` is False, its
        ``items`` say what failed, and ``failure()`` gives the error the command exits
        with. What was verified is recorded, as the command does."""
        from hyperkvasir_cli.check.parts import CheckOptions
        from hyperkvasir_cli.ops.checksum import checksum

        session = self._session()
        names = _names(parts)
        target = _path(to, "to")
        options = CheckOptions(
            deep=deep,
            extracted=extracted,
            quick=quick,
            to=target.absolute() if target is not None else None,
            jobs=session.jobs(jobs),
        )
        return checksum(session, names, options)

    def stats(
        self,
        part: str,
        *,
        from_archive: bool = False,
        images: bool = False,
        jobs: int | None = None,
        remote: bool = False,
        video_headers: bool = False,
    ) -> Counted:
        """The part's counts per class, organ and category beside the published ones
        (``differences()`` lists what differs), from its extracted tree, else its archive,
        or with ``remote`` from the server's copy (its central directory; no archive
        needed); what `hyperkvasir stats PART --json` prints. ``images`` also reads image
        sizes. The side files are read when here (the video metadata for the videos'
        durations, the image metadata with ``images``); ``"unlabeled-features"`` and
        ``"unlabeled-predictions"`` count the features and the predicted labels."""
        from hyperkvasir_cli.ops.stats import count_parts

        report = count_parts(
            self._session(),
            [part],
            from_archive=from_archive,
            images=images,
            jobs=jobs,
            remote=remote,
            video_headers=video_headers,
        )
        return report.parts[0]

    def split(
        self,
        strategy: str = "stratified",
        ratios: Ratios | None = None,
        seed: int | None = None,
        out: PathLike | None = None,
        *,
        folds: int | None = None,
        format: str = "csv",
        link: str | None = None,
        part: str = "labeled-images",
        from_archive: bool = False,
        force: bool = False,
        from_predictions: str | Sequence[str] | None = None,
        min_confidence: float = 0.0,
    ) -> SplitResult:
        """Write a reproducible split into ``out`` (None:
        ``<data_dir>/splits/<part>-<strategy>``) and return it (``split.items``, each with
        its path and class; ``class_counts()``; ``as_json()``).

        ``strategy``: ``"stratified"`` (each class on its own), ``"random"``, or
        ``"official"`` (the published folds). ``ratios``: shares summing to 1, as numbers
        or text (default 0.7, 0.15, 0.15); or ``folds``: K folds. ``seed`` defaults to 0.
        ``format``: ``"csv"``, ``"json"`` or ``"imagefolder"`` (with ``link``
        ``"symlink"``, ``"hardlink"`` or ``"copy"``). The same images, options and seed
        give byte-identical files on any machine. ``from_predictions``: a model's part of
        ``unlabeled-predictions`` (several must agree; ``"all"``): a pseudo-labelled split
        of the unlabeled images those models labelled alike with at least
        ``min_confidence``."""
        from hyperkvasir_cli.ops.split import split_images

        models = from_predictions
        if models is not None and not isinstance(models, str):
            models = ",".join(models)
        return split_images(
            self._session(),
            strategy=strategy,
            folds=folds,
            ratios=ratios,
            seed=seed,
            out=_path(out, "out"),
            output_format=format,
            link=link,
            part_name=part,
            from_archive=from_archive,
            force=force,
            from_predictions=models,
            min_confidence=min_confidence,
        )

    def export_features(self, to: PathLike, *, format: str = "csv") -> TableExport:
        """The unlabeled images' features (the ARFF, downloaded when missing) joined with
        their cluster and each downloaded model's predicted label, written as one CSV or
        Parquet file (``format``) and ``export.json`` into the folder ``to`` (or an
        ``s3://`` prefix); what `hyperkvasir export unlabeled-features` writes."""
        from hyperkvasir_cli.ops.export_tables import export_features

        target = str(to) if str(to).startswith("s3://") else str(Path(to).expanduser())
        return export_features(self._session(), output_format=format, to=target)

    def sync(
        self,
        parts: str | Sequence[str] | None = None,
        check_remote: bool = False,
        *,
        all_parts: bool = False,
        extract: bool = True,
    ) -> SyncReport:
        """Download or resume, verify and extract the parts (None: every part recorded
        here); a part already right costs no request, and ``check_remote`` one HEAD to see
        whether the server's file changed. The report lists what was done, part by part."""
        from hyperkvasir_cli.ops.sync import sync_parts

        names = _names(parts)
        return sync_parts(
            self._session(),
            names,
            all_parts=all_parts,
            check_remote=check_remote,
            extract=extract,
        )

    def sync_preview(
        self,
        parts: str | Sequence[str] | None = None,
        *,
        all_parts: bool = False,
        extract: bool = True,
    ) -> Preview:
        """What :meth:`sync` would do, from what is on disk alone: no request, nothing
        written (`sync --dry-run`)."""
        from hyperkvasir_cli.ops.sync import preview_sync_parts

        names = _names(parts)
        return preview_sync_parts(self._session(), names, all_parts=all_parts, extract=extract)

    def clean(self, *, dry_run: bool = False) -> CleanReport:
        """Remove copies set aside as bad, partial downloads that cannot be continued and
        temporary files of killed runs (never an archive, an extracted file, a record or a
        partial that can be continued); ``freed`` says how many bytes (`clean`)."""
        from hyperkvasir_cli.ops.clean import clean

        return clean(self._session(), dry_run=dry_run)

    def push(self, parts: str | Sequence[str], to: str, *, jobs: int | None = None) -> PushResult:
        """Upload the parts' verified archives under the ``s3://bucket/prefix/`` ``to`` and
        write ``manifest.yaml`` there naming them (then the original URLs), as `push` does:
        multipart, resumable after a kill, each part MD5-checked, the object checked after
        completing; an object that already holds an archive is left alone. Needs
        ``pip install 'hyperkvasir[s3]'``; the endpoint and credentials come from the
        environment (``AWS_ENDPOINT_URL``, ``AWS_ACCESS_KEY_ID``, ``AWS_PROFILE``, ...)."""
        from hyperkvasir_cli.ops.push import DEFAULT_PARTS_IN_FLIGHT, push_parts

        names = [parts] if isinstance(parts, str) else list(parts)
        return push_parts(
            self._session(), names, to, parts_in_flight=jobs or DEFAULT_PARTS_IN_FLIGHT
        )

    def export(
        self,
        part: str,
        format: str,
        to: PathLike,
        *,
        split: PathLike | None = None,
        shard_size: str | int = "500MB",
        from_archive: bool = False,
    ) -> ExportOutcome:
        """Write ``part`` as training-ready shards (``format`` ``"parquet"`` or
        ``"webdataset"``) into the folder or ``s3://`` prefix ``to``, one folder per split
        of the ``split`` output folder ``split`` (else ``all/``), with ``export.json``
        listing every shard; ``as_json()`` is what `export --json` prints. Parquet needs
        ``pip install 'hyperkvasir[export]'``. ``"unlabeled-features"`` (``format``
        ``"csv"`` or ``"parquet"``) writes the features table (see :meth:`export_features`)."""
        from hyperkvasir_cli.ops.export import export_part

        target = to if isinstance(to, str) and to.startswith("s3://") else str(_path(to, "to"))
        return export_part(
            self._session(),
            part,
            shard_format=format,
            to=target,
            split_dir=_path(split, "split"),
            shard_size=shard_size,
            from_archive=from_archive,
        )
