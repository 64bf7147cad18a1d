"""The `hyperkvasir` console script: give `checksum` its head start, then run the CLI."""

from __future__ import annotations

import os
import sys


def main() -> None:
    from hyperkvasir_cli.cli.head_start import begin

    begin(sys.argv[1:], os.environ)
    from hyperkvasir_cli.cli.app import main as run

    run()
