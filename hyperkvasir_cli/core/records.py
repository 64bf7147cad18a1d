"""What the program knows of each part in one data folder, kept in that data folder.

The records live in ``<data_dir>/.hyperkvasir-records.yaml``, beside the data folder's lock,
so they describe exactly the files beside them: two data folders that share a config file
never see each other's records, a data folder moved or shared by several people (each with
their own config) carries its records along, and the data folder's lock that guards its
files guards its records too (the file also has its own lock, for writers that do not hold
the data folder's).

Config files written before records moved here hold them under ``parts:``. They stay
readable: until the data folder has a records file, the config's records whose paths lie in
this data folder are read as its records, and the first write copies them here. The config
file itself is left as it is (an older version of the program still reads it).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_serializer

from hyperkvasir_cli.core.atomic import atomic_write_text
from hyperkvasir_cli.core.clock import iso_utc
from hyperkvasir_cli.core.errors import ConfigError

RECORDS_FILE_NAME = ".hyperkvasir-records.yaml"
RECORDS_LOCK_TIMEOUT = 60.0


def _utc(moment: datetime | None) -> str | None:
    return None if moment is None else iso_utc(moment)


class CopyRecord(BaseModel):
    """A copy of the part extracted outside the data folder (`extract --to DIR`)."""

    model_config = ConfigDict(extra="forbid")

    extracted_at: datetime | None = None
    extracted_from_sha256: str | None = None
    extracted_selection: dict[str, list[str]] | None = None

    @field_serializer("extracted_at")
    def _utc_seconds(self, moment: datetime | None) -> str | None:
        return _utc(moment)


class RejectedVersion(BaseModel):
    """A version of a URL's file that failed verification against what was expected then:
    not fetched again while the URL still offers it (same validators and size) and the
    same is expected (a manifest with the new size and sha256 makes it welcome)."""

    model_config = ConfigDict(extra="forbid")

    etag: str | None = None
    last_modified: str | None = None
    size: int | None = None
    sha256: str | None = None
    expected_size: int | None = None
    expected_sha256: str | None = None
    reason: str = ""
    at: datetime | None = None

    @field_serializer("at")
    def _utc_seconds(self, moment: datetime | None) -> str | None:
        return _utc(moment)

    def expects(self, size: int | None, sha256: str | None) -> bool:
        """Whether it was rejected against this expectation (the manifest's now)."""
        return (self.expected_size, self.expected_sha256) == (size, sha256)

    def same_version(self, etag: str | None, last_modified: str | None, size: int | None) -> bool:
        """Whether a server's answer describes this version: the validators it gives agree
        (at least one of them is given) and so does the size, when both are known."""
        pairs = [(self.etag, etag), (self.last_modified, last_modified)]
        compared = [(a, b) for a, b in pairs if a is not None and b is not None]
        if not compared or any(a != b for a, b in compared):
            return False
        return self.size is None or size is None or self.size == size


class Request(BaseModel):
    """What a run was asked to do with a part, recorded when it starts, so that a run that
    never finished is visible (`sync` finishes it, `resume` extracts when asked)."""

    model_config = ConfigDict(extra="forbid")

    command: str
    extract: bool = False
    target: str | None = None
    selection: dict[str, list[str]] | None = None
    at: datetime | None = None

    @field_serializer("at")
    def _utc_seconds(self, moment: datetime | None) -> str | None:
        return _utc(moment)


class PartRecord(BaseModel):
    """What the program knows of one part in one data folder."""

    model_config = ConfigDict(extra="forbid")

    archive: str | None = None
    size: int | None = None
    sha256: str | None = None
    sha256_source: Literal["manifest", "recorded"] | None = None
    url: str | None = None
    etag: str | None = None
    last_modified: str | None = None
    downloaded_at: datetime | None = None
    verified_at: datetime | None = None
    # The data folder's own tree (extract_dir); copies elsewhere are kept in `copies`.
    extracted_to: str | None = None
    extracted_at: datetime | None = None
    extracted_from_sha256: str | None = None
    # The tree holds only a selection (--include/--exclude/--class), and where it came from
    # when its members were fetched by range (`download PART --class ...`).
    extracted_selection: dict[str, list[str]] | None = None
    fetched_from: str | None = None
    fetched_version: str | None = None
    copies: dict[str, CopyRecord] = Field(default_factory=dict)
    # By URL: the version each URL served that failed verification (see RejectedVersion).
    rejected: dict[str, RejectedVersion] = Field(default_factory=dict)
    requested: Request | None = None

    @field_serializer("downloaded_at", "verified_at", "extracted_at")
    def _utc_seconds(self, moment: datetime | None) -> str | None:
        return _utc(moment)


def records_path(data_dir: Path) -> Path:
    return data_dir / RECORDS_FILE_NAME


def _inside(path: str | None, folders: Iterable[Path]) -> bool:
    if not path:
        return False
    candidate = Path(path)
    return any(candidate == folder or folder in candidate.parents for folder in folders)


def legacy_records_for(
    parts: Mapping[str, PartRecord], folders: Iterable[Path], extract_dir: Path
) -> dict[str, PartRecord]:
    """The records of an old config file (one list for every data folder) that describe
    files in ``folders`` (the data folder, its archives and extraction folders). A tree
    they record outside ``extract_dir`` (an `extract --to DIR` elsewhere took the tree's
    place then) becomes a copy, beside the data folder's tree."""
    places = list(folders)
    found = {}
    for name, record in parts.items():
        if not (_inside(record.archive, places) or _inside(record.extracted_to, places)):
            continue
        if record.extracted_to and Path(record.extracted_to) != extract_dir:
            copy = CopyRecord(
                extracted_at=record.extracted_at,
                extracted_from_sha256=record.extracted_from_sha256,
                extracted_selection=record.extracted_selection,
            )
            record = record.model_copy(
                update={
                    "copies": {**record.copies, record.extracted_to: copy},
                    "extracted_to": None,
                    "extracted_at": None,
                    "extracted_from_sha256": None,
                    "extracted_selection": None,
                }
            )
        found[name] = record
    return found


def _snapshot(records: Mapping[str, PartRecord]) -> dict[str, dict[str, Any]]:
    return {name: record.model_dump() for name, record in records.items()}


class RecordStore:
    """Reads and atomically rewrites one data folder's records. No file = no records,
    except those an old config file holds for this data folder (``legacy``)."""

    def __init__(
        self,
        path: Path,
        legacy: Callable[[], Mapping[str, PartRecord]] = dict,
    ) -> None:
        self.path = path
        self._legacy = legacy

    def read(self) -> dict[str, PartRecord]:
        """Every part's record; a broken file is a :class:`ConfigError` naming it (exit 3)
        and is never overwritten."""
        if not self.path.exists():
            return dict(self._legacy())
        from hyperkvasir_cli.core.yaml_errors import describe_validation_error, load_yaml_mapping

        raw = load_yaml_mapping(self.path, what="records")
        parts_raw = raw.get("parts") or {}
        if not isinstance(parts_raw, dict):
            raise ConfigError(f"records {self.path}: parts: expected a mapping of part records")
        try:
            return {name: PartRecord.model_validate(value) for name, value in parts_raw.items()}
        except ValidationError as exc:
            raise ConfigError(
                f"records {self.path}: {describe_validation_error(exc, parts_raw)}",
                hint=f"fix or remove the record in {self.path} (the part is then fetched "
                "or checked again)",
            ) from exc

    def write(self, records: Mapping[str, PartRecord]) -> None:
        import yaml

        document = {
            "parts": {
                name: record.model_dump(mode="json", exclude_none=True, exclude_defaults=True)
                for name, record in sorted(records.items())
            }
        }
        text = (
            "# hyperkvasir: what was downloaded, verified and extracted in this data folder;\n"
            "# rewritten by the program\n"
        )
        text += yaml.safe_dump(document, sort_keys=False, default_flow_style=False)
        atomic_write_text(self.path, text)

    @contextlib.contextmanager
    def updating(self) -> Iterator[dict[str, PartRecord]]:
        """Hold the records' own lock around a read-modify-write; the records read are
        yielded and written back when the block ends without an error (and changed them,
        or the data folder had no records file yet: the first write moves an old config's
        records here)."""
        from hyperkvasir_cli.core.lock import file_lock

        with file_lock(
            self.path.with_name(f"{self.path.name}.lock"),
            RECORDS_LOCK_TIMEOUT,
            f"the records {self.path}",
            hint="another hyperkvasir is writing them; run the command again",
        ):
            records = self.read()
            before = _snapshot(records)
            yield records
            if _snapshot(records) != before or (records and not self.path.exists()):
                self.write(records)

    def update_part(self, name: str, **fields: Any) -> PartRecord:
        """Merge ``fields`` into the part's record (re-reading the file first) and save."""
        with self.updating() as records:
            record = records.get(name, PartRecord())
            merged = PartRecord.model_validate({**record.model_dump(), **fields})
            records[name] = merged
        return merged

    def forget_part_fields(self, name: str, *fields: str) -> None:
        """Clear ``fields`` of the part's record (nothing when there is no record)."""
        with self.updating() as records:
            record = records.get(name)
            if record is not None:
                data = record.model_dump()
                for field in fields:
                    data[field] = PartRecord.model_fields[field].get_default(
                        call_default_factory=True
                    )
                records[name] = PartRecord.model_validate(data)

    def record_copy(self, name: str, target: Path, copy: CopyRecord) -> PartRecord:
        """Record a copy of the part extracted into ``target`` outside the data folder's
        tree, beside (never instead of) the tree's own record."""
        with self.updating() as records:
            record = records.get(name, PartRecord())
            copies = {**record.copies, str(target): copy}
            records[name] = merged = record.model_copy(update={"copies": copies})
        return merged

    def reject_version(self, name: str, url: str, version: RejectedVersion) -> None:
        """Remember that ``url`` served ``version`` and it failed verification."""
        with self.updating() as records:
            record = records.get(name, PartRecord())
            rejected = {**record.rejected, url: version}
            records[name] = record.model_copy(update={"rejected": rejected})

    def forget_part(self, name: str) -> bool:
        """Drop the part's whole record; False when there was none."""
        with self.updating() as records:
            return records.pop(name, None) is not None

    def record_verified(
        self,
        name: str,
        archive: Path,
        size: int,
        sha256: str,
        sha256_source: str,
        moment: datetime,
        *,
        url: str | None = None,
        etag: str | None = None,
        last_modified: str | None = None,
    ) -> PartRecord:
        """Record an archive found whole and right at ``moment``; a download also records
        where it came from and the server's validators (and forgets a rejected version)."""
        fields: dict[str, Any] = {
            "archive": str(archive),
            "size": size,
            "sha256": sha256,
            "sha256_source": sha256_source,
            "verified_at": moment,
        }
        if url is not None:
            fields.update(url=url, etag=etag, last_modified=last_modified, downloaded_at=moment)
            fields["rejected"] = {}
        return self.update_part(name, **fields)
