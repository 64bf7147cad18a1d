"""Run one command; write its exit code, wall time and ru_maxrss (KiB) to a report file.

Usage: python -I -S launcher.py REPORT COMMAND [ARG...]

The benchmark starts every command through this small process rather than forking it
itself. On Linux a new process inherits its parent's resident pages at fork (or, with
vfork, its parent's high-water mark), and exec folds that into the process's ru_maxrss.
Forked from the benchmark, which holds pydantic, Pillow and its data, every command would
look tens of MB bigger; forked from here, it starts at this launcher's few MB.
Only the standard library's built-in modules are imported, to keep that floor low.
"""

import os
import signal
import sys
import time


def main() -> None:
    report, argv = sys.argv[1], sys.argv[2:]
    started = time.perf_counter()
    pid = os.fork()
    if pid == 0:
        try:
            os.execvp(argv[0], argv)
        except OSError as exc:
            os.write(2, f"error: cannot run {argv[0]}: {exc.strerror}\n".encode())
        os._exit(127)
    # Ctrl-C reaches the command too; stay alive to report how it ended.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _, status, usage = os.wait4(pid, 0)
    seconds = time.perf_counter() - started
    with open(report, "w") as handle:
        handle.write(f"{os.waitstatus_to_exitcode(status)} {seconds!r} {usage.ru_maxrss}\n")


if __name__ == "__main__":
    main()
