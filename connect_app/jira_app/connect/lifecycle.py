"""Descriptor and lifecycle endpoints: installed / uninstalled signed by Atlassian, enabled / disabled by the tenant."""

from __future__ import annotations

import logging

from flask import current_app, g, jsonify, request

from connect_app.atlassian import AtlassianAuthError, token_from_request, verify_install_token
from connect_app.atlassian.client import APP_KEY
from connect_app.connections import installations
from connect_app.connections.records import find_tenant
from connect_app.connections.urlsafety import UnsafeUrl
from connect_app.errors import ApiError
from connect_app.jira_app.connect.auth import (
    install_key_fetcher,
    jira_jwt_required,
    raw_request_target,
)
from connect_app.jira_app.connect.blueprint import bp
from connect_app.jira_app.descriptor import render_descriptor
from connect_app.models import ConnectionStatus

log = logging.getLogger(__name__)


@bp.get("/atlassian-connect.json")
def descriptor():
    """The Connect descriptor for this deployment's BASE_URL (Jira fetches it to install the app)."""
    return jsonify(render_descriptor(current_app.config["BASE_URL"]))


def _verified_lifecycle_body() -> dict:
    """Parse the lifecycle body and verify its asymmetric (signed-install) JWT against it."""
    try:
        payload = installations.validate_install_payload(request.get_json(silent=True), APP_KEY)
    except installations.InstallError as error:
        raise ApiError(400, "invalid_lifecycle_payload", str(error)) from error
    known = find_tenant(payload["clientKey"], live_only=False)
    try:
        token = token_from_request(request.headers, request.args)
        # A first install must be RS256 (Atlassian's key by kid). A re-install of a known
        # clientKey may also be HS256 signed with the secret we stored for it: that proves it
        # is the same tenant, which a token signed with the body's new secret never could;
        # it may not move the tenant to another baseUrl, though.
        verify_install_token(
            token, method=request.method, url=raw_request_target(), body_client_key=payload["clientKey"],
            app_base_url=current_app.config["BASE_URL"], key_fetcher=install_key_fetcher(),
            known_tenant=known, allow_legacy_shared_secret=known is not None, body_base_url=payload["baseUrl"],
        )
    except AtlassianAuthError as error:
        log.warning("connect.lifecycle.refused", extra={"reason": error.reason, "path": request.path})
        raise ApiError(401, "unauthorized", error.reason) from error
    return payload


@bp.post("/connect/installed")
def installed():
    """Jira installed (or re-installed) the app: store the tenant and its shared secret."""
    payload = _verified_lifecycle_body()
    try:
        installations.record_install(payload, allow_private_urls=current_app.config["ALLOW_PRIVATE_JIRA_URLS"])
    except UnsafeUrl as error:
        raise ApiError(400, "unsafe_base_url", str(error)) from None
    return "", 204


@bp.post("/connect/uninstalled")
def uninstalled():
    """Jira uninstalled the app: disable the tenant; its data is purged after the retention period."""
    payload = _verified_lifecycle_body()
    connection = find_tenant(payload["clientKey"], live_only=False)
    if connection is not None and connection.status != ConnectionStatus.UNINSTALLED:
        installations.record_uninstall(connection)
    return "", 204


@bp.post("/connect/enabled")
@jira_jwt_required()
def enabled():
    """The Jira admin enabled the app."""
    installations.set_enabled(g.tenant, True)
    return "", 204


@bp.post("/connect/disabled")
@jira_jwt_required()
def disabled():
    """The Jira admin disabled the app."""
    installations.set_enabled(g.tenant, False)
    return "", 204
