"""Base URL validation and the safe session: refusals happen before any connection is attempted."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest

from connect_app.connections.urlsafety import SafeSession, UnsafeUrl, is_public_address, validate_base_url


def public_resolver(host: str, port: int) -> list[str]:
    """DNS for names that must not be looked up for real: everything is one public address."""
    return ["93.184.216.34"]


def loopback_resolver(host: str, port: int) -> list[str]:
    """DNS rebinding-style answer: a public-looking name resolving to loopback and a public address."""
    return ["93.184.216.34", "127.0.0.1"]


@pytest.mark.parametrize("url, rule", [
    ("http://127.0.0.1:8080", "internal"),
    ("http://10.1.2.3/jira", "internal"),
    ("http://172.16.0.9", "internal"),
    ("http://192.168.1.20", "internal"),
    ("http://169.254.169.254/latest/meta-data", "internal"),
    ("http://[::1]:8080", "internal"),
    ("http://[::ffff:127.0.0.1]/", "internal"),
    ("http://[fd00::1]/", "internal"),
    ("http://0.0.0.0/", "internal"),
    ("http://100.64.0.1/", "internal"),
    ("http://localhost:2990/jira", "internal"),
    ("https://admin:secret@jira.example.com", "credentials"),
    ("https://token@jira.example.com", "credentials"),
    ("ftp://jira.example.com", "https://"),
    ("file:///etc/passwd", "https://"),
    ("gopher://jira.example.com:6379/_INFO", "https://"),
    ("jira.example.com", "https://"),
    ("https://jira.example.com/?next=1", "query"),
    ("https://jira.example.com/#x", "query"),
    ("https://", "no host"),
    ("https://jira.example.com:99999", "malformed"),
    ("https://jira.example.com/\njira", "whitespace"),
    ("", "empty"),
])
def test_unsafe_base_urls_are_refused(url, rule):
    with pytest.raises(UnsafeUrl, match=rule):
        validate_base_url(url, allow_private=False, resolver=public_resolver if "example" in url else None)


def test_a_name_resolving_to_loopback_is_refused_even_with_a_public_address_beside_it():
    with pytest.raises(UnsafeUrl, match="internal"):
        validate_base_url("https://jira.example.com", allow_private=False, resolver=loopback_resolver)


def test_public_urls_are_normalised():
    assert validate_base_url(" HTTPS://Jira.Example.com/jira/ ", allow_private=False,
                             resolver=public_resolver) == "https://jira.example.com/jira"
    assert validate_base_url("http://jira.example.com:8080", allow_private=False,
                             resolver=public_resolver) == "http://jira.example.com:8080"


def test_private_addresses_pass_only_when_allowed_and_credentials_never():
    assert validate_base_url("http://10.0.0.5:8080/jira/", allow_private=True) == "http://10.0.0.5:8080/jira"
    with pytest.raises(UnsafeUrl, match="credentials"):
        validate_base_url("http://u:p@10.0.0.5/", allow_private=True)


def test_address_classes():
    assert is_public_address("93.184.216.34") and is_public_address("2606:4700::1111")
    for address in ("127.0.0.1", "10.0.0.1", "169.254.169.254", "224.0.0.1", "::1", "fe80::1", "::ffff:10.0.0.1"):
        assert not is_public_address(address), address


def test_safe_session_refuses_internal_hosts_without_connecting():
    session = SafeSession(allow_private=False)
    for url in ("http://169.254.169.254/latest/meta-data/", "http://10.255.255.1/", "http://[::1]:1/"):
        with pytest.raises(UnsafeUrl):
            session.get(url, timeout=0.5)


class _Redirector(BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(302)
        self.send_header("Location", self.server.target)
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.mark.parametrize("target, rule", [("ftp://127.0.0.1/secret", "https://"),
                                           ("http://admin:pw@127.0.0.1:1/", "credentials")])
def test_safe_session_checks_every_redirect(target, rule):
    server = HTTPServer(("127.0.0.1", 0), _Redirector)
    server.target = target
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        with pytest.raises(UnsafeUrl, match=rule):
            SafeSession(allow_private=True).get(f"http://127.0.0.1:{server.server_port}/rest/api/2/serverInfo",
                                                timeout=5)
    finally:
        server.shutdown()
        server.server_close()
