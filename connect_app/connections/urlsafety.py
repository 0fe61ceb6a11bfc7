"""Outbound URL safety: Jira base URLs given by users must not turn the service into a proxy.

The connect endpoint takes a base URL from a caller and makes the service call it. Without
checks that is server-side request forgery: `http://169.254.169.254/` (cloud metadata),
`http://127.0.0.1:6379/`, `http://10.0.0.5/admin`. So a base URL is accepted only when:

- its scheme is http or https, it names a host, it carries no credentials, query or fragment;
- every address its host resolves to is public (not private, loopback, link-local, multicast,
  reserved, unspecified, CGNAT or site-local), unless ALLOW_PRIVATE_JIRA_URLS is set
  (self-hosted Jira Data Center inside the company network is a legitimate case). An IPv6
  address that carries an IPv4 one (IPv4-mapped, 6to4, NAT64, Teredo) is judged by what it
  carries: `2002:7f00:1::` is 127.0.0.1 reached through a 6to4 relay.

A Connect install names its site's `baseUrl` in a body we verify but do not choose: Atlassian's
sites live on `https://*.atlassian.net` (and `*.jira.com`, `*.jira-dev.com`), so anything else
needs the same ALLOW_PRIVATE_JIRA_URLS opt-in (`validate_connect_base_url`).

The checks run before any connection is attempted. `SafeSession` repeats them for every request
it sends, redirects included, and connects to the very address it checked: a name is resolved
once per request and the socket goes to that address, with the name kept for the Host header,
TLS SNI and certificate checks. A second lookup at connect time could answer differently (DNS
rebinding: public when checked, 127.0.0.1 when connected), so there is none.
"""

from __future__ import annotations

import ipaddress
import socket
import threading
from collections.abc import Callable
from urllib.parse import urlsplit, urlunsplit

import requests
from requests.adapters import HTTPAdapter
from urllib3.exceptions import NewConnectionError

Resolver = Callable[[str, int], list[str]]

ALLOWED_SCHEMES = ("http", "https")
MAX_URL_LENGTH = 500  # JiraConnection.base_url is String(500)
# Where Atlassian hosts Jira Cloud sites (production, legacy, and Atlassian's development sites).
ATLASSIAN_SITE_DOMAINS = ("atlassian.net", "jira.com", "jira-dev.com")
NAT64_PREFIX = ipaddress.ip_network("64:ff9b::/96")  # RFC 6052: the last 32 bits are the IPv4 address
MAX_ADDRESSES_TRIED = 3  # a name with an unreachable first address (IPv6 without a route) still works


class UnsafeUrl(ValueError):
    """A URL is malformed or points where the service must not go; the message says which rule."""


class HostNotFound(UnsafeUrl):
    """The host name does not resolve (when sending, a network fault rather than a refusal)."""


def system_resolver(host: str, port: int) -> list[str]:
    """Every address `host` resolves to (IPv4 and IPv6), in the order the system prefers them."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise HostNotFound(f"the host {host!r} cannot be resolved") from exc
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def embedded_ipv4(ip: ipaddress.IPv6Address) -> list[ipaddress.IPv4Address]:
    """The IPv4 addresses an IPv6 transition address carries (mapped, 6to4, Teredo, NAT64); [] for others."""
    if ip.ipv4_mapped is not None:
        return [ip.ipv4_mapped]
    if ip.sixtofour is not None:
        return [ip.sixtofour]
    if ip.teredo is not None:
        return list(ip.teredo)  # the relay server and the (de-obfuscated) client
    if ip in NAT64_PREFIX:
        return [ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)]
    return []


def is_public_address(address: str) -> bool:
    """True for a globally routable unicast address; False for every special-purpose range."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address):
        carried = embedded_ipv4(ip)
        if carried:  # ::ffff:127.0.0.1, 2002:7f00:1::, 64:ff9b::7f00:1 all reach loopback
            return all(is_public_address(str(v4)) for v4 in carried)
    if ip.is_private or ip.is_loopback or ip.is_link_local or ip.is_multicast or ip.is_reserved \
            or ip.is_unspecified:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.is_site_local:
        return False
    return ip.is_global


def is_atlassian_site(host: str) -> bool:
    """Whether a host name is under one of the domains Atlassian serves Jira Cloud sites from."""
    name = host.lower().rstrip(".")
    return any(name.endswith(f".{domain}") for domain in ATLASSIAN_SITE_DOMAINS)


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


def check_host(host: str, port: int, *, allow_private: bool, resolver: Resolver | None = None,
               resolve: bool = False) -> list[str]:
    """The addresses of a host, each one public (unless private hosts are allowed); raises UnsafeUrl.

    With private hosts allowed nothing is looked up unless `resolve` asks (a session pinning its
    connection needs the addresses either way).
    """
    try:
        addresses = [str(ipaddress.ip_address(host))]  # a literal address needs no lookup
    except ValueError:
        if allow_private and not resolve:
            return []
        addresses = (resolver or system_resolver)(host, port)
    if not addresses:
        raise HostNotFound(f"the host {host!r} cannot be resolved")
    if allow_private:
        return addresses
    for address in addresses:
        if not is_public_address(address):
            raise UnsafeUrl(
                f"the host {host!r} is a private, loopback or otherwise internal address; "
                "set ALLOW_PRIVATE_JIRA_URLS=true to connect a Jira inside your network"
            )
    return addresses


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


