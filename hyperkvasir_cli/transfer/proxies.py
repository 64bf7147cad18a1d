"""Which proxy a URL goes through, read from the environment the way curl reads it.

``<scheme>_proxy`` (lower case first, then upper case), else ``all_proxy``; a host listed in
``no_proxy`` goes direct. ``no_proxy`` entries are host names (matching the host and its
subdomains; a leading dot is ignored), IP addresses, CIDR blocks such as ``127.0.0.0/8`` or
``fd00::/8``, ``host:port`` for one port only, and ``*`` for every host. ``file://`` URLs never
go through a proxy. An empty variable counts as unset.

Every decision here is pure (no I/O): :func:`proxy_for` takes the URL and the environment
and names the variable the proxy came from, so that an error can say which setting to fix.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import SplitResult, urlsplit, urlunsplit

from hyperkvasir_cli.core.errors import ConfigError

SUPPORTED_SCHEMES = ("http", "https", "socks5", "socks5h")


@dataclass(frozen=True)
class ProxySetting:
    """A proxy URL and the environment variable that named it."""

    url: str
    variable: str

    @property
    def shown(self) -> str:
        """The URL as it may be printed: a password is masked."""
        parts = urlsplit(self.url)
        if parts.password is None:
            return self.url
        netloc = f"{parts.username}:***@{parts.hostname}"
        if parts.port is not None:
            netloc += f":{parts.port}"
        return urlunsplit(parts._replace(netloc=netloc))

    @property
    def scheme(self) -> str:
        return urlsplit(self.url).scheme.lower()

    def check_supported(self) -> None:
        """Raise :class:`ConfigError` (exit 3) for a proxy scheme that cannot be used."""
        if self.scheme in SUPPORTED_SCHEMES:
            return
        raise ConfigError(
            f"{self.variable}={self.shown}: {self.scheme}:// proxies are not supported "
            f"(supported: {', '.join(s + '://' for s in SUPPORTED_SCHEMES)})",
            hint=f"use an http:// or socks5:// proxy in {self.variable}, unset it, or list "
            "the server's host in no_proxy",
        )


def _lookup(environ: Mapping[str, str], name: str) -> tuple[str, str] | None:
    """The first non-empty of ``name`` and ``NAME``, with the variable's spelling."""
    for variable in (name, name.upper()):
        value = environ.get(variable, "").strip()
        if value:
            return variable, value
    return None


def proxy_for(url: str, environ: Mapping[str, str]) -> ProxySetting | None:
    """The proxy that ``url`` goes through, or None for a direct connection."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https") or not parts.hostname:
        return None
    no_proxy = _lookup(environ, "no_proxy")
    if no_proxy is not None and bypasses_proxy(parts.hostname, _port(parts, scheme), no_proxy[1]):
        return None
    found = _lookup(environ, f"{scheme}_proxy") or _lookup(environ, "all_proxy")
    if found is None:
        return None
    variable, value = found
    # curl reads a proxy without a scheme as http://.
    return ProxySetting(value if "://" in value else f"http://{value}", variable)


def _port(parts: SplitResult, scheme: str) -> int:
    try:
        port = parts.port
    except ValueError:  # not a number: httpx refuses the URL later, with its own message
        port = None
    return port if port is not None else (443 if scheme == "https" else 80)


def bypasses_proxy(host: str, port: int, no_proxy: str) -> bool:
    """Whether ``host`` (at ``port``) is listed in a ``no_proxy`` value."""
    host = host.strip("[]").rstrip(".").lower()
    address = _address(host)
    for raw in no_proxy.replace(" ", ",").split(","):
        entry = raw.strip().lower()
        if not entry:
            continue
        if entry == "*":
            return True
        entry, entry_port = _split_port(entry)
        if entry_port is not None and entry_port != port:
            continue
        if address is not None and _matches_address(address, entry):
            return True
        name = entry.lstrip(".").rstrip(".")
        if name and (host == name or host.endswith("." + name)):
            return True
    return False


def _address(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


def _split_port(entry: str) -> tuple[str, int | None]:
    """``host:port`` and ``[v6]:port`` entries; a bare IPv6 address has no port."""
    if entry.startswith("["):
        closing = entry.find("]")
        rest = entry[closing + 1 :]
        port = rest[1:] if rest.startswith(":") else ""
        return entry[1:closing], int(port) if port.isdigit() else None
    if entry.count(":") == 1:
        name, _, port = entry.partition(":")
        if port.isdigit():
            return name, int(port)
    return entry, None


def _matches_address(address: ipaddress.IPv4Address | ipaddress.IPv6Address, entry: str) -> bool:
    try:
        network = ipaddress.ip_network(entry, strict=False)
    except ValueError:
        return False
    return address.version == network.version and address in network
