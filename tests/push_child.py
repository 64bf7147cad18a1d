"""A push run in a child process, announcing each part it finishes on stdout, so that a
test can kill it with SIGKILL at a known point (no sleeps, no timing guesses)."""

from __future__ import annotations

import sys
from pathlib import Path

from hyperkvasir_cli.transfer.s3_upload import upload_archive


class Announcing:
    def start(self, label: str, total: int | None, completed: int = 0) -> None:
        pass

    def extend(self, label: str, total: int | None, completed: int) -> None:
        pass

    def advance(self, amount: int) -> None:
        print(amount, flush=True)

    def finish(self) -> None:
        pass

    def note(self, message: str) -> None:
        pass


if __name__ == "__main__":
    archive, url, sha256, state = sys.argv[1:5]
    upload_archive(
        Path(archive),
        url,
        sha256=sha256,
        state_path=Path(state),
        progress=Announcing(),
        label="push",
        concurrency=1,
    )
