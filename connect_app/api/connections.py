"""Connecting Jira from CSCX.AI: connect (Server/DC token or Cloud OAuth), OAuth callback, list, disconnect."""

from __future__ import annotations

from urllib.parse import urlencode, urlsplit, urlunsplit

from flask import current_app, g, jsonify, redirect, request

from connect_app.api.auth import require_api
from connect_app.api.blueprint import bp
from connect_app.api.params import json_body
from connect_app.connections import setup
from connect_app.connections.records import (
    ConnectionSetupError,
    ConnectSettings,
    find_connection,
    list_connections,
    serialize_connection,
)
from connect_app.errors import ApiError
from connect_app.extensions import db
from connect_app.tracking import status_map

CONNECT_TYPES = ("server", "cloud_oauth")
OAUTH_COOKIE_PATH = "/api/integrations/jira/"  # the authorize link and the callback
MAX_SECRET_LENGTH = 2000


def _settings() -> ConnectSettings:
    return ConnectSettings.from_config(current_app.config)


def _cookie_path(settings: ConnectSettings) -> str:
    """The OAuth cookie's path as the browser sees it (under BASE_URL's own path, if any)."""
    return urlsplit(settings.base_url).path.rstrip("/") + OAUTH_COOKIE_PATH


def _api_error(exc: ConnectionSetupError) -> ApiError:
    return ApiError(exc.status, exc.code, exc.message, details=exc.details)


def _string(body: dict, name: str, *, required: bool, limit: int = 500) -> str | None:
    value = body.get(name)
    if value is None or value == "":
        if required:
            raise ApiError(422, "invalid_body", f"{name} is required")
        return None
    if not isinstance(value, str) or not value.strip():
        raise ApiError(422, "invalid_body", f"{name} must be a non-empty string")
    if len(value) > limit:
        raise ApiError(422, "invalid_body", f"{name} must be at most {limit} characters")
    return value.strip()


@bp.post("/integrations/jira/connect")
@require_api("admin")
def connect_jira():
    """Connect a Jira site: {"type": "server", "base_url", "token", "username"?} or {"type": "cloud_oauth"}."""
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise ApiError(400, "invalid_json", "the request body must be a JSON object")
    kind = body.get("type")
    if kind not in CONNECT_TYPES:
        raise ApiError(422, "invalid_body", f"type must be one of {', '.join(CONNECT_TYPES)}")
    try:
        if kind == "cloud_oauth":
            started = setup.start_oauth(g.organization.id, g.principal.user_id, _settings(),
                                               redirect_after=_string(body, "redirect_after", required=False))
            return jsonify({"type": "cloud_oauth"} | started), 200
        result = setup.connect_server(
            g.organization.id, g.principal.user_id,
            base_url=_string(body, "base_url", required=True),
            token=_string(body, "token", required=True, limit=MAX_SECRET_LENGTH),
            username=_string(body, "username", required=False, limit=200), settings=_settings())
    except ConnectionSetupError as exc:
        raise _api_error(exc) from None
    return jsonify({"type": "server", "connection": serialize_connection(result.connection),
                    "webhook": result.webhook}), 201 if result.created else 200


