"""Where every file of a part lives on disk, derived from the settings alone."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from hyperkvasir_cli.core.config import Settings
from hyperkvasir_cli.core.manifest import Part
from hyperkvasir_cli.core.records import records_path

LOCK_FILE_NAME = ".hyperkvasir.lock"


@dataclass(frozen=True)
class Layout:
    data_dir: Path
    archives_dir: Path
    extract_dir: Path

    @classmethod
    def from_settings(cls, settings: Settings) -> Layout:
        data_dir = settings.data_dir.expanduser()
        return cls(
            data_dir=data_dir,
            archives_dir=(settings.archives_dir or data_dir / "archives").expanduser(),
            extract_dir=(settings.extract_dir or data_dir).expanduser(),
        )

    @property
    def lock_path(self) -> Path:
        return self.data_dir / LOCK_FILE_NAME

    @property
    def records_path(self) -> Path:
        """The data folder's part records (see records.py)."""
        return records_path(self.data_dir)

    @property
    def folders(self) -> tuple[Path, ...]:
        """Every folder this layout writes parts to."""
        return tuple(dict.fromkeys((self.data_dir, self.archives_dir, self.extract_dir)))

    def archive_path(self, part: Part) -> Path:
        return self.archives_dir / part.file

    def partial_path(self, part: Part) -> Path:
        return self.archives_dir / f"{part.file}.part"

    def sidecar_path(self, part: Part) -> Path:
        return self.archives_dir / f"{part.file}.part.json"

    def extracted_root(self, part: Part, target: Path | None = None) -> Path:
        """The folder an extracted part occupies: the zip's top folder under the target."""
        base = target if target is not None else self.extract_dir
        return base / (part.root or part.name)
