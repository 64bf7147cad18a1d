"""Test hooks for child processes (`python -m hyperkvasir_cli ...` started by a test).

Python imports this module at start-up when its folder is on PYTHONPATH, which
tests/child.py arranges; extraction workers inherit it. Each hook is off unless its
environment variable is set:

- ``HK_TEST_EVENTS=FIFO``: after every ``os.replace`` (how the program puts a finished
  file, sidecar or record in place), write ``<pid> replace <destination>`` to the FIFO,
  so a test waits for what it needs by reading events, never by sleeping.
- ``HK_TEST_FREEZE=TEXT``: after an ``os.replace`` whose destination contains TEXT, stop
  there (for at most a minute), so a test can kill the process at that exact point.
- ``HK_TEST_HOSTNAME=NAME``: the machine's host name, as every usual API reports it.

Always: Ctrl-C (SIGINT) raises KeyboardInterrupt in the child, as at a terminal, even when
the suite runs as a background job: a shell without job control starts those with SIGINT
ignored, every child inherits that, and Python then leaves it ignored.
"""

from __future__ import annotations

import os
import signal
import threading

if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)

_events_path = os.environ.get("HK_TEST_EVENTS")
_freeze_at = os.environ.get("HK_TEST_FREEZE")
_hostname = os.environ.get("HK_TEST_HOSTNAME")

if _events_path or _freeze_at:
    _real_replace = os.replace
    _events_fd: list[int] = []

    def _tell(line: str) -> None:
        if not _events_path:
            return
        try:
            if not _events_fd:
                _events_fd.append(os.open(_events_path, os.O_WRONLY | os.O_NONBLOCK))
            os.write(_events_fd[0], line.encode())
        except OSError:
            pass  # a full FIFO (the test stopped reading) must not stall the program

    def _replace(src: object, dst: object, **kwargs: object) -> None:
        _real_replace(src, dst, **kwargs)  # type: ignore[arg-type]
        destination = os.fsdecode(dst)  # type: ignore[arg-type]
        _tell(f"{os.getpid()} replace {destination}\n")
        if _freeze_at and _freeze_at in destination:
            _tell(f"{os.getpid()} frozen {destination}\n")
            threading.Event().wait(60)
            os._exit(99)

    os.replace = _replace  # type: ignore[assignment]

if _hostname:
    import platform
    import socket

    _name = _hostname
    _real_uname = os.uname

    def _uname() -> os.uname_result:
        real = _real_uname()
        return os.uname_result((real.sysname, _name, real.release, real.version, real.machine))

    os.uname = _uname  # type: ignore[assignment]
    socket.gethostname = lambda: _name  # type: ignore[assignment]
    platform.node = lambda: _name  # type: ignore[assignment]