@bp.get("/integrations/jira/authorize")
def open_oauth():
    """The link CSCX.AI's browser opens: binds the flow to this browser (a cookie), then on to Atlassian's consent."""
    state = request.args.get("state")
    settings = _settings()
    cookie = setup.browser_cookie_name(state)
    try:
        opened = setup.open_authorization(state, settings, browser_secret=request.cookies.get(cookie))
    except ConnectionSetupError as exc:
        raise _api_error(exc) from None
    response = redirect(opened.authorize_url, 302)
    # HttpOnly (no script reads it), SameSite=Lax (sent on Atlassian's top-level redirect back to us),
    # scoped to these routes, gone when the state expires.
    response.set_cookie(opened.cookie_name, opened.browser_secret, max_age=opened.max_age, path=_cookie_path(settings),
                        secure=settings.base_url.startswith("https://"), httponly=True, samesite="Lax")
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.get("/integrations/jira/callback")
def oauth_callback():
    """Atlassian sends the user's browser here after consent; the signed single-use state and the browser's
    cookie (set when it opened the link) authenticate it."""
    state = request.args.get("state")
    settings = _settings()
    cookie = setup.browser_cookie_name(state)
    try:
        outcome = setup.finish_oauth(state=state, code=request.args.get("code"), error=request.args.get("error"),
                                     settings=settings, browser_secret=request.cookies.get(cookie))
    except ConnectionSetupError as exc:
        raise _api_error(exc) from None
    ids = [str(c.id) for c in outcome.connections]
    if outcome.redirect_after:
        parts = urlsplit(outcome.redirect_after)
        query = "&".join(q for q in (parts.query, urlencode({"jira": "connected", "connections": ",".join(ids)})) if q)
        response = redirect(urlunsplit((parts.scheme, parts.netloc, parts.path, query, parts.fragment)), 302)
    else:
        response = jsonify({"connections": [serialize_connection(c) for c in outcome.connections],
                            "webhooks": outcome.webhooks, "skipped": outcome.skipped})
    response.delete_cookie(cookie, path=_cookie_path(settings))
    return response


@bp.get("/integrations/jira/connections")
@require_api()
def get_connections():
    """The workspace's Jira connections with their status (needs_reauth shows here), never their secrets."""
    return jsonify({"connections": [serialize_connection(c) for c in list_connections(g.organization.id)]})


@bp.get("/integrations/jira/connections/<connection_id>")
@require_api()
def get_connection(connection_id: str):
    """One connection of the workspace."""
    try:
        return jsonify(serialize_connection(find_connection(g.organization.id, connection_id)))
    except ConnectionSetupError as exc:
        raise _api_error(exc) from None


@bp.delete("/integrations/jira/connections/<connection_id>")
@require_api("admin")
def disconnect_jira(connection_id: str):
    """Disconnect: remove our webhooks from Jira, delete stored secrets, stop syncing."""
    try:
        connection = setup.disconnect(g.organization.id, connection_id, g.principal.user_id, _settings())
    except ConnectionSetupError as exc:
        raise _api_error(exc) from None
    return jsonify(serialize_connection(connection)), 200


@bp.get("/integrations/jira/connections/<connection_id>/status-map")
@require_api("admin")
def get_status_map(connection_id: str):
    """The site's statuses (listed from Jira) and priorities, with what the connection's status map makes of them."""
    try:
        connection = find_connection(g.organization.id, connection_id)
    except ConnectionSetupError as exc:
        raise _api_error(exc) from None
    site = status_map.read_site(connection)
    if site.priorities and site.priorities != connection.priorities:
        connection.priorities = site.priorities  # the freshest order, kept for sorting
        db.session.commit()
    return jsonify(status_map.describe(connection, site))


@bp.put("/integrations/jira/connections/<connection_id>/status-map")
@require_api("admin")
def put_status_map(connection_id: str):
    """Replace the status map: {"statuses": {status id or name: {category, meaning}}, "priority_order": [...]}.

    Applies to the events processed from now on; stored history keeps the meaning it had.
    """
    body = json_body()
    try:
        connection = find_connection(g.organization.id, connection_id)
    except ConnectionSetupError as exc:
        raise _api_error(exc) from None
    site = status_map.read_site(connection)
    try:
        new_map = status_map.validate(body, site)
    except status_map.StatusMapError as exc:
        raise ApiError(422, "invalid_status_map", str(exc), details=exc.errors) from None
    if site.priorities:
        connection.priorities = site.priorities
    status_map.save(connection, new_map, actor_id=g.principal.user_id)
    db.session.commit()
    return jsonify(status_map.describe(connection, site))
