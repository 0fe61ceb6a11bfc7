"""Tokens as Atlassian signs them, made with the independent atlassian-jwt library (not our own code)."""

from __future__ import annotations

import time
import uuid

import jwt
from atlassian_jwt.url_utils import hash_url
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from werkzeug.wrappers import Request, Response

from tests.serving import ThreadedServer


class InstallKeyServer:
    """A stand-in for connect-install-keys.atlassian.com: serves PEM public keys by kid."""

    def __init__(self):
        self.private_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.kid = f"key-{uuid.uuid4().hex[:8]}"
        pem = self.private_key.public_key().public_bytes(serialization.Encoding.PEM,
                                                         serialization.PublicFormat.SubjectPublicKeyInfo)
        self.keys = {self.kid: pem.decode()}
        self.fetches = 0
        self._http = ThreadedServer(self._app).start()
        self.url = self._http.base_url

    @Request.application
    def _app(self, request: Request) -> Response:
        self.fetches += 1
        key = self.keys.get(request.path.strip("/"))
        return Response(key, mimetype="text/plain") if key else Response("not found", status=404)

    def close(self) -> None:
        """Stop serving."""
        self._http.stop()

    def install_token(self, method: str, url: str, *, client_key: str, audience: str, kid: str | None = None,
                      ttl: int = 180, private_key=None) -> str:
        """An RS256 lifecycle token as Jira signs it (signed-install)."""
        now = int(time.time())
        claims = {"iss": client_key, "aud": audience, "iat": now, "exp": now + ttl, "qsh": hash_url(method, url)}
        return jwt.encode(claims, private_key or self.private_key, algorithm="RS256",
                          headers={"kid": kid or self.kid})


def tenant_token(method: str, url: str, *, client_key: str, secret: str, ttl: int = 180, qsh: str | None = None,
                 sub: str = "557058:engineer-1") -> str:
    """An HS256 token as Jira signs requests to the app (qsh for the request, or 'context-qsh')."""
    now = int(time.time())
    claims = {"iss": client_key, "iat": now, "exp": now + ttl, "sub": sub, "qsh": qsh or hash_url(method, url)}
    return jwt.encode(claims, secret, algorithm="HS256")
