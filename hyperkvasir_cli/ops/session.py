"""What every workflow works in: settings, manifest, layout, config file and its records,
the data folder's lock, a clock and a progress reporter. No console.

A :class:`Session` loads each of these when first asked (the manifest and the settings
need pydantic and YAML), so that building one costs nothing. Settings resolve by the one
precedence of every command and of the Python API: option (the session's own values),
environment (``HYPERKVASIR_<KEY>``), config file, default.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hyperkvasir_cli.core.about import ENV_PREFIX
from hyperkvasir_cli.core.clock import Clock, SystemClock
from hyperkvasir_cli.core.errors import UsageError
from hyperkvasir_cli.core.progress import ProgressReporter, SilentProgress, Unit

if TYPE_CHECKING:
    from hyperkvasir_cli.core.config import ConfigFile, ConfigStore, Settings
    from hyperkvasir_cli.core.layout import Layout
    from hyperkvasir_cli.core.manifest import Manifest, Part
    from hyperkvasir_cli.core.records import PartRecord, RecordStore


def usable_cores() -> int:
    """The cores this process may run on (its affinity), not merely the machine's."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return os.cpu_count() or 1


@dataclass(frozen=True)
class SessionOptions:
    """The three places a caller may name: the config file, the manifest, the data folder
    (each None: the environment's, else the default)."""

    config: Path | None = None
    manifest: Path | str | None = None  # a file, or an s3:// URL
    data_dir: Path | None = None


@dataclass
class Session:
    """Everything a workflow reads, loaded lazily. ``progress`` hears every message
    (:meth:`info`, :meth:`warn`) and, unless ``task_reporters`` gives each task a reporter
    of its own (the command layer does: a bar in bytes or in files), every task too."""

    options: SessionOptions = field(default_factory=SessionOptions)
    environ: Mapping[str, str] = field(default_factory=lambda: dict(os.environ))
    setting_overrides: dict[str, Any] = field(default_factory=dict)
    clock: Clock = field(default_factory=SystemClock)
    progress: ProgressReporter = field(default_factory=SilentProgress)
    task_reporters: Callable[[Unit], ProgressReporter] | None = None
    _manifest: Manifest | None = None
    _config_file: ConfigFile | None = None
    _records: dict[str, PartRecord] | None = None
    _settings: Settings | None = None
    _sources: dict[str, str] | None = None

    # messages and progress -------------------------------------------------------------

    def info(self, message: str) -> None:
        self.progress.info(message)

    def warn(self, message: str) -> None:
        self.progress.warn(message)

    def task_progress(self, unit: Unit = "bytes") -> ProgressReporter:
        """The reporter for one task whose ``advance`` counts ``unit``."""
        if self.task_reporters is None:
            return self.progress
        return self.task_reporters(unit)

    # the config file and its part records ----------------------------------------------

    @property
    def config_path(self) -> Path:
        from hyperkvasir_cli.core.config import resolve_config_path

        return resolve_config_path(self.options.config, self.environ)

    @property
    def store(self) -> ConfigStore:
        from hyperkvasir_cli.core.config import ConfigStore

        return ConfigStore(self.config_path)

    @property
    def config_file(self) -> ConfigFile:
        if self._config_file is None:
            self._config_file = self.store.read()
        return self._config_file

    @property
    def record_store(self) -> RecordStore:
        """The data folder's records (see core/records.py): where every record is written.
        Until the data folder has its records file, an old config file's records of this
        data folder are read as its records."""
        from hyperkvasir_cli.core.records import RecordStore, legacy_records_for

        layout = self.layout
        return RecordStore(
            layout.records_path,
            legacy=lambda: legacy_records_for(
                self.config_file.parts, layout.folders, layout.extract_dir
            ),
        )

    def records(self, *, fresh: bool = False) -> Mapping[str, PartRecord]:
        """The part records of this data folder, by part name: the one place they are read.
        ``fresh`` reads them again (another run, or this one, may have written them); else
        the copy read first is used."""
        if fresh or self._records is None:
            if fresh:
                self._config_file = None
            self._records = self.record_store.read()
        return self._records

    def record(self, part: Part | str, *, fresh: bool = False) -> PartRecord | None:
        """One part's record, None when nothing was recorded for it."""
        name = part if isinstance(part, str) else part.name
        return self.records(fresh=fresh).get(name)

    # settings --------------------------------------------------------------------------

    def override(self, **values: Any) -> None:
        """Values given by the caller for settings (--connections, ``connections=``);
        None leaves a setting to the environment, the config file or its default."""
        self.setting_overrides.update({k: v for k, v in values.items() if v is not None})
        self._settings = None
        self._records = None  # the data folder may have changed

    def _resolve(self) -> tuple[Settings, dict[str, str]]:
        if self._settings is None or self._sources is None:
            options = dict(self.setting_overrides)
            if self.options.data_dir is not None:
                options["data_dir"] = self.options.data_dir
            from hyperkvasir_cli.core.config import resolve_settings

            self._settings, self._sources = resolve_settings(
                self.config_file.settings, self.environ, options, self.config_path
            )
        return self._settings, self._sources

    @property
    def settings(self) -> Settings:
        return self._resolve()[0]

    @property
    def setting_sources(self) -> dict[str, str]:
        return self._resolve()[1]

    @property
    def layout(self) -> Layout:
        from hyperkvasir_cli.core.layout import Layout

        return Layout.from_settings(self.settings)

    def jobs(self, option: int | None) -> int:
        """Worker count: the caller's, else the `jobs` setting, else the usable cores."""
        return option or self.settings.jobs or usable_cores()

    # the manifest ----------------------------------------------------------------------

    @property
    def manifest(self) -> Manifest:
        if self._manifest is None:
            from hyperkvasir_cli.core.config import environment_value

            location = self.options.manifest
            if location is None:
                # Set but empty is a config error naming it, not the bundled manifest.
                location = environment_value(self.environ, f"{ENV_PREFIX}MANIFEST")
            self._manifest = _load_manifest(location, self.environ)
        return self._manifest

    def select_parts(self, names: list[str] | None, all_parts: bool = False) -> list[Part]:
        """Named parts (an unknown name is a usage error listing the valid ones), or every
        part with ``all_parts``; naming parts and asking for all is a usage error."""
        if all_parts and names:
            raise UsageError("name parts or pass --all, not both")
        if all_parts:
            return list(self.manifest.parts)
        if not names:
            return []
        return self.manifest.select(names)

    # the data folder's lock ------------------------------------------------------------

    @contextmanager
    def locked(self, wait_lock: float | None = None) -> Iterator[None]:
        """Hold the data folder's lock (every writer there does); LockedError (exit 8) when
        another run holds it past ``wait_lock`` seconds (default: the `wait_lock` setting)."""
        wait = self.settings.wait_lock if wait_lock is None else wait_lock
        from hyperkvasir_cli.core.lock import data_lock

        with data_lock(self.layout.lock_path, wait, on_wait=self.info):
            yield


def _load_manifest(location: Path | str | None, environ: Mapping[str, str]) -> Manifest:
    """The manifest at a path or an ``s3://`` URL (read through the s3 extra), else the
    bundled one."""
    from hyperkvasir_cli.core.manifest import load_manifest, parse_manifest_text

    if isinstance(location, str) and location.startswith("s3://"):
        from hyperkvasir_cli.transfer.s3_client import read_object

        return parse_manifest_text(read_object(location, environ).decode("utf-8"), location)
    return load_manifest(None if location is None else Path(location).expanduser())
