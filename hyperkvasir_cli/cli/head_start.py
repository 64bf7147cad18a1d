"""A head start for `checksum`: the archives' hashes begin before the command line loads.

Hashing a large archive takes one core for as long as the file is big; loading the command
line (typer, the commands, the checks, their rendering) takes a good part of a second on
top. So the entry point looks at the arguments first: for the plain forms of `checksum
PART...`, it resolves the archives exactly as the command will (the same Session: options,
environment, config file, manifest) and starts their hashes in the background
(:func:`hyperkvasir_cli.core.hash_ahead.start_hashing`); the command line then loads while
they run, and the command takes the results when it gets there, if the files are unchanged.

Only forms known to hash the archives with sha256 alone are recognised; any other
argument, and any problem resolving the parts, means no head start: the command runs as it
always does, and reports whatever is wrong itself.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

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
    archives = guess_archives(locations, names, environ)
    if archives is None:
        archives = resolve_archives(locations, names, environ)
    if archives:
        from hyperkvasir_cli.core.hash_ahead import start_hashing

        for archive in archives:
            start_hashing(archive)


def resolve_archives(
    locations: Mapping[str, Path], names: list[str], environ: Mapping[str, str]
) -> list[Path]:
    """The archives of ``names`` as the command finds them (the same Session); none when
    anything is wrong (the command reports it)."""
    from hyperkvasir_cli.ops.session import Session, SessionOptions

    try:
        session = Session(options=SessionOptions(**locations), environ=dict(environ))
        layout = session.layout
        return [layout.archive_path(part) for part in session.manifest.select(names)]
    except Exception:  # the command itself reports what is wrong
        return []


def guess_archives(
    locations: Mapping[str, Path], names: list[str], environ: Mapping[str, str]
) -> list[Path] | None:
    """Where the archives of ``names`` are in the usual cases, found without loading the
    settings' and manifest's models (which take longer than the rest of the head start):
    the data folder and archives folder from the options, environment, config file or
    defaults, with the same precedence and relative paths as the settings; the file names
    from the manifest's YAML. None in any unusual case (the Session then decides).

    Only a guess: a hash is taken only for the very file the command checks (path and
    identity), so a wrong guess costs time, never a wrong result.
    """
    import os

    try:
        config = _config_values(locations.get("config"), environ)
        if config is None:
            return None
        data_dir = _setting("data_dir", locations, environ, config)
        if data_dir is None:
            import platformdirs

            data_dir = Path(platformdirs.user_data_dir("hyperkvasir"))
        archives_dir = _setting("archives_dir", {}, environ, config) or data_dir / "archives"
        files = _manifest_files(locations.get("manifest"), environ, names)
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None
    if files is None:
        return None
    return [Path(os.path.normpath(archives_dir.expanduser() / name)) for name in files]


def _config_values(option: Path | None, environ: Mapping[str, str]) -> dict[str, Path] | None:
    """``data_dir`` and ``archives_dir`` from the config file (absolute: a relative one
    is relative to the file), {} without a file; None when they are not plain strings."""
    named = option or environ.get("HYPERKVASIR_CONFIG")
    if named is not None and not str(named).strip():
        return None
    if named:
        path = Path(named)
    else:
        import platformdirs

        path = Path(platformdirs.user_config_dir("hyperkvasir")) / "config.yaml"
    if not path.exists():
        return {}
    raw = _load_yaml(path)
    if not isinstance(raw, dict):
        return None
    found = {}
    for key in ("data_dir", "archives_dir"):
        value = raw.get(key)
        if value is None:
            continue
        if not isinstance(value, str) or not value.strip():
            return None
        found[key] = _absolute(Path(value), path.parent)
    return found


def _setting(
    key: str,
    locations: Mapping[str, Path],
    environ: Mapping[str, str],
    config: Mapping[str, Path],
) -> Path | None:
    """A path setting by precedence option > environment > config file (None: default).
    Raises ValueError for an empty environment variable (a config error)."""
    if key in locations:
        return _absolute(locations[key], Path.cwd())
    value = environ.get(f"HYPERKVASIR_{key.upper()}")
    if value is not None:
        if not value.strip():
            raise ValueError(key)
        return _absolute(Path(value), Path.cwd())
    return config.get(key)


def _absolute(path: Path, base: Path) -> Path:
    import os

    return Path(os.path.normpath(base / path.expanduser()))


def _manifest_files(
    option: Path | None, environ: Mapping[str, str], names: list[str]
) -> list[str] | None:
    """The archive file names of ``names`` (parts or groups) in the manifest, in manifest
    order; None for an unknown name or a manifest that is not a local file."""
    location = str(option) if option is not None else environ.get("HYPERKVASIR_MANIFEST")
    if location is None:
        from importlib import resources

        text = resources.files("hyperkvasir_cli").joinpath("data/manifest.yaml").read_text("utf-8")
        data = _parse_yaml(text)
    elif "://" in location or not location.strip():
        return None
    else:
        data = _load_yaml(Path(location).expanduser())
    parts = {p["name"]: p["file"] for p in data["parts"]}
    groups = {g["name"]: g["parts"] for g in data.get("groups") or []}
    wanted: set[str] = set()
    for name in names:
        if name in groups:
            wanted.update(groups[name])
        elif name in parts:
            wanted.add(name)
        else:
            return None
    files = [file for name, file in parts.items() if name in wanted]
    return files if all(isinstance(f, str) and "/" not in f for f in files) else None


def _load_yaml(path: Path) -> Any:
    return _parse_yaml(path.read_text("utf-8"))


def _parse_yaml(text: str) -> Any:
    import yaml

    # libyaml's safe loader when there is one: ten times faster than the Python one.
    return yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
