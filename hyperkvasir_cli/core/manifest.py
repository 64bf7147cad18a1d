"""The manifest: which dataset parts exist, where they are served and what they hold.

A default ships inside the package (``data/manifest.yaml``); ``--manifest PATH`` or
``HYPERKVASIR_MANIFEST`` replaces it. Loading validates everything; any problem raises
:class:`ConfigError` naming the file and the key.
"""

from __future__ import annotations

import re
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from hyperkvasir_cli.core.classes import canonical_class
from hyperkvasir_cli.core.errors import ConfigError, UsageError
from hyperkvasir_cli.core.yaml_errors import (
    describe_validation_error,
    load_yaml_mapping,
    parse_yaml_mapping,
)

Kind = Literal["zip", "csv", "json", "arff"]
_KINDS: tuple[str, ...] = ("zip", "csv", "json", "arff")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_URL_SCHEMES = ("https://", "http://", "file://", "s3://")
DEFAULT_MANIFEST_NAME = "bundled manifest"


class Expected(BaseModel):
    """Published counts: data files (images, masks, videos) and per-class images."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    files: int | None = Field(default=None, ge=0)
    classes: dict[str, int] = Field(default_factory=dict)

    @field_validator("classes")
    @classmethod
    def _canonical_classes(cls, value: dict[str, int]) -> dict[str, int]:
        result: dict[str, int] = {}
        for name, count in value.items():
            if count < 0:
                raise ValueError(f"count for {name!r} must be >= 0, found {count}")
            result[canonical_class(name) or name] = count
        return result


class Part(BaseModel):
    """One downloadable file of the dataset."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9._-]*$")
    file: str
    urls: list[str] = Field(min_length=1)
    size: int | None = Field(default=None, gt=0)
    sha256: str | None = None
    kind: Kind | None = None
    root: str | None = None
    contains: list[str] = Field(default_factory=list)
    expected: Expected = Field(default_factory=Expected)
    description: str | None = None

    @field_validator("file")
    @classmethod
    def _plain_file_name(cls, value: str) -> str:
        if not value or "/" in value or "\\" in value or value in (".", ".."):
            raise ValueError(f"must be a plain file name, found {value!r}")
        return value

    @field_validator("urls")
    @classmethod
    def _supported_schemes(cls, value: list[str]) -> list[str]:
        for url in value:
            if not url.startswith(_URL_SCHEMES):
                raise ValueError(
                    f"URL must start with https://, http://, file:// or s3://, found {url!r}"
                )
        return value

    @field_validator("sha256")
    @classmethod
    def _hex_digest(cls, value: str | None) -> str | None:
        if value is None:
            return None
        value = value.lower()
        if not _SHA256.match(value):
            raise ValueError(f"must be 64 hexadecimal digits, found {value!r}")
        return value

    @model_validator(mode="after")
    def _kind_from_file_name(self) -> Part:
        if self.kind is None:
            suffix = Path(self.file).suffix.lower().lstrip(".")
            object.__setattr__(self, "kind", suffix if suffix in _KINDS else "zip")
        return self

    @property
    def archive_kind(self) -> Kind:
        assert self.kind is not None  # set by the validator
        return self.kind

    @property
    def sha256_source(self) -> Literal["manifest", "recorded"]:
        """What a verified archive of this part is checked against: the published sha256,
        else the value recorded when it was first seen."""
        return "manifest" if self.sha256 else "recorded"


