"""Base URL validation and the safe session: refusals come before connecting, which goes to the checked address."""

from __future__ import annotations

import ssl
import threading
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest
import requests

from connect_app.connections.urlsafety import (
    SafeSession,
    UnsafeUrl,
    is_public_address,
    validate_base_url,
    validate_connect_base_url,
)


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


# ---- IPv6 transition prefixes carry an IPv4 address: judged by it


@pytest.mark.parametrize("address, public", [
    ("2002:7f00:1::", False),  # 6to4 of 127.0.0.1
    ("2002:a9fe:a9fe::1", False),  # 6to4 of 169.254.169.254
    ("2002:5db8:d822::1", True),  # 6to4 of 93.184.216.34
    ("64:ff9b::7f00:1", False),  # NAT64 of 127.0.0.1
    ("64:ff9b::a00:5", False),  # NAT64 of 10.0.0.5
    ("64:ff9b::5db8:d822", True),  # NAT64 of 93.184.216.34
    ("2001:0:4136:e378:8000:63bf:80ff:fffe", False),  # Teredo, client 127.0.0.1
    ("2001:0:5db8:d822:8000:63bf:a247:29dd", True),  # Teredo, server 93.184.216.34, client 93.184.214.34
    ("::ffff:a9fe:a9fe", False),  # IPv4-mapped 169.254.169.254
])
def test_transition_addresses_are_judged_by_the_ipv4_they_carry(address, public):
    assert is_public_address(address) is public
    if not public:
        with pytest.raises(UnsafeUrl, match="internal"):
            validate_base_url(f"http://[{address}]/", allow_private=False)
        with pytest.raises(UnsafeUrl, match="internal"):
            validate_base_url("https://jira.example.com", allow_private=False, resolver=lambda h, p: [address])


# ---- Connect sites: Atlassian's domains, anything else only with the opt-in


@pytest.mark.parametrize("url", ["https://acme.atlassian.net", "https://ACME.atlassian.net/", "https://old.jira.com",
                                 "https://dev-site.jira-dev.com"])
def test_connect_base_urls_on_atlassian_domains_pass_without_a_lookup(url):
    assert validate_connect_base_url(url, allow_private=False) == url.lower().rstrip("/")


@pytest.mark.parametrize("url", ["http://acme.atlassian.net", "https://atlassian.net.evil.example",
                                 "https://evilatlassian.net", "https://169.254.169.254", "http://127.0.0.1:2990",
                                 "https://jira.example.com"])
def test_other_connect_base_urls_need_the_opt_in(url):
    with pytest.raises(UnsafeUrl, match="Atlassian Cloud site"):
        validate_connect_base_url(url, allow_private=False)
    assert validate_connect_base_url(url, allow_private=True) == url


def test_connect_sessions_call_only_atlassian_sites_without_the_opt_in():
    session = SafeSession(allow_private=False, atlassian_only=True, resolver=public_resolver)
    with pytest.raises(UnsafeUrl, match="Atlassian Cloud site"):
        session.get("https://jira.example.com/rest/api/3/myself", timeout=0.5)
    session = SafeSession(allow_private=False, atlassian_only=True, resolver=loopback_resolver)
    with pytest.raises(UnsafeUrl, match="internal"):
        session.get("https://acme.atlassian.net/rest/api/3/myself", timeout=0.5)


# ---- pinning: one lookup per request, the connection goes to the address that was checked


class _Recorder(BaseHTTPRequestHandler):
    def do_GET(self):
        self.server.hosts.append(self.headers.get("Host"))
        body = b'{"ok": true}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def recorder():
    """An HTTP server on 127.0.0.1 that records the Host header of every request it gets."""
    server = HTTPServer(("127.0.0.1", 0), _Recorder)
    server.hosts = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


class ScriptedResolver:
    """DNS we control: each lookup returns the next scripted answer (the last one repeats); calls are counted."""

    def __init__(self, *answers: list[str]):
        self.answers = list(answers)
        self.calls: list[str] = []

    def __call__(self, host: str, port: int) -> list[str]:
        self.calls.append(host)
        return self.answers[min(len(self.calls), len(self.answers)) - 1]


