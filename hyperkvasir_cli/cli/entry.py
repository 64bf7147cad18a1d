"""The `hyperkvasir` console script: give `checksum` its head start, then run the CLI."""

from __future__ import annotations

import gc
import os
import sys


def main() -> None:
    """Run the command line; whatever it ends with (it always ends with SystemExit), the
    objects it made are frozen for the garbage collector on the way out.

    Why: at exit the interpreter collects cycles among everything the command loaded
    (typer, pydantic, the checks): some 40,000 objects, about 50 ms of CPU after the
    last line was printed, which is a tenth of a whole `checksum` of 1 GiB. Frozen, they
    are freed with the process instead. Nothing is lost: the interpreter never promised to
    finalise objects still alive at exit, and files are closed and flushed by reference
    counting (or by the OS), not by the cycle collector.
    """
    from hyperkvasir_cli.cli.head_start import begin

    begin(sys.argv[1:], os.environ)
    from hyperkvasir_cli.cli.app import main as run

    try:
        run()
    finally:
        gc.freeze()
