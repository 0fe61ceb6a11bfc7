"""Fixtures for the Atlassian protocol tests: tenants, token factories, RSA keys, local servers."""

from __future__ import annotations

import contextlib
import socket
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import jwt as pyjwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from connect_app.atlassian.qsh import query_string_hash
from tests.serving import ThreadedServer

NOW = 1_700_000_000


@dataclass
class Tenant:
    """A stand-in for the stored tenant row: what tenant_lookup returns."""

    client_key: str
    shared_secret: str
    base_url: str | None = None


@dataclass
class RsaKey:
    """An RSA key pair as PEM text."""

    private_pem: str
    public_pem: str


@dataclass
class KeyServer:
    """A local stand-in for connect-install-keys: serves PEMs by kid and counts requests."""

    url: str
    keys: dict[str, str] = field(default_factory=dict)
    hits: list[str] = field(default_factory=list)


@contextlib.contextmanager
def serve_wsgi(app: Callable) -> Iterator[str]:
    """Run a WSGI app on a free localhost port in a thread; yield its base URL."""
    with ThreadedServer(app) as server:
        yield server.base_url


def make_rsa_key() -> RsaKey:
    """Generate a fresh 2048-bit RSA key pair."""
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private_pem = private.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    public_pem = (
        private.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    return RsaKey(private_pem, public_pem)


@pytest.fixture
def clock() -> Callable[[], float]:
    """A frozen clock at NOW."""
    return lambda: NOW


@pytest.fixture
def tenants() -> dict[str, Tenant]:
    """Two tenants with distinct shared secrets, keyed by clientKey."""
    return {
        "tenant-a": Tenant("tenant-a", "secret-a-" + "a" * 40),
        "tenant-b": Tenant("tenant-b", "secret-b-" + "b" * 40),
    }


@pytest.fixture
def make_tenant_token(tenants: dict[str, Tenant]) -> Callable[..., str]:
    """Build a Jira-style tenant token for a request; overrides replace or drop (None) claims."""

    def make(
        method: str = "GET",
        url: str = "/panel?issueKey=CS-1",
        *,
        client_key: str = "tenant-a",
        secret: str | None = None,
        algorithm: str = "HS256",
        headers: dict | None = None,
        **overrides: object,
    ) -> str:
        claims: dict[str, object] = {
            "iss": client_key,
            "sub": "557058:account-1",
            "iat": NOW - 10,
            "exp": NOW + 170,
            "qsh": query_string_hash(method, url),
            "context": {"license": "active"},
        }
        for name, value in overrides.items():
            if value is None:
                claims.pop(name, None)
            else:
                claims[name] = value
        key = secret if secret is not None else tenants[client_key].shared_secret
        return pyjwt.encode(claims, key, algorithm=algorithm, headers=headers)

    return make


@pytest.fixture(scope="session")
def rsa_key() -> RsaKey:
    """Atlassian's install signing key, as far as these tests are concerned."""
    return make_rsa_key()


@pytest.fixture
def key_server(rsa_key: RsaKey) -> Iterator[KeyServer]:
    """A local install-key server: ``/{kid}`` → PEM; kid "slow" stalls, "broken" fails."""
    state = KeyServer(url="", keys={"kid-1": rsa_key.public_pem, "not-a-key": "hello"})

    def app(environ, start_response):
        kid = environ["PATH_INFO"].lstrip("/")
        state.hits.append(kid)
        if kid == "slow":
            time.sleep(1.0)
        if kid == "broken":
            start_response("500 Internal Server Error", [("Content-Type", "text/plain")])
            return [b"boom"]
        pem = state.keys.get(kid)
        if pem is None:
            start_response("404 Not Found", [("Content-Type", "text/plain")])
            return [b"no such key"]
        start_response("200 OK", [("Content-Type", "application/x-pem-file")])
        return [pem.encode()]

    with serve_wsgi(app) as url:
        state.url = url
        yield state


@pytest.fixture
def closed_port_url() -> str:
    """A localhost URL on which nothing listens."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"
