"""A head start for `checksum`: the archives' hashes begin before the command line loads.

Hashing a large archive takes one core for as long as the file is big; loading the command
line (typer, the commands, the checks, their rendering) takes a good part of a second on
top. So the entry point looks at the arguments first: for the plain forms of `checksum
PART...`, it resolves the archives exactly as the command will (the same Session: options,
environment, config file, manifest) and starts their hashes in the background
(:func:`hyperkvasir_cli.core.hashing.start_hashing`); the command line then loads while
they run, and the command takes the results when it gets there, if the files are unchanged.

Only forms known to hash the archives with sha256 alone are recognised; any other
argument, and any problem resolving the parts, means no head start: the command runs as it
always does, and reports whatever is wrong itself.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

# Options that name where things are: their values decide which files are checked.
_LOCATIONS = {
    "--config": "config",
    "-c": "config",
    "--manifest": "manifest",
    "-m": "manifest",
    "--data-dir": "data_dir",
    "-d": "data_dir",
}
# Options that change neither which archives are hashed nor how.
_FLAGS = {"--quiet", "-q", "--debug", "--json", "-j", "--deep", "-D", "--extracted", "-e"}
_WITH_VALUE = {"--jobs", "-J", "--wait-lock", "-w"}


def parse_checksum(argv: Sequence[str]) -> tuple[dict[str, Path], list[str]] | None:
    """The locations and part names of a plain `checksum PART...`; None for anything else."""
    locations: dict[str, Path] = {}
    positional: list[str] = []
    tokens = iter(argv)
    for token in tokens:
        name, given = (
            token.split("=", 1) if token.startswith("--") and "=" in token else (token, None)
        )
        if name in _LOCATIONS or name in _WITH_VALUE:
            value = given if given is not None else next(tokens, None)
            if not value:
                return None
            if name in _LOCATIONS:
                locations[_LOCATIONS[name]] = Path(value)
        elif name in _FLAGS and given is None:
            continue
        elif token.startswith("-"):
            return None
        else:
            positional.append(token)
    if len(positional) < 2 or positional[0] != "checksum":
        return None
    return locations, positional[1:]


def begin(argv: Sequence[str], environ: Mapping[str, str]) -> None:
    """Start hashing the archives a plain `checksum PART...` will check; otherwise nothing."""
    parsed = parse_checksum(argv)
    if parsed is None:
        return
    locations, names = parsed
    from hyperkvasir_cli.core.hashing import start_hashing
    from hyperkvasir_cli.ops.session import Session, SessionOptions

    try:
        session = Session(options=SessionOptions(**locations), environ=dict(environ))
        layout = session.layout
        archives = [layout.archive_path(part) for part in session.manifest.select(names)]
    except Exception:  # the command itself reports what is wrong
        return
    for archive in archives:
        start_hashing(archive)
