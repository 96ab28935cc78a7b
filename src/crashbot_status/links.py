"""Where the status site's absolute links point: the one place they are built from.

Statuspage's ``page.url`` and ``shortlink``, ``/api/list`` URLs and the feeds
need absolute links. They start with ``[status] public_url``
(``CRASHBOT_PUBLIC_URL``) when it is set. Without it they follow the
request: its scheme and ``Host``, and, only when the peer is one of
``[status] trusted_proxies``, the ``X-Forwarded-Proto``, ``X-Forwarded-Host``
and ``X-Forwarded-Port`` a proxy set. From any other peer those headers are
ignored, so nobody can point the site's links elsewhere by sending them.

A body whose links follow the request differs from host to host, so the
render cache keys it by :meth:`LinkBase.cache_prefix` too: a request with a
forged ``Host`` gets its own entry, never one served to others.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from attrs import frozen

Network = ipaddress.IPv4Network | ipaddress.IPv6Network

#: A host as links may carry it: a name, IPv4 or bracketed IPv6, and an optional port.
_HOST = re.compile(r"(?:[A-Za-z0-9](?:[A-Za-z0-9.-]{0,252})|\[[0-9A-Fa-f:.]+\])(?::\d{1,5})?")
_DEFAULT_PORT = {"http": "80", "https": "443"}


def parse_public_url(value: str) -> str:
    """``value`` as a link base (no trailing slash); "" stays "" (links follow the request).

    :raises ValueError: not an ``http://`` or ``https://`` URL with a host and no query.
    """
    url = value.strip().rstrip("/")
    if not url:
        return ""
    m = re.fullmatch(r"(https?)://([^/?#]+)(/[^?#]*)?", url)
    if m is None or not _HOST.fullmatch(m.group(2)):
        raise ValueError(
            f"expected an http(s) URL such as https://status.example.com, found {value!r}"
        )
    return url


def parse_networks(values: Iterable[str]) -> tuple[Network, ...]:
    """Addresses and networks (``10.0.0.0/8``, ``::1``) of trusted proxies.

    :raises ValueError: for a value that is neither.
    """
    out = []
    for value in values:
        try:
            out.append(ipaddress.ip_network(value.strip(), strict=False))
        except ValueError:
            raise ValueError(
                f"expected IP addresses or networks such as 127.0.0.1 or 10.0.0.0/8, found {value!r}"
            ) from None
    return tuple(out)


def _last(value: str | None) -> str:
    # A chain of proxies appends; the value our trusted peer wrote is the last.
    return value.rsplit(",", 1)[-1].strip() if value else ""


def _without_port(host: str) -> str:
    if host.startswith("["):
        return host[: host.find("]") + 1]
    return host.split(":", 1)[0]


@frozen
class LinkBase:
    """How a request's link base is found (see the module docstring)."""

    #: ``[status] public_url`` without its trailing slash; "" when links follow the request.
    public_url: str = ""
    #: Peers whose ``X-Forwarded-*`` headers are believed.
    trusted: tuple[Network, ...] = ()

    @classmethod
    def from_settings(cls, section: Any) -> LinkBase:
        """From ``[status]`` (a :class:`crashbot_status.plugin.StatusSettings`, or None)."""
        if section is None:
            return cls()
        return cls(parse_public_url(section.public_url), parse_networks(section.trusted_proxies))

    @property
    def fixed(self) -> bool:
        """Whether every request gets the same links (``public_url`` is set)."""
        return bool(self.public_url)

    def _trusts(self, peer: str | None) -> bool:
        if not peer or not self.trusted:
            return False
        try:
            address = ipaddress.ip_address(peer)
        except ValueError:
            return False
        return any(address in network for network in self.trusted)

    def client(self, peer: str | None, forwarded_for: str | None) -> str:
        """The client's address: the last ``X-Forwarded-For`` hop when ``peer`` is a trusted proxy.

        Per-client limits (the subscribe form's) count by it.
        """
        if self._trusts(peer):
            return _last(forwarded_for) or peer or ""
        return peer or ""

    def resolve(
        self, scheme: str, host: str, server: str, peer: str | None, forwarded: Mapping[str, str]
    ) -> str:
        """The link base of one request.

        :param scheme: the request's own scheme (``http``/``https``).
        :param host: its ``Host`` header ("" when absent).
        :param server: the address it reached (``host:port``), used when ``host`` is unusable.
        :param peer: the connecting address.
        :param forwarded: ``x-forwarded-proto``/``-host``/``-port`` values (lower-case keys).
        """
        if self.public_url:
            return self.public_url
        if self._trusts(peer):
            scheme = _last(forwarded.get("x-forwarded-proto")).lower() or scheme
            host = _last(forwarded.get("x-forwarded-host")) or host
            port = _last(forwarded.get("x-forwarded-port"))
            if port.isdigit():
                host = f"{_without_port(host)}:{port}"
        if scheme not in _DEFAULT_PORT:
            scheme = "http"
        if not _HOST.fullmatch(host):
            host = server
        if host.endswith(f":{_DEFAULT_PORT[scheme]}"):
            host = host.rsplit(":", 1)[0]
        return f"{scheme}://{host}"

    def for_environ(self, environ: Mapping[str, Any]) -> str:
        """The link base of a WSGI request."""
        if self.public_url:
            return self.public_url
        forwarded = {
            name: environ[key]
            for name, key in (
                ("x-forwarded-proto", "HTTP_X_FORWARDED_PROTO"),
                ("x-forwarded-host", "HTTP_X_FORWARDED_HOST"),
                ("x-forwarded-port", "HTTP_X_FORWARDED_PORT"),
            )
            if key in environ
        }
        server = f"{environ.get('SERVER_NAME', 'localhost')}:{environ.get('SERVER_PORT', '80')}"
        return self.resolve(
            str(environ.get("wsgi.url_scheme", "http")),
            str(environ.get("HTTP_HOST", "")),
            server,
            environ.get("REMOTE_ADDR"),
            forwarded,
        )

    def for_scope(self, scope: Mapping[str, Any]) -> str:
        """The link base of an ASGI HTTP request."""
        if self.public_url:
            return self.public_url
        host = ""
        forwarded: dict[str, str] = {}
        headers: Sequence[tuple[bytes, bytes]] = scope.get("headers", ())
        for name, value in headers:
            if name == b"host":
                host = value.decode("latin-1")
            elif name.startswith(b"x-forwarded-"):
                forwarded[name.decode("latin-1")] = value.decode("latin-1")
        server_addr = scope.get("server") or ("localhost", 80)
        client = scope.get("client")
        return self.resolve(
            scope.get("scheme", "http"),
            host,
            f"{server_addr[0]}:{server_addr[1]}",
            client[0] if client else None,
            forwarded,
        )

    def cache_prefix_environ(self, environ: Mapping[str, Any]) -> str:
        """What render-cache keys of a WSGI request start with: "" when links are fixed."""
        return "" if self.public_url else self.for_environ(environ)

    def cache_prefix_scope(self, scope: Mapping[str, Any]) -> str:
        """What render-cache keys of an ASGI request start with: "" when links are fixed."""
        return "" if self.public_url else self.for_scope(scope)
