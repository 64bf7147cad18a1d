"""The config file: settings (the part records live in each data folder: records.py).

Location: ``--config PATH``, else ``HYPERKVASIR_CONFIG``, else the platform's user config
folder. Settings resolve as option > environment (``HYPERKVASIR_<KEY>``) > file > default.
The file is rewritten atomically; a broken file raises :class:`ConfigError` naming the file,
the key and the problem, and is never overwritten.
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import platformdirs
import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
)

from hyperkvasir_cli.core.about import ENV_PREFIX
from hyperkvasir_cli.core.atomic import atomic_write_text
from hyperkvasir_cli.core.errors import ConfigError, HyperkvasirError, UsageError
from hyperkvasir_cli.core.lock import file_lock
from hyperkvasir_cli.core.records import PartRecord
from hyperkvasir_cli.core.yaml_errors import describe_validation_error, load_yaml_mapping

_RATE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kKmMgG]?)(?:i?B)?(?:/s)?\s*$")


def parse_rate(text: str) -> int:
    """Bytes per second from `500K`, `5M`, `1.5G` or a plain number of bytes."""
    match = _RATE.match(text)
    if not match:
        raise ValueError(f"not a rate like 500K, 5M or 1G: {text!r}")
    number, unit = float(match.group(1)), match.group(2).upper()
    factor = {"": 1, "K": 1024, "M": 1024**2, "G": 1024**3}[unit]
    rate = int(number * factor)
    if rate <= 0:
        raise ValueError(f"rate must be positive, found {text!r}")
    return rate


class Settings(BaseModel):
    """Every setting, with its default. Each one is also ``HYPERKVASIR_<KEY>``."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    data_dir: Path = Field(
        default_factory=lambda: Path(platformdirs.user_data_dir("hyperkvasir")),
        description="where archives and extracted trees go",
    )
    archives_dir: Path | None = Field(
        default=None, description="where archives go (default <data_dir>/archives)"
    )
    extract_dir: Path | None = Field(
        default=None, description="where parts are extracted (default <data_dir>)"
    )
    mirrors: list[str] = Field(
        default_factory=list,
        description="base URLs tried before the manifest's, the file name appended",
    )
    connections: int = Field(default=4, ge=1, le=32, description="connections per download")
    ca_bundle: Path | None = Field(
        default=None, description="extra CA certificates (PEM) to trust, besides the system's"
    )
    connect_timeout: float = Field(default=30.0, gt=0, description="seconds to connect")
    stall_timeout: float = Field(
        default=60.0, gt=0, description="seconds without a byte before a retry"
    )
    retries: int = Field(default=8, ge=0, description="retries per URL while no bytes flow")
    limit_rate: str | None = Field(
        default=None, description="total bandwidth cap, e.g. 5M (bytes per second)"
    )
    wait_lock: float = Field(
        default=0.0, ge=0, description="seconds to wait for another run's lock"
    )
    jobs: int | None = Field(
        default=None, ge=1, description="worker processes for extract/checksum/stats"
    )

    @field_validator("limit_rate")
    @classmethod
    def _valid_rate(cls, value: str | None) -> str | None:
        if value is not None:
            parse_rate(value)
        return value

    @field_validator("mirrors", mode="before")
    @classmethod
    def _split_mirrors(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [v for v in re.split(r"[\s,]+", value) if v]
        return value

    @field_validator("mirrors")
    @classmethod
    def _mirror_schemes(cls, value: list[str]) -> list[str]:
        for url in value:
            problem = mirror_problem(url)
            if problem:
                raise ValueError(problem)
        return value

    @property
    def limit_rate_bytes(self) -> int | None:
        return parse_rate(self.limit_rate) if self.limit_rate else None


SETTING_KEYS: tuple[str, ...] = tuple(Settings.model_fields)


def mirror_problem(url: str) -> str | None:
    """Why ``url`` cannot be a mirror (None when it can)."""
    if url.startswith(("https://", "http://", "file://", "s3://")):
        return None
    return f"mirror must be an https://, http://, file:// or s3:// URL: {url!r}"


def setting_description(key: str) -> str:
    return Settings.model_fields[key].description or ""


class ConfigFile(BaseModel):
    """The file's shape: any settings (all optional) and, in files written before records
    moved into the data folders (see records.py), the part records of every data folder."""

    model_config = ConfigDict(extra="forbid")

    settings: dict[str, Any] = Field(default_factory=dict)
    parts: dict[str, PartRecord] = Field(default_factory=dict)


def default_config_path() -> Path:
    return Path(platformdirs.user_config_dir("hyperkvasir")) / "config.yaml"


def environment_value(environ: Mapping[str, str], name: str) -> str | None:
    """The value of the environment variable ``name``, None when it is not set.

    Set but empty (or blank) raises :class:`ConfigError` (exit 3) naming it: such a value
    comes from an unset shell variable (``HYPERKVASIR_DATA_DIR=$SCRATCH/hk``... with
    ``$SCRATCH`` unset gives ``/hk``; ``=$SCRATCH`` gives nothing), and falling back to the
    default would quietly fill the home folder.
    """
    value = environ.get(name)
    if value is None:
        return None
    if not value.strip():
        raise ConfigError(
            f"environment variable {name} is set but empty",
            hint=f"give it a value, or unset it (`unset {name}`) to use "
            + _WITHOUT_VARIABLE.get(name[len(ENV_PREFIX) :], "the config file or the default"),
        )
    return value


# What applies when one of the variables that are not settings is unset.
_WITHOUT_VARIABLE = {
    "CONFIG": "the default config file",
    "MANIFEST": "the bundled manifest",
}


def resolve_config_path(option: Path | None, environ: Mapping[str, str]) -> Path:
    if option is not None:
        return option
    from_env = environment_value(environ, f"{ENV_PREFIX}CONFIG")
    return Path(from_env) if from_env else default_config_path()


def config_named_by(option: Path | None, environ: Mapping[str, str]) -> str | None:
    """What named the config file explicitly (``--config`` or the environment variable);
    None when it is the default one."""
    if option is not None:
        return "--config"
    if environ.get(f"{ENV_PREFIX}CONFIG"):
        return f"{ENV_PREFIX}CONFIG"
    return None


def missing_config_note(path: Path, named_by: str | None) -> str | None:
    """What to say when a config file named explicitly does not exist (a typo reads as an
    empty config, and every setting silently falls back to its default); None otherwise."""
    if named_by is None or path.exists():
        return None
    return (
        f"the config file {path} (named by {named_by}) does not exist: no settings were "
        "read from it"
    )


def _validate_settings(
    values: dict[str, Any],
    source: str,
    path_hint: str,
    error: type[HyperkvasirError] = ConfigError,
) -> Settings:
    try:
        return Settings.model_validate(values)
    except ValidationError as exc:
        raise error(
            f"{source}: {describe_validation_error(exc, values)}",
            hint=path_hint,
        ) from exc


def settings_from_environment(environ: Mapping[str, str]) -> dict[str, str]:
    """Every ``HYPERKVASIR_<KEY>`` that is set; one set but empty is a config error."""
    found = {}
    for key in SETTING_KEYS:
        value = environment_value(environ, f"{ENV_PREFIX}{key.upper()}")
        if value is not None:
            found[key] = value
    return found


CONFIG_LOCK_TIMEOUT = 60.0


class ConfigStore:
    """Reads and atomically rewrites one config file. Missing file = empty config."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def read(self) -> ConfigFile:
        if not self.path.exists():
            return ConfigFile()
        raw = load_yaml_mapping(self.path, what="config")
        settings = {k: v for k, v in raw.items() if k != "parts"}
        parts_raw = raw.get("parts") or {}
        data = {"settings": settings, "parts": parts_raw}
        if not isinstance(parts_raw, dict):
            raise ConfigError(f"config {self.path}: parts: expected a mapping of part records")
        unknown = sorted(k for k in settings if k not in SETTING_KEYS)
        if unknown:
            raise ConfigError(
                f"config {self.path}: {unknown[0]}: unknown key",
                hint=f"valid keys: {', '.join(SETTING_KEYS)}, parts",
            )
        # Validate the file's settings alone so the message names this file.
        _validate_settings(settings, f"config {self.path}", f"fix or remove the key in {self.path}")
        try:
            return ConfigFile.model_validate(data)
        except ValidationError as exc:
            raise ConfigError(
                f"config {self.path}: {describe_validation_error(exc, data)}",
                hint=f"fix or remove the record in {self.path}",
            ) from exc

    def write(self, config: ConfigFile) -> None:
        document: dict[str, Any] = {}
        for key in SETTING_KEYS:
            if key in config.settings and config.settings[key] is not None:
                value = config.settings[key]
                document[key] = str(value) if isinstance(value, Path) else value
        if config.parts:
            document["parts"] = {
                name: record.model_dump(mode="json", exclude_none=True)
                for name, record in sorted(config.parts.items())
            }
        text = "# hyperkvasir config; rewritten by the program, comments are not kept\n"
        text += yaml.safe_dump(document, sort_keys=False, default_flow_style=False)
        atomic_write_text(self.path, text)

    @contextlib.contextmanager
    def updating(self) -> Iterator[None]:
        """Hold the config file's own lock around a read-modify-write. The data folder's
        lock does not cover it: two runs on two data folders may share one config file,
        and without this the second write would drop the first run's record."""
        with file_lock(
            self.path.with_name(f".{self.path.name}.lock"),
            CONFIG_LOCK_TIMEOUT,
            f"config file {self.path}",
            hint="another hyperkvasir is writing it; run the command again",
        ):
            yield

    def unset_setting(self, key: str) -> bool:
        """Remove one setting from the file, so that its default applies again; False when
        the file did not set it."""
        if key not in SETTING_KEYS:
            raise _unknown_setting(key)
        with self.updating():
            config = self.read()
            if key not in config.settings:
                return False
            del config.settings[key]
            self.write(config)
        return True

    def set_setting(self, key: str, value: str) -> Any:
        """Validate and store one setting; returns the value as stored."""
        if key not in SETTING_KEYS:
            raise _unknown_setting(key)
        config = self.read()
        candidate = {**config.settings, key: value}
        # A bad value typed on the command line is a usage error (exit 2), not a bad file.
        validated = _validate_settings(
            candidate,
            f"config set {key}",
            "see `hyperkvasir config show` for valid values",
            UsageError,
        )
        stored = getattr(validated, key)
        if isinstance(stored, Path):
            # Stored absolute: a path typed in a shell means the folder it was typed in.
            stored = absolute_path(stored, Path.cwd())
            if key == "ca_bundle":
                check_ca_bundle(stored, "config set ca_bundle", UsageError)
            stored = str(stored)
        with self.updating():  # re-read: keep what other runs recorded meanwhile
            config = self.read()
            config.settings[key] = stored
            self.write(config)
        return stored


def _unknown_setting(key: str) -> UsageError:
    from hyperkvasir_cli.core.suggest import did_you_mean

    return UsageError(
        f"unknown setting {key!r}{did_you_mean(key, SETTING_KEYS)}",
        hint=f"valid keys: {', '.join(SETTING_KEYS)}",
    )


def check_setting_key(key: str) -> None:
    """UsageError (exit 2, with a guess) unless ``key`` names a setting."""
    if key not in SETTING_KEYS:
        raise _unknown_setting(key)


def resolve_settings(
    file_settings: dict[str, Any],
    environ: Mapping[str, str],
    options: Mapping[str, Any],
    config_path: Path,
) -> tuple[Settings, dict[str, str]]:
    """Settings by precedence option > environment > file > default, and each one's source."""
    env_values = settings_from_environment(environ)
    merged: dict[str, Any] = {}
    sources: dict[str, str] = {key: "default" for key in SETTING_KEYS}
    for source, values in (
        (f"config {config_path}", file_settings),
        ("environment", env_values),
        ("option", {k: v for k, v in options.items() if v is not None}),
    ):
        for key, value in values.items():
            merged[key] = value
            sources[key] = (
                f"environment {ENV_PREFIX}{key.upper()}" if source == "environment" else source
            )
    try:
        settings = Settings.model_validate(merged)
    except ValidationError as exc:
        first = exc.errors()[0]["loc"][0]
        origin = sources.get(str(first), "settings")
        if origin == "option":  # a bad value on the command line is a usage error (exit 2)
            option = "--" + str(first).replace("_", "-")
            raise UsageError(
                f"option {option}: {describe_validation_error(exc, merged)}",
                hint="see the command's --help for the values it takes",
            ) from exc
        raise ConfigError(
            f"{origin}: {describe_validation_error(exc, merged)}",
            hint="fix the value where it is set (option, environment variable or config file)",
        ) from exc
    for key in PATH_KEYS:
        value = getattr(settings, key)
        if value is not None:
            # A relative path in the config file is relative to that file, so that cron
            # and a shell in any folder agree; one given on the command line or in the
            # environment is relative to the current folder, as a shell would read it.
            base = config_path.parent if sources[key].startswith("config ") else Path.cwd()
            setattr(settings, key, absolute_path(value, base))
    if settings.ca_bundle is not None and sources["ca_bundle"] == "option":
        # From the environment or the file it is loaded (and refused, exit 3) only when a
        # command goes online: `parts` or `stats` must not fail over a moved certificate.
        check_ca_bundle(settings.ca_bundle, "option --ca-bundle", UsageError)
    return settings, sources


def check_ca_bundle(path: Path, origin: str, error: type[HyperkvasirError]) -> None:
    """A CA bundle must be a file we can read (its certificates are loaded later)."""
    if not path.is_file():
        raise error(
            f"{origin}: the CA bundle {path} is not a file",
            hint="give a PEM file with the certificates to trust (see the README, TLS)",
        )


PATH_KEYS = ("data_dir", "archives_dir", "extract_dir", "ca_bundle")


def absolute_path(path: Path, base: Path) -> Path:
    """``path`` with ``~`` expanded, made absolute against ``base`` (no symlink resolved)."""
    return Path(os.path.normpath(base / path.expanduser()))


def environment() -> Mapping[str, str]:
    return os.environ
