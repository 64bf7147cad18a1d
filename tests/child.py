"""The command line in a process of its own (to kill it, interrupt it, or run it under
another hash seed or host name), and waiting for what it does by events, not sleeps.

The child runs with ``tests/childhooks`` on PYTHONPATH (see its sitecustomize): every
``os.replace`` it makes (a finished file, a sidecar checkpoint, a record) is reported
through a FIFO, and :meth:`Child.wait_for` re-checks its condition at each report.
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import IO

HOOKS = Path(__file__).resolve().parent / "childhooks"
# The package under test: the copy these tests belong to (a scratch copy under mutation
# testing included), whatever is installed.
SOURCE_ROOT = Path(__file__).resolve().parent.parent


def child_environment(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """This process's environment for a child, with the hooks and this source tree first
    on PYTHONPATH; ``extra`` is added last."""
    env = dict(os.environ)
    path = [str(HOOKS), str(SOURCE_ROOT), env.get("PYTHONPATH", "")]
    env["PYTHONPATH"] = os.pathsep.join(p for p in path if p)
    env.update(extra or {})
    return env


def run_child(
    *args: str, env: Mapping[str, str] | None = None, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    """`hyperkvasir ARGS...` in a child process, to its end; output captured as text."""
    return subprocess.run(
        [sys.executable, "-m", "hyperkvasir_cli", *args],
        env=child_environment(env),
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
    )


class Child:
    """A running `hyperkvasir ARGS...` whose file replacements arrive as events."""

    def __init__(
        self,
        *args: str,
        env: Mapping[str, str] | None = None,
        freeze_at: str | None = None,
        program: Sequence[str] = ("-m", "hyperkvasir_cli"),
        stderr: IO[bytes] | int = subprocess.PIPE,
    ) -> None:
        """Start ``python PROGRAM ARGS...`` (by default the command line)."""
        self._folder = tempfile.TemporaryDirectory(prefix="hk-events-")
        fifo = Path(self._folder.name) / "events"
        os.mkfifo(fifo)
        # Opened before the child starts, non-blocking, so the child's open never waits.
        self._events = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
        # A writer of our own keeps the FIFO open, so select() never reports end of file
        # between the child's writers: it returns only when an event arrives.
        self._keep_open = os.open(fifo, os.O_WRONLY)
        self._buffer = b""
        self.events: list[str] = []
        extra = {"HK_TEST_EVENTS": str(fifo), **(env or {})}
        if freeze_at is not None:
            extra["HK_TEST_FREEZE"] = freeze_at
        self.process = subprocess.Popen(
            [sys.executable, *program, *args],
            env=child_environment(extra),
            stdout=subprocess.PIPE,
            stderr=stderr,
        )

    def wait_for(self, condition: Callable[[], bool], what: str, timeout: float = 120.0) -> None:
        """Block until ``condition()`` holds, checking it again at every event the child
        sends; AssertionError if the child ends or ``timeout`` passes first."""
        deadline = time.monotonic() + timeout
        while not condition():
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"timed out waiting for {what}; events: {self.events[-5:]}")
            if not self._read_events(left) and self.process.poll() is not None:
                if condition():
                    return
                raise AssertionError(
                    f"the child ended (exit {self.process.returncode}) before {what}"
                )

    def frozen(self) -> list[int]:
        """Pids of the processes (the child or its workers) stopped at ``freeze_at``."""
        return [int(e.split()[0]) for e in self.events if e.split()[1] == "frozen"]

    def _read_events(self, timeout: float) -> bool:
        """Read what the FIFO holds, waiting up to ``timeout`` (at most half a second, so
        that a child that died is noticed) for something; False if nothing came."""
        ready, _, _ = select.select([self._events], [], [], min(timeout, 0.5))
        if not ready:
            return False
        self._buffer += os.read(self._events, 65536)
        *lines, self._buffer = self._buffer.split(b"\n")
        self.events += [line.decode() for line in lines]
        return True

    def kill(self, *pids: int) -> None:
        """SIGKILL the child (and ``pids``, e.g. frozen workers) and reap it."""
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        self.process.kill()
        self.process.communicate()

    def close(self) -> None:
        if self.process.poll() is None:
            self.kill(*self.frozen())
        os.close(self._events)
        os.close(self._keep_open)
        self._folder.cleanup()
