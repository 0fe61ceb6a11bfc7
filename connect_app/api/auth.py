"""API authentication: HS256 service tokens minted by CSCX.AI's backend (or `cscx-jira token`)."""

from __future__ import annotations

import functools
import time
from dataclasses import dataclass

import jwt
from flask import current_app, g, request

from connect_app.api.params import check_query
from connect_app.errors import ApiError
from connect_app.platform.storable import name_problem
from connect_app.workspaces import ensure_organization

ROLES = ("csm", "pm", "support", "approver", "admin")
REQUIRED_CLAIMS = ("sub", "role", "workspace", "exp")
LEEWAY_SECONDS = 30
MAX_TTL_SECONDS = 24 * 3600


@dataclass(frozen=True)
class Principal:
    """The CSCX.AI user behind an API call and the workspace every query is scoped to."""

    user_id: str
    email: str | None
    role: str
    workspace: str


def mint_service_token(secret: str, *, workspace: str, role: str, user: str, email: str | None = None,
                       ttl: int = 3600) -> str:
    """A signed service token, as CSCX.AI's backend mints them (used by the CLI and tests)."""
    if role not in ROLES:
        raise ValueError(f"role must be one of {', '.join(ROLES)}")
    now = int(time.time())
    claims = {"sub": user, "role": role, "workspace": workspace, "iat": now, "exp": now + ttl}
    if email:
        claims["email"] = email
    return jwt.encode(claims, secret, algorithm="HS256")


def _unauthorized(reason: str) -> ApiError:
    header = f'Bearer error="invalid_token", error_description="{reason}"'
    return ApiError(401, "unauthorized", reason, headers={"WWW-Authenticate": header})


def decode_service_token(token: str, secret: str) -> Principal:
    """Verify a service token and return its principal; raises ApiError(401) with a short reason."""
    try:
        # The algorithm is pinned: a token that names another one (or none) is refused.
        claims = jwt.decode(
            token, secret, algorithms=["HS256"], leeway=LEEWAY_SECONDS,
            options={"require": list(REQUIRED_CLAIMS)},
        )
    except jwt.ExpiredSignatureError as exc:
        raise _unauthorized("token expired") from exc
    except jwt.MissingRequiredClaimError as exc:
        raise _unauthorized(f"token lacks the {exc.claim} claim") from exc
    except (jwt.InvalidTokenError, OverflowError, TypeError) as exc:
        # OverflowError/TypeError: a numeric claim PyJWT cannot read as a time (1e400, an object).
        raise _unauthorized("invalid token") from exc
    if claims["role"] not in ROLES:
        raise _unauthorized("unknown role")
    if int(claims["exp"]) - int(time.time()) > MAX_TTL_SECONDS + LEEWAY_SECONDS:
        raise _unauthorized("token lifetime too long")
    # The workspace and user ids key rows and go into queries: plain one-line strings only (no NUL, no
    # objects stringified into an id).
    workspace = claims["workspace"].strip() if isinstance(claims["workspace"], str) else ""
    if not workspace or len(workspace) > 64 or name_problem(workspace):
        raise _unauthorized("bad workspace claim")
    subject = claims["sub"]
    if not isinstance(subject, str) or not subject.strip() or len(subject) > 200 or name_problem(subject):
        raise _unauthorized("bad sub claim")
    email = claims.get("email")
    if email is not None and (not isinstance(email, str) or len(email) > 320 or name_problem(email)):
        raise _unauthorized("bad email claim")
    return Principal(subject, email, claims["role"], workspace)


def principal_from_request() -> Principal:
    """The principal of the current request's Bearer token."""
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise _unauthorized("missing bearer token")
    secret = current_app.config.get("CSCX_SIGNING_SECRET")
    if not secret:
        raise ApiError(503, "not_configured", "CSCX_SIGNING_SECRET is not configured")
    return decode_service_token(token.strip(), secret)


def require_api(*roles: str):
    """Decorator for /api views: authenticate the service token, check the role, set g.principal."""

    def decorator(view):
        @functools.wraps(view)
        def wrapper(*args, **kwargs):
            principal = principal_from_request()
            if roles and principal.role not in roles:
                raise ApiError(403, "forbidden", f"this action needs the role {' or '.join(roles)}")
            g.principal = principal
            check_query()
            g.organization = ensure_organization(principal.workspace)
            return view(*args, **kwargs)

        return wrapper

    return decorator
