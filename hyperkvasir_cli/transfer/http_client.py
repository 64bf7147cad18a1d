"""The HTTP client: TLS always verified, timeouts, identity encoding, file:// and s3:// URLs."""

from __future__ import annotations

import os
import ssl
from collections.abc import Mapping
from pathlib import Path

import httpx

from hyperkvasir_cli.core.about import __version__
from hyperkvasir_cli.core.errors import ConfigError
from hyperkvasir_cli.transfer.file_transport import FileTransport
from hyperkvasir_cli.transfer.s3_transport import S3Transport

USER_AGENT = f"hyperkvasir/{__version__} (+https://pypi.org/project/hyperkvasir/)"

INCOMPLETE_CHAIN_HINT = (
    "the certificate could not be verified. datasets.simula.no has been seen sending an "
    "incomplete chain (its intermediate certificate missing): browsers fetch the missing "
    "certificate themselves, Python does not. Save the issuing CA's intermediate "
    "certificate as PEM and pass --ca-bundle FILE (or `hyperkvasir config set ca_bundle FILE`, "
    "or SSL_CERT_FILE); it is added to the system's trust, and verification stays on"
)


def build_ssl_context(ca_bundle: Path | None, environ: Mapping[str, str]) -> ssl.SSLContext:
    """System and certifi trust, plus SSL_CERT_FILE and ``ca_bundle`` when given.

    Extra bundles only add trust; there is no way to turn verification off.
    """
    import certifi

    context = ssl.create_default_context(cafile=certifi.where())
    context.load_default_certs()
    extra = [Path(p) for p in (environ.get("SSL_CERT_FILE"),) if p]
    if ca_bundle is not None:
        extra.append(ca_bundle)
    for bundle in extra:
        try:
            context.load_verify_locations(cafile=str(bundle))
        except (OSError, ssl.SSLError) as exc:
            raise ConfigError(
                f"CA bundle {bundle}: cannot load certificates: {exc}",
                hint="pass a PEM file with one or more certificates",
            ) from exc
    return context


def build_client(
    *,
    connect_timeout: float,
    stall_timeout: float,
    ca_bundle: Path | None = None,
    max_connections: int = 8,
    environ: Mapping[str, str] | None = None,
) -> httpx.Client:
    """A client whose read timeout is the stall timeout: no byte for that long = retry."""
    timeout = httpx.Timeout(connect=connect_timeout, read=stall_timeout, write=60.0, pool=None)
    limits = httpx.Limits(
        max_connections=max_connections, max_keepalive_connections=max_connections
    )
    return httpx.Client(
        timeout=timeout,
        limits=limits,
        verify=build_ssl_context(ca_bundle, environ if environ is not None else os.environ),
        follow_redirects=True,
        headers={"User-Agent": USER_AGENT, "Accept-Encoding": "identity"},
        mounts={"file://": FileTransport(), "s3://": S3Transport()},
        trust_env=True,
    )


def is_certificate_error(exc: BaseException) -> bool:
    text = f"{exc!r} {exc.__cause__!r} {exc.__context__!r}"
    return "CERTIFICATE_VERIFY_FAILED" in text or isinstance(
        exc.__cause__ or exc.__context__, ssl.SSLCertVerificationError
    )


def request_url(url: str) -> str:
    """httpx treats `file:///x` (no host) as relative; name the local host explicitly."""
    if url.startswith("file:///"):
        return "file://localhost/" + url[len("file:///") :]
    return url
