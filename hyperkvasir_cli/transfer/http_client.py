"""The HTTP client: TLS always verified, timeouts, identity encoding, proxies, file:// and
s3:// URLs."""

from __future__ import annotations

import os
import ssl
import threading
from collections.abc import Mapping
from pathlib import Path

import httpx

from hyperkvasir_cli.core.about import __version__
from hyperkvasir_cli.core.errors import ConfigError
from hyperkvasir_cli.transfer.file_transport import FileTransport
from hyperkvasir_cli.transfer.proxies import ProxySetting, proxy_for
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
    """A client whose read timeout is the stall timeout: no byte for that long = retry.

    Proxies come from ``environ`` as curl reads them (see proxies.py), decided per request
    by :class:`RoutingTransport`; httpx's own reading of the environment is off, because it
    lets a ``NO_PROXY=localhost`` entry take ``file://`` URLs away from the file transport
    and builds every proxy's transport up front (a SOCKS or bad proxy then breaks even a
    download that never uses it).
    """
    env = environ if environ is not None else os.environ
    timeout = httpx.Timeout(connect=connect_timeout, read=stall_timeout, write=60.0, pool=None)
    limits = httpx.Limits(
        max_connections=max_connections, max_keepalive_connections=max_connections
    )
    transport = RoutingTransport(build_ssl_context(ca_bundle, env), limits, env)
    return httpx.Client(
        timeout=timeout,
        follow_redirects=True,
        headers={"User-Agent": USER_AGENT, "Accept-Encoding": "identity"},
        transport=transport,
        trust_env=False,
    )


class RoutingTransport(httpx.BaseTransport):
    """Sends each request the way its URL needs: ``file://`` and ``s3://`` to their own
    transports (never through an HTTP proxy), others direct or through the proxy the
    environment names for them.

    A proxy that cannot be reached raises :class:`httpx.ProxyError` naming the proxy and
    the variable it came from, so that the server is not blamed for it. A proxy of a scheme
    that cannot be used raises :class:`ConfigError` (exit 3), only for URLs that would use it.
    """

    def __init__(
        self, context: ssl.SSLContext, limits: httpx.Limits, environ: Mapping[str, str]
    ) -> None:
        self._context, self._limits, self._environ = context, limits, dict(environ)
        self._file = FileTransport()
        self._s3 = S3Transport()
        self._direct: httpx.HTTPTransport | None = None
        self._proxied: dict[str, httpx.HTTPTransport] = {}
        self._lock = threading.Lock()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.scheme == "file":
            return self._file.handle_request(request)
        if request.url.scheme == "s3":
            # s3fs reaches its endpoint its own way (botocore reads the proxy variables).
            return self._s3.handle_request(request)
        proxy = proxy_for(str(request.url), self._environ)
        if proxy is None:
            return self._transport(None).handle_request(request)
        transport = self._transport(proxy)
        try:
            return transport.handle_request(request)
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.ProxyError) as exc:
            if is_certificate_error(exc):
                raise  # the server's certificate, seen through the tunnel: not the proxy
            raise httpx.ProxyError(
                f"the proxy {proxy.shown} (from {proxy.variable}) failed: "
                f"{type(exc).__name__}: {exc or 'no answer'}",
                request=request,
            ) from exc

    def _transport(self, proxy: ProxySetting | None) -> httpx.HTTPTransport:
        with self._lock:
            if proxy is None:
                if self._direct is None:
                    self._direct = httpx.HTTPTransport(verify=self._context, limits=self._limits)
                return self._direct
            made = self._proxied.get(proxy.url)
            if made is None:
                made = self._proxied[proxy.url] = _proxy_transport(
                    proxy, self._context, self._limits
                )
            return made

    def close(self) -> None:
        with self._lock:
            for transport in [self._direct, *self._proxied.values()]:
                if transport is not None:
                    transport.close()
            self._direct, self._proxied = None, {}
        self._file.close()
        self._s3.close()


def _proxy_transport(
    proxy: ProxySetting, context: ssl.SSLContext, limits: httpx.Limits
) -> httpx.HTTPTransport:
    proxy.check_supported()
    try:
        return httpx.HTTPTransport(verify=context, limits=limits, proxy=httpx.Proxy(proxy.url))
    except ImportError as exc:  # the `socks` extra of httpx (socksio) is missing
        raise ConfigError(
            f"{proxy.variable}={proxy.shown}: a SOCKS proxy needs the socksio package",
            hint="install it (`pip install 'httpx[socks]'`), or unset "
            f"{proxy.variable} (or list the server's host in no_proxy)",
        ) from exc
    except ValueError as exc:
        raise ConfigError(
            f"{proxy.variable}={proxy.shown}: not a usable proxy URL: {exc}",
            hint=f"fix or unset {proxy.variable}",
        ) from exc


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