def test_dns_rebinding_cannot_reach_the_loopback_address_checked_as_public(recorder):
    # The attacker's DNS answers "public" to the check and "127.0.0.1" to any later lookup; the
    # system resolver also knows the name (localhost), so a connect-time lookup would reach the recorder.
    rebinding = ScriptedResolver(["93.184.216.34"], ["127.0.0.1"])
    session = SafeSession(allow_private=False, resolver=rebinding)
    with pytest.raises(requests.ConnectionError):
        session.get(f"http://localhost:{recorder.server_port}/rest/api/2/serverInfo", timeout=(1, 1))
    assert rebinding.calls == ["localhost"]  # one lookup for the request: the checked one
    assert recorder.hosts == []  # the connection went to the checked public address, never to loopback
    # The next request looks up again, gets loopback, and is refused before connecting.
    with pytest.raises(UnsafeUrl, match="internal"):
        session.get(f"http://localhost:{recorder.server_port}/rest/api/2/serverInfo", timeout=(1, 1))
    assert rebinding.calls == ["localhost", "localhost"] and recorder.hosts == []


def test_pinned_requests_keep_the_host_name_and_try_the_next_checked_address(recorder):
    # 127.0.0.2 is loopback too but nothing listens there: the connection is refused and the next address is used.
    resolver = ScriptedResolver(["127.0.0.2", "127.0.0.1"])
    session = SafeSession(allow_private=True, resolver=resolver)
    url = f"http://jira.pinned.test:{recorder.server_port}/rest/api/2/serverInfo"
    response = session.get(url, timeout=5)
    assert response.status_code == 200 and response.json() == {"ok": True}
    assert response.url == url  # callers see the name, never the address
    assert recorder.hosts == [f"jira.pinned.test:{recorder.server_port}"]
    assert resolver.calls == ["jira.pinned.test"]  # the name never reached the system resolver
    session.get(url, timeout=5)
    assert resolver.calls == ["jira.pinned.test"] * 2  # resolved again for each request


def test_a_name_that_does_not_resolve_is_a_network_fault_when_sending():
    # At request time an unresolvable name is a (retryable) connection error, not a refused URL.
    session = SafeSession(allow_private=True, resolver=ScriptedResolver([]))
    with pytest.raises(requests.ConnectionError, match="cannot be resolved"):
        session.get("http://jira.gone.test/rest/api/2/serverInfo", timeout=1)


def _certificate(tmp_path, name: str) -> tuple[str, str]:
    """A self-signed certificate for `name` (and only that name): (cert file, key file)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.now(UTC)
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - timedelta(minutes=5))
            .not_valid_after(now + timedelta(hours=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    cert_file, key_file = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return str(cert_file), str(key_file)


@pytest.fixture
def tls_recorder(tmp_path):
    """An HTTPS server on 127.0.0.1 with a certificate for jira.pinned.test; records SNI names and Host headers."""
    cert_file, key_file = _certificate(tmp_path, "jira.pinned.test")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_file, key_file)
    server = HTTPServer(("127.0.0.1", 0), _Recorder)
    server.hosts, server.sni = [], []
    context.sni_callback = lambda sock, name, ctx: server.sni.append(name)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server, cert_file
    server.shutdown()
    server.server_close()


def test_pinned_tls_sends_the_name_as_sni_and_checks_the_certificate_against_it(tls_recorder):
    server, ca_file = tls_recorder
    session = SafeSession(allow_private=True, resolver=ScriptedResolver(["127.0.0.1"]))
    response = session.get(f"https://jira.pinned.test:{server.server_port}/rest/api/3/myself", verify=ca_file,
                           timeout=5)
    assert response.status_code == 200
    assert server.sni == ["jira.pinned.test"] and server.hosts == [f"jira.pinned.test:{server.server_port}"]
    # Another name on the same address: the certificate does not cover it, so TLS fails.
    with pytest.raises(requests.exceptions.SSLError):
        session.get(f"https://other.pinned.test:{server.server_port}/", verify=ca_file, timeout=5)
    assert len(server.hosts) == 1