class Group(BaseModel):
    """A name for several parts that belong together (the six prediction files, say).

    Wherever parts are named (``download``, ``checksum``, ``sync``, ...), a group's name
    stands for its parts. A group has no file of its own: each of its parts is fetched,
    verified and recorded on its own.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9._-]*$")
    parts: list[str] = Field(min_length=1)
    description: str | None = None

    @field_validator("parts")
    @classmethod
    def _each_once(cls, value: list[str]) -> list[str]:
        repeated = sorted({n for n in value if value.count(n) > 1})
        if repeated:
            raise ValueError(f"each part once, repeated: {', '.join(repeated)}")
        return value


class Manifest(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    dataset: str = "hyper-kvasir"
    version: str | None = None
    parts: list[Part] = Field(min_length=1)
    groups: list[Group] = Field(default_factory=list)
    source: str = Field(default=DEFAULT_MANIFEST_NAME, exclude=True)

    @model_validator(mode="after")
    def _unique_and_known(self) -> Manifest:
        names = [p.name for p in self.parts]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"part names must be unique, repeated: {', '.join(duplicates)}")
        for part in self.parts:
            unknown = [c for c in part.contains if c not in names]
            if unknown:
                raise ValueError(f"part {part.name!r} contains unknown parts: {', '.join(unknown)}")
        taken = set(names)
        for group in self.groups:
            if group.name in taken:
                raise ValueError(
                    f"group {group.name!r}: the name is already taken by a part or another group"
                )
            taken.add(group.name)
            unknown = [n for n in group.parts if n not in names]
            if unknown:
                raise ValueError(f"group {group.name!r} names unknown parts: {', '.join(unknown)}")
        return self

    @property
    def names(self) -> list[str]:
        return [p.name for p in self.parts]

    @property
    def group_names(self) -> list[str]:
        return [g.name for g in self.groups]

    def find_group(self, name: str) -> Group | None:
        return next((g for g in self.groups if g.name == name), None)

    def groups_of(self, part_name: str) -> list[str]:
        """The groups that hold the part, in manifest order."""
        return [g.name for g in self.groups if part_name in g.parts]

    def part(self, name: str) -> Part:
        """The one part called ``name``; UsageError (exit 2) for a group's name or an
        unknown name, listing the valid ones."""
        for part in self.parts:
            if part.name == name:
                return part
        group = self.find_group(name)
        if group is not None:
            raise UsageError(
                f"{name!r} is a group of parts ({', '.join(group.parts)}); one part is needed here",
                hint=f"name one of them, e.g. {group.parts[0]}",
            )
        raise self._unknown(name)

    def select(self, names: list[str]) -> list[Part]:
        """The named parts in manifest order, each once; a group's name stands for its parts.

        Unknown names raise UsageError (exit 2) listing the valid parts and groups.
        """
        wanted: set[str] = set()
        for name in names:
            group = self.find_group(name)
            if group is not None:
                wanted.update(group.parts)
            elif name in self.names:
                wanted.add(name)
            else:
                raise self._unknown(name)
        return [p for p in self.parts if p.name in wanted]

    def _unknown(self, name: str) -> UsageError:
        from hyperkvasir_cli.core.suggest import did_you_mean

        groups = f"; groups: {', '.join(self.group_names)}" if self.groups else ""
        guess = did_you_mean(name, [*self.names, *self.group_names])
        return UsageError(
            f"unknown part {name!r}{guess}; valid parts: {', '.join(self.names)}{groups}",
            hint="run `hyperkvasir parts` to see every part",
        )


def parse_manifest(data: Any, source: str) -> Manifest:
    if not isinstance(data, dict):
        raise ConfigError(f"manifest {source}: expected a mapping at the top level")
    try:
        return Manifest.model_validate({**data, "source": source})
    except ValidationError as exc:
        raise ConfigError(
            f"manifest {source}: {describe_validation_error(exc, data)}",
            hint="fix the manifest, or drop --manifest and HYPERKVASIR_MANIFEST",
        ) from exc


def load_manifest(path: Path | None = None) -> Manifest:
    """Load and validate a manifest file, or the bundled default when ``path`` is None."""
    if path is None:
        text = resources.files("hyperkvasir_cli").joinpath("data/manifest.yaml").read_text("utf-8")
        return parse_manifest(yaml.safe_load(text), DEFAULT_MANIFEST_NAME)
    data = load_yaml_mapping(path, what="manifest")
    return parse_manifest(data, str(path))


def parse_manifest_text(text: str, source: str) -> Manifest:
    """A manifest read from elsewhere than a file (an s3:// URL): validated the same way."""
    return parse_manifest(parse_yaml_mapping(text, source, what="manifest"), source)
