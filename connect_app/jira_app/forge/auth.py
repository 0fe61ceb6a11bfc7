"""Flask glue for Forge: every request carries a Forge Invocation Token, verified before anything else.

`verified_invocation()` checks the FIT (connect_app.atlassian.forge) against Atlassian's key set for our
FORGE_APP_ID; `forge_invocation_required` also finds the installation's connection, caches the
`x-forge-oauth-system` token the invocation brought, and sets `g.invocation`, `g.tenant` and
`g.forge_user_token`. Any refusal is a 401 that has changed nothing.

A genuine FIT names the user (`principal`) only on calls from the app's UI, whose invokeRemote picks any
path on our remote: so the routes Forge itself calls (lifecycle, events, the scheduled trigger) refuse a
user's call from a UI module (403), or anyone could post "uninstalled" to /forge/lifecycle from the issue
panel. A UI call is told by both documented signs: a `principal`, and an `app.module.type` other than
`core:endpoint` (what every invocation but a front-end one carries), so a trigger is never refused for
carrying a user.
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
from connect_app.models import JiraConnection

log = logging.getLogger(__name__)

SYSTEM_TOKEN_HEADER = "x-forge-oauth-system"
USER_TOKEN_HEADER = "x-forge-oauth-user"
ENDPOINT_MODULE_TYPE = "core:endpoint"  # `app.module.type` of every invocation but a front-end one


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


def verified_invocation(*, trigger: bool = False) -> ForgeInvocation:
    """The verified FIT of this request; ApiError 401 otherwise (nothing has been read or written yet).

    `trigger=True` for routes only Forge's triggers call: a token that names a user is refused with a 403.
    """
    try:
        token = invocation_token_from_headers(request.headers)
        # Staging tokens are refused: this deployment trusts the production key set only.
        invocation = verify_invocation_token(token, app_id=current_app.config.get("FORGE_APP_ID"), keys=forge_keys())
    except AtlassianAuthError as error:
        raise _refused(error.reason) from error
    if trigger and from_ui(invocation):
        log.warning("forge.auth.user_on_trigger_route", extra={"path": request.path})
        raise ApiError(403, "forbidden", "this route is called by Forge's triggers, not from the app's UI")
    return invocation


def from_ui(invocation: ForgeInvocation) -> bool:
    """Whether a user's call from a UI module brought this token (see the module docstring)."""
    app = invocation.claims.get("app")
    module = app.get("module") if isinstance(app, dict) else None
    module_type = module.get("type") if isinstance(module, dict) else None
    return invocation.account_id is not None and module_type != ENDPOINT_MODULE_TYPE


def module_key(invocation: ForgeInvocation) -> str | None:
    """The app module the invocation came from (`context.moduleKey`, else `app.module.key`), both signed."""
    context = invocation.claims.get("context")
    key = context.get("moduleKey") if isinstance(context, dict) else None
    if not isinstance(key, str):
        module = (invocation.claims.get("app") or {}).get("module")
        key = module.get("key") if isinstance(module, dict) else None
    return key if isinstance(key, str) else None


def extension_type(invocation: ForgeInvocation) -> str | None:
    """The UI module type the invocation came from (`context.extension.type`, e.g. `jira:adminPage`)."""
    context = invocation.claims.get("context")
    extension = context.get("extension") if isinstance(context, dict) else None
    value = extension.get("type") if isinstance(extension, dict) else None
    return value if isinstance(value, str) else None


def _installation_of(invocation: ForgeInvocation) -> JiraConnection:
    """The invocation's live connection; it caches the system token the invocation brought."""
    connection = find_tenant(installation_id=invocation.installation_id)
    # The installation is the key; its site must be the token's site too.
    if connection is None or connection.cloud_id != invocation.cloud_id:
        raise _refused("unknown installation")
    remember_system_token(connection, request.headers.get(SYSTEM_TOKEN_HEADER))
    g.invocation = invocation
    g.tenant = connection
    g.forge_user_token = request.headers.get(USER_TOKEN_HEADER) or None
    return connection


def forge_invocation_required(view):
    """Decorator: verify the FIT, find the installation's live connection, cache its system token."""

    @functools.wraps(view)
    def wrapper(*args, **kwargs):
        _installation_of(verified_invocation())
        return view(*args, **kwargs)

    return wrapper


def forge_trigger_required(view):
    """Decorator: like forge_invocation_required, for routes only Forge's triggers call (no user in the token)."""

    @functools.wraps(view)
    def wrapper(*args, **kwargs):
        _installation_of(verified_invocation(trigger=True))
        return view(*args, **kwargs)

    return wrapper
