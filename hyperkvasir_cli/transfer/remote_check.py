"""Has the server's file changed since we downloaded it? One HEAD request tells.

Compares the size, ETag and Last-Modified the server reports now with those recorded at
download time. No body byte is transferred.
"""

from __future__ import annotations

from dataclasses import dataclass

import httpx

from hyperkvasir_cli.core.records import PartRecord
from hyperkvasir_cli.transfer.http_client import is_certificate_error, request_url
from hyperkvasir_cli.transfer.range_request import describe_http_error
from hyperkvasir_cli.transfer.validators import Validators


@dataclass(frozen=True)
class RemoteState:
    url: str
    size: int | None
    validators: Validators


@dataclass(frozen=True)
class RemoteVerdict:
    changed: bool
    reason: str
    remote: RemoteState | None


def head(client: httpx.Client, url: str) -> RemoteState | None:
    """The server's view of the file at ``url``, or None when it does not have it."""
    response = client.head(request_url(url))
    if response.status_code in (405, 501):  # HEAD not allowed: ask for one byte instead
        response = client.get(request_url(url), headers={"Range": "bytes=0-0"})
    if response.status_code >= 400:
        return None
    size: int | None = None
    content_range = response.headers.get("content-range", "")
    if response.status_code == 206 and "/" in content_range:
        tail = content_range.rsplit("/", 1)[1]
        size = int(tail) if tail.isdigit() else None
    elif response.headers.get("content-length", "").isdigit():
        size = int(response.headers["content-length"])
    return RemoteState(url, size, Validators.from_headers(response.headers))


def compare_with_record(record: PartRecord, remote: RemoteState) -> RemoteVerdict:
    """Pure: what differs between the recorded download and the server's answer now."""
    differences = []
    if record.size is not None and remote.size is not None and remote.size != record.size:
        differences.append(f"size {record.size} -> {remote.size}")
    if record.etag and remote.validators.etag and record.etag != remote.validators.etag:
        differences.append(f"ETag {record.etag} -> {remote.validators.etag}")
    recorded_date, remote_date = record.last_modified, remote.validators.last_modified
    if recorded_date and remote_date and recorded_date != remote_date:
        differences.append(f"Last-Modified {recorded_date} -> {remote_date}")
    if differences:
        return RemoteVerdict(True, "the server's file changed: " + ", ".join(differences), remote)
    return RemoteVerdict(False, "unchanged on the server", remote)


def check_remote(client: httpx.Client, record: PartRecord, urls: list[str]) -> RemoteVerdict:
    """Ask the recorded URL first, then the others; unreachable servers are not a change."""
    ordered = [u for u in [record.url, *urls] if u]
    problems = []
    for url in dict.fromkeys(ordered):
        try:
            remote = head(client, url)
        except httpx.HTTPError as exc:
            kind = "certificate" if is_certificate_error(exc) else "error"
            problems.append(f"{url}: {kind}: {describe_http_error(exc)}")
            continue
        if remote is not None:
            return compare_with_record(record, remote)
        problems.append(f"{url}: not found")
    return RemoteVerdict(False, "no server answered: " + "; ".join(problems), None)
