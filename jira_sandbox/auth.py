"""Who is calling: Basic (Cloud email + API token, Server username + password) and Server PATs.

`authenticate()` asks each callable in `state.authenticators` in turn; the Connect-JWT and OAuth
authenticators of `connect_host` / `oauth` are appended there by their `register()`. An
authenticator returns a `Principal`, returns None when the request is not its kind, or raises
`AuthFailed` when it is its kind but the credentials are wrong (the caller answers 401).
"""

from __future__ import annotations

import base64
import binascii
import hmac
from dataclasses import dataclass

# Jira Cloud answers an unauthenticated REST call with this text body; Server with JSON.
CLOUD_401_TEXT = "Client must be authenticated to access this resource."
SERVER_401_MESSAGE = "You are not authenticated. Authentication required to perform this operation."


@dataclass
class Principal:
    """The authenticated caller."""

    user_id: str
    kind: str  # basic | pat | jwt | oauth
    app_key: str | None = None
    scopes: list[str] | None = None
    cloud_id: str | None = None


class AuthFailed(Exception):
    """Credentials of a known kind that do not check out (answered 401)."""

    def __init__(self, message: str = "Authentication failed"):
        super().__init__(message)
        self.message = message


def _same(a: str, b: str) -> bool:
    # Constant-time comparison: the sandbox mimics a real credential check.
    return hmac.compare_digest(a.encode(), b.encode())


def basic_authenticator(request, state) -> Principal | None:
    """Basic auth: email + API token on Cloud, username + password on Server."""
    header = request.headers.get("Authorization", "")
    if not header.lower().startswith("basic "):
        return None
    try:
        login, _, secret = base64.b64decode(header[6:].strip()).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        raise AuthFailed("Malformed Basic credentials") from None
    with state.lock:
        users = list(state.users.items())
    for user_id, user in users:
        if state.flavour == "cloud":
            if login.lower() == user["emailAddress"].lower() and _same(secret, user["api_token"]):
                return Principal(user_id=user_id, kind="basic")
        elif login in (user["name"], user["emailAddress"]) and _same(secret, user["password"]):
            return Principal(user_id=user_id, kind="basic")
    raise AuthFailed("Invalid username or password")


def pat_authenticator(request, state) -> Principal | None:
    """Server/Data Center personal access token: `Authorization: Bearer <PAT>`."""
    if state.flavour != "server":
        return None
    header = request.headers.get("Authorization", "")
    if not header.lower().startswith("bearer "):
        return None
    token = header[7:].strip()
    with state.lock:
        users = list(state.users.items())
    for user_id, user in users:
        if _same(token, user["pat"]):
            return Principal(user_id=user_id, kind="pat")
    raise AuthFailed("Invalid personal access token")


DEFAULT_AUTHENTICATORS = (basic_authenticator, pat_authenticator)


def authenticate(request, state) -> Principal | None:
    """The caller's Principal, None when anonymous; raises AuthFailed on bad credentials."""
    for authenticator in list(state.authenticators):
        principal = authenticator(request, state)
        if principal is not None:
            return principal
    return None
