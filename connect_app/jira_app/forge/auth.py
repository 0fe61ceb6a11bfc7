"""Flask glue for Forge: every request carries a Forge Invocation Token, verified before anything else.

`verified_invocation()` checks the FIT (connect_app.atlassian.forge) against Atlassian's key set for our
FORGE_APP_ID; `forge_invocation_required` also finds the installation's connection, caches the
`x-forge-oauth-system` token the invocation brought, and sets `g.invocation`, `g.tenant` and
`g.forge_user_token`. Any refusal is a 401 that has changed nothing.
"""

from __future__ import annotations

import functools
import logging

from flask import current_app, g, request

from connect_app.atlassian import (
    AtlassianAuthError,
    ForgeInvocation,
    JwksKeys,
    invocation_token_from_headers,
    verify_invocation_token,
)
from connect_app.connections.forge_installations import remember_system_token
from connect_app.connections.records import find_tenant
from connect_app.errors import ApiError

log = logging.getLogger(__name__)

SYSTEM_TOKEN_HEADER = "x-forge-oauth-system"
USER_TOKEN_HEADER = "x-forge-oauth-user"


def forge_keys() -> JwksKeys:
    """One cached JWKS fetcher of Forge's signing keys per app."""
    keys = current_app.extensions.get("cscx_forge_keys")
    if keys is None:
        keys = JwksKeys(current_app.config["FORGE_JWKS_URL"])
        current_app.extensions["cscx_forge_keys"] = keys
    return keys


def _refused(reason: str) -> ApiError:
    log.warning("forge.auth.refused", extra={"reason": reason, "path": request.path})
    return ApiError(401, "unauthorized", reason)


def verified_invocation() -> ForgeInvocation:
    """The verified FIT of this request; ApiError 401 otherwise (nothing has been read or written yet)."""
    try:
        token = invocation_token_from_headers(request.headers)
        # Staging tokens are refused: this deployment trusts the production key set only.
        return verify_invocation_token(token, app_id=current_app.config.get("FORGE_APP_ID"), keys=forge_keys())
    except AtlassianAuthError as error:
        raise _refused(error.reason) from error


def forge_invocation_required(view):
    """Decorator: verify the FIT, find the installation's live connection, cache its system token."""

    @functools.wraps(view)
    def wrapper(*args, **kwargs):
        invocation = verified_invocation()
        connection = find_tenant(installation_id=invocation.installation_id)
        # The installation is the key; its site must be the token's site too.
        if connection is None or connection.cloud_id != invocation.cloud_id:
            raise _refused("unknown installation")
        remember_system_token(connection, request.headers.get(SYSTEM_TOKEN_HEADER))
        g.invocation = invocation
        g.tenant = connection
        g.forge_user_token = request.headers.get(USER_TOKEN_HEADER) or None
        return view(*args, **kwargs)

    return wrapper
