"""What a download that no URL could serve is told as: the error (exit 4 or 5) and its hint,
from why each URL failed (:class:`~hyperkvasir_cli.transfer.range_request.UrlFailed`).

A URL that served other bytes than the manifest's, or still serves a version rejected
earlier, makes it an integrity error (exit 5); a web page where the file should be, a proxy
that cannot be used, a refusal or an unreachable server a network error (exit 4), each
with the hint that fits.
"""

from __future__ import annotations

from pathlib import Path

from hyperkvasir_cli.check.verify import expectation
from hyperkvasir_cli.core.errors import IntegrityError, NetworkError
from hyperkvasir_cli.core.manifest import Part
from hyperkvasir_cli.transfer.http_client import INCOMPLETE_CHAIN_HINT
from hyperkvasir_cli.transfer.range_request import UrlFailed

# Failures that mean a URL served bytes that are not the file (exit 5, integrity).
MISMATCHES = frozenset({"wrong-file", "bad-content", "not-zip", "rejected"})


def failure_error(
    part: Part, failures: dict[str, UrlFailed], kept: int, partial_path: Path
) -> NetworkError | IntegrityError:
    """The error for a part that no URL served; ``kept`` bytes stay in ``partial_path``."""
    detail = "; ".join(f"{url}: {f.reason}" for url, f in failures.items())
    kinds = {f.kind for f in failures.values()}
    # A source that served other bytes than the manifest's is the finding that matters
    # (exit 5), even when the other URLs could not be reached (a node off the internet
    # syncing from a bucket whose object was overwritten): whether found by the sha256 or,
    # before a byte was fetched, by the size the source gave.
    served_other_bytes = (
        bool(kinds & {"bad-content", "rejected", "wrong-file"}) and "certificate" not in kinds
    )
    if kinds & MISMATCHES and (kinds <= MISMATCHES | {"web-page"} or served_other_bytes):
        hint = "every URL was tried"
        if kinds & {"bad-content", "not-zip", "web-page"}:
            hint += " (the last bad copy is kept aside, never used)"
        if "rejected" in kinds:
            hint += (
                "; a version that failed verification is not fetched again until the "
                "server's copy changes (--force fetches it anyway)"
            )
        if kept:
            hint += f"; the {kept} bytes fetched earlier stay in {partial_path}"
        if "not-zip" in kinds:
            # Nothing published to compare with, and what the servers sent is no zip.
            return IntegrityError(
                f"{part.name}: no URL serves a zip archive; the server sent something "
                f"that is not a zip: {detail}",
                hint=f"{hint}; open the URL in a browser to see what it serves, or add "
                "a good source with --mirror URL",
            )
        return IntegrityError(
            f"{part.name}: no URL serves the file the manifest describes "
            f"(expected {expectation(part.size, part.sha256)}): {detail}",
            hint=f"{hint}; the file may have been replaced upstream: check the manifest "
            "(or pass --manifest with the new size and sha256), or add a good source "
            "with --mirror URL",
        )
    if "web-page" in kinds:
        # A maintenance or login page is the server's answer, not bad data (exit 4).
        return NetworkError(
            f"{part.name}: the server sent a web page instead of the file: {detail}",
            hint="a web page (HTML) was served where the file should be: the server may "
            "show a maintenance, error or login page; open the URL in a browser, try "
            "again later, or add another source with --mirror URL"
            + (f"; the {kept} bytes fetched earlier stay in {partial_path}" if kept else ""),
        )
    if "proxy" in kinds:
        return NetworkError(
            f"{part.name}: every URL failed: {detail}",
            hint="the proxy named above could not be used: check it, or unset its "
            "variable (or list the server's host in no_proxy) to connect directly",
        )
    if "certificate" in kinds:
        return NetworkError(f"{part.name}: {detail}", hint=INCOMPLETE_CHAIN_HINT)
    if kept:
        hint = (
            f"{kept} bytes are kept in {partial_path}; rerun `hyperkvasir download "
            f"{part.name}` (or `resume`) to continue; --mirror URL adds another source"
        )
    elif kinds <= {"denied", "gone"} and "denied" in kinds:
        hint = (
            "the server refused access (HTTP 401/403; not retried): the file may need a "
            "login, or be withdrawn; --mirror URL adds another source"
        )
    else:
        hint = "check the network and the URLs; --mirror URL adds another source"
    return NetworkError(f"{part.name}: every URL failed: {detail}", hint=hint)
