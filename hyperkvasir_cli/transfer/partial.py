"""The partial download on disk: `<file>.part` and its sidecar, loaded with suspicion."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from pathlib import Path

from hyperkvasir_cli.transfer.sidecar import Sidecar, load_sidecar, save_sidecar


@dataclass(frozen=True)
class PartialFile:
    data_path: Path
    sidecar_path: Path

    def exists(self) -> bool:
        return self.data_path.exists()

    def load(self) -> Sidecar | None:
        """The sidecar when it can be trusted to describe the .part file, else None.

        A sequential download (one segment from 0) is trusted up to the file's length:
        its bytes were written in order from responses of one version (the sidecar gets the
        new validators before any byte of a new version is written), and a killed process
        loses nothing the kernel accepted. Segmented files trust only the sidecar's counts.
        """
        if not self.data_path.exists():
            return None
        sidecar = load_sidecar(self.sidecar_path)
        if sidecar is None or not sidecar.segments:
            return None
        on_disk = self.data_path.stat().st_size
        if len(sidecar.segments) == 1 and sidecar.segments[0].start == 0:
            segment = sidecar.segments[0]
            limit = on_disk if segment.end is None else min(on_disk, segment.end)
            segment.done = max(0, limit)
            return sidecar
        if sidecar.size is None or on_disk < max(s.offset for s in sidecar.segments):
            return None
        return sidecar

    def save(self, sidecar: Sidecar, durable: bool = True) -> None:
        save_sidecar(self.sidecar_path, sidecar, durable)

    def discard(self) -> None:
        for path in (self.data_path, self.sidecar_path):
            with contextlib.suppress(FileNotFoundError):
                path.unlink()

    def discard_sidecar(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.sidecar_path.unlink()
