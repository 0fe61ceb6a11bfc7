"""Outbound URL safety: Jira base URLs given by users must not turn the service into a proxy.

The connect endpoint takes a base URL from a caller and makes the service call it. Without
checks that is server-side request forgery: `http://169.254.169.254/` (cloud metadata),
`http://127.0.0.1:6379/`, `http://10.0.0.5/admin`. So a base URL is accepted only when:

- its scheme is http or https, it names a host, it carries no credentials, query or fragment;
- every address its host resolves to is public (not private, loopback, link-local, multicast,
  reserved, unspecified, CGNAT or site-local), unless ALLOW_PRIVATE_JIRA_URLS is set
  (self-hosted Jira Data Center inside the company network is a legitimate case).

The check runs before any connection is attempted; `SafeSession` repeats it for every request
it sends, redirects included, so a public Jira cannot bounce us to an internal host.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable
from urllib.parse import urlsplit, urlunsplit

import requests

Resolver = Callable[[str, int], list[str]]

ALLOWED_SCHEMES = ("http", "https")
MAX_URL_LENGTH = 500  # JiraConnection.base_url is String(500)


class UnsafeUrl(ValueError):
    """A URL is malformed or points where the service must not go; the message says which rule."""


def system_resolver(host: str, port: int) -> list[str]:
    """Every address `host` resolves to (IPv4 and IPv6)."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise UnsafeUrl(f"the host {host!r} cannot be resolved") from exc
    return sorted({info[4][0] for info in infos})


def is_public_address(address: str) -> bool:
    """True for a globally routable unicast address; False for every special-purpose range."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped  # ::ffff:127.0.0.1 is loopback, whatever its spelling
    if ip.is_private or ip.is_loopback or ip.is_link_local or ip.is_multicast or ip.is_reserved \
            or ip.is_unspecified:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.is_site_local:
        return False
    return ip.is_global


def _split(url: str) -> tuple[str, str, int, str]:
    """(scheme, host, port, path) of an absolute http(s) URL without credentials; raises UnsafeUrl."""
    if not isinstance(url, str) or not url.strip():
        raise UnsafeUrl("the URL is empty")
    url = url.strip()
    if len(url) > MAX_URL_LENGTH:
        raise UnsafeUrl(f"the URL is longer than {MAX_URL_LENGTH} characters")
    if any(ch.isspace() or ord(ch) < 32 for ch in url):
        raise UnsafeUrl("the URL contains whitespace or control characters")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise UnsafeUrl("the URL is malformed (bad host or port)") from exc
    scheme = parts.scheme.lower()
    if scheme not in ALLOWED_SCHEMES:
        raise UnsafeUrl("the URL must start with https:// or http://")
    if parts.username is not None or parts.password is not None or "@" in parts.netloc:
        raise UnsafeUrl("the URL must not contain credentials (user:password@); send the token separately")
    host = (parts.hostname or "").rstrip(".")
    if not host:
        raise UnsafeUrl("the URL has no host")
    return scheme, host, port or (443 if scheme == "https" else 80), parts.path


def check_host(host: str, port: int, *, allow_private: bool, resolver: Resolver | None = None) -> None:
    """Refuse a host that is, or resolves to, a non-public address (unless private hosts are allowed)."""
    if allow_private:
        return
    try:
        addresses = [str(ipaddress.ip_address(host))]  # a literal address needs no lookup
    except ValueError:
        addresses = (resolver or system_resolver)(host, port)
    if not addresses:
        raise UnsafeUrl(f"the host {host!r} cannot be resolved")
    for address in addresses:
        if not is_public_address(address):
            raise UnsafeUrl(
                f"the host {host!r} is a private, loopback or otherwise internal address; "
                "set ALLOW_PRIVATE_JIRA_URLS=true to connect a Jira inside your network"
            )


def validate_base_url(url: str, *, allow_private: bool, resolver: Resolver | None = None) -> str:
    """The normalised base URL (scheme://host[:port][/context], no trailing slash), or UnsafeUrl."""
    scheme, host, port, path = _split(url)
    parts = urlsplit(url.strip())
    if parts.query or parts.fragment:
        raise UnsafeUrl("the base URL must not have a query string or fragment")
    check_host(host, port, allow_private=allow_private, resolver=resolver)
    netloc = f"[{host}]" if ":" in host else host
    if parts.port is not None:
        netloc += f":{parts.port}"
    return urlunsplit((scheme, netloc.lower(), path.rstrip("/"), "", ""))


def check_url(url: str, *, allow_private: bool, resolver: Resolver | None = None) -> None:
    """Refuse any outbound request URL (query strings allowed) that the base-URL rules refuse."""
    _, host, port, _ = _split(url)
    check_host(host, port, allow_private=allow_private, resolver=resolver)


class SafeSession(requests.Session):
    """A requests session that checks every URL it sends to, redirects included, before connecting."""

    def __init__(self, *, allow_private: bool, resolver: Resolver | None = None, max_redirects: int = 5):
        super().__init__()
        self.allow_private = allow_private
        self.resolver = resolver
        self.max_redirects = max_redirects

    def send(self, request: requests.PreparedRequest, **kwargs) -> requests.Response:
        """Check the URL, then send (requests calls this for the first request and each redirect)."""
        check_url(request.url, allow_private=self.allow_private, resolver=self.resolver)
        return super().send(request, **kwargs)