def _check_atlassian_site(scheme: str, host: str) -> None:
    if scheme != "https" or not is_atlassian_site(host):
        raise UnsafeUrl(
            "a Connect site's baseUrl must be an https:// Atlassian Cloud site (*.atlassian.net, *.jira.com, "
            "*.jira-dev.com); set ALLOW_PRIVATE_JIRA_URLS=true to accept other hosts"
        )


def validate_connect_base_url(url: str, *, allow_private: bool) -> str:
    """A Connect install's `baseUrl`, normalised: an Atlassian Cloud site, or anything only with the opt-in.

    Nothing is looked up here (the install answers at once); `SafeSession` checks the addresses
    of an Atlassian name on every request it sends.
    """
    scheme, host, _, _ = _split(url)
    if not allow_private:
        _check_atlassian_site(scheme, host)
    return validate_base_url(url, allow_private=True)


def check_url(url: str, *, allow_private: bool, resolver: Resolver | None = None,
              atlassian_only: bool = False) -> list[str]:
    """Refuse any outbound request URL (query strings allowed) that the base-URL rules refuse; its addresses."""
    scheme, host, port, _ = _split(url)
    if atlassian_only and not allow_private:
        _check_atlassian_site(scheme, host)
    return check_host(host, port, allow_private=allow_private, resolver=resolver, resolve=True)


def _connect_failed(exc: requests.ConnectionError) -> bool:
    """Whether no connection was made at all (so nothing was sent and another address may be tried)."""
    reason = getattr(exc.args[0], "reason", None) if exc.args else None
    return isinstance(exc, requests.ConnectTimeout) or isinstance(reason, NewConnectionError)


class PinnedAdapter(HTTPAdapter):
    """A transport that connects to the addresses its session checked, keeping the name for Host and TLS.

    urllib3 pools are keyed by the address; `server_hostname` (SNI) and `assert_hostname`
    (certificate check) carry the name, and so does the Host header. This is requests' documented
    extension point (`build_connection_pool_key_attributes`), not a patch of its internals.
    """

    def __init__(self, session: SafeSession):
        super().__init__()
        self._session = session
        self._pinned = threading.local()

    def send(self, request: requests.PreparedRequest, **kwargs) -> requests.Response:
        """Resolve and check once, then send to each checked address until one accepts the connection."""
        try:
            addresses = self._session.checked_addresses(request.url)
        except HostNotFound as exc:
            raise requests.ConnectionError(str(exc), request=request) from None
        parts = urlsplit(request.url)
        request.headers["Host"] = parts.netloc  # the name, not the address we connect to
        *earlier, last = addresses[:MAX_ADDRESSES_TRIED]  # never empty: check_url raises instead
        for address in earlier:
            try:
                return self._send_to(address, request, **kwargs)
            except requests.ConnectionError as exc:
                if not _connect_failed(exc):
                    raise
        return self._send_to(last, request, **kwargs)

    def _send_to(self, address: str, request: requests.PreparedRequest, **kwargs) -> requests.Response:
        self._pinned.address = address
        try:
            return super().send(request, **kwargs)
        finally:
            self._pinned.address = None

    def build_connection_pool_key_attributes(self, request, verify, cert=None):
        """The pool of the pinned address; the name stays the TLS server name and the certificate's subject."""
        host_params, pool_kwargs = super().build_connection_pool_key_attributes(request, verify, cert)
        address = getattr(self._pinned, "address", None)
        if address is None:  # only reachable through send(), which always pins
            raise requests.ConnectionError("no checked address to connect to", request=request)
        name = host_params["host"]
        host_params["host"] = address
        if host_params["scheme"] == "https":
            pool_kwargs["server_hostname"] = name
            pool_kwargs["assert_hostname"] = name
        return host_params, pool_kwargs


class SafeSession(requests.Session):
    """A requests session that checks every URL it sends to, redirects included, and connects to what it checked.

    `atlassian_only` is the Connect rule: without ALLOW_PRIVATE_JIRA_URLS only Atlassian Cloud
    sites may be called. `resolver` is injectable for tests (the rebinding test controls it).
    """

    def __init__(self, *, allow_private: bool, resolver: Resolver | None = None, max_redirects: int = 5,
                 atlassian_only: bool = False):
        super().__init__()
        self.allow_private = allow_private
        self.resolver = resolver
        self.max_redirects = max_redirects
        self.atlassian_only = atlassian_only
        adapter = PinnedAdapter(self)
        self.mount("https://", adapter)
        self.mount("http://", adapter)

    def checked_addresses(self, url: str) -> list[str]:
        """The addresses of the URL's host, resolved once and every one allowed; raises UnsafeUrl."""
        return check_url(url, allow_private=self.allow_private, resolver=self.resolver,
                         atlassian_only=self.atlassian_only)

    def send(self, request: requests.PreparedRequest, **kwargs) -> requests.Response:
        """Refuse a malformed or non-http(s) URL before requests picks an adapter (also for each redirect)."""
        _split(request.url)
        return super().send(request, **kwargs)
