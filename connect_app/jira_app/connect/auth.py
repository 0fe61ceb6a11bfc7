"""Flask glue for Connect authentication: Jira's JWT on pages, our context token on htmx calls."""

from __future__ import annotations

import functools
import hashlib
import hmac
import logging
from urllib.parse import urlsplit

from flask import current_app, g, request

from connect_app.atlassian import (
    AtlassianAuthError,
    InstallKeyFetcher,
    issue_context_token,
    token_from_request,
    verify_context_token,
    verify_request_token,
)
from connect_app.connections.records import find_tenant
from connect_app.errors import ApiError
from connect_app.models import JiraConnection

log = logging.getLogger(__name__)

CONTEXT_HEADER = "X-CSCX-Context"


def raw_request_target() -> str:
    """The request path and query exactly as the client sent them (QSH hashes what was sent)."""
    environ = request.environ
    raw = environ.get("RAW_URI") or environ.get("REQUEST_URI")
    if raw:
        return raw
    query = environ.get("QUERY_STRING", "")
    return request.path + (f"?{query}" if query else "")


def app_base_path() -> str:
    """The path part of our BASE_URL; Connect QSH paths are relative to it."""
    return urlsplit(current_app.config["BASE_URL"]).path.rstrip("/")


def install_key_fetcher() -> InstallKeyFetcher:
    """One cached fetcher of Atlassian's install public keys per app."""
    fetcher = current_app.extensions.get("cscx_install_keys")
    if fetcher is None:
        fetcher = InstallKeyFetcher(current_app.config["ATLASSIAN_INSTALL_KEYS_URL"])
        current_app.extensions["cscx_install_keys"] = fetcher
    return fetcher


def _refused(error: AtlassianAuthError) -> ApiError:
    log.warning("connect.auth.refused", extra={"reason": error.reason, "path": request.path})
    return ApiError(401, "unauthorized", error.reason)


def jira_jwt_required(*, context_qsh: bool = False):
    """Decorator: verify Jira's JWT (header or ?jwt=) and set g.tenant and g.jira_account_id.

    context_qsh=True for pages Jira opens in iframes: with the context-qsh migration their
    tokens carry the fixed "context-qsh" claim instead of a request hash.
    """

    def decorator(view):
        @functools.wraps(view)
        def wrapper(*args, **kwargs):
            try:
                token = token_from_request(request.headers, request.args)
                verified = verify_request_token(
                    token, method=request.method, url=raw_request_target(), tenant_lookup=find_tenant,
                    base_path=app_base_path(), context_qsh_allowed=context_qsh,
                )
            except AtlassianAuthError as error:
                raise _refused(error) from error
            g.tenant = verified.tenant
            g.jira_account_id = verified.account_id
            return view(*args, **kwargs)

        return wrapper

    return decorator


def context_secret() -> bytes:
    """The app-level key of our context tokens, derived from SECRET_KEY (no tenant secret in it)."""
    return hmac.new(current_app.config["SECRET_KEY"].encode(), b"cscx-context-token", hashlib.sha256).digest()


def mint_context_token(tenant: JiraConnection, account_id: str | None, issue_key: str) -> str:
    """A short-lived token for the iframe's follow-up htmx requests (never Jira's page JWT)."""
    return issue_context_token(secret=context_secret(), client_key=tenant.client_key, account_id=account_id,
                               issue_key=issue_key)


def context_token_required(view):
    """Decorator: verify our context token (X-CSCX-Context header) and set g.tenant, g.issue_key, g.jira_account_id."""

    @functools.wraps(view)
    def wrapper(*args, **kwargs):
        token = request.headers.get(CONTEXT_HEADER, "")
        if not token:
            raise ApiError(401, "unauthorized", "missing context token")
        try:
            context = verify_context_token(token, secret=context_secret())
        except AtlassianAuthError as error:
            raise _refused(error) from error
        tenant = find_tenant(context.client_key)
        if tenant is None:
            raise ApiError(401, "unauthorized", "unknown issuer")
        g.tenant = tenant
        g.issue_key = context.issue_key
        g.jira_account_id = context.account_id
        return view(*args, **kwargs)

    return wrapper
