"""Webhook registration REST APIs: Cloud dynamic webhooks and admin (Server/DC and Cloud) webhooks.

Dynamic (`/rest/api/{2,3}/webhook`, Cloud only): only Connect and OAuth 2.0 apps may call it;
each webhook expires 30 days after registration or its last `PUT .../refresh`; an OAuth app
may hold 5 per user, a Connect app 100. Admin webhooks: `/rest/webhooks/1.0/webhook` (Jira
< 10, and Cloud) and `/rest/jira-webhook/1.0/webhooks` (Jira DC 10+), admin users only; with a
`secret` each delivery carries `X-Hub-Signature: sha256=<hex HMAC-SHA256 of the raw body>`.
"""

from __future__ import annotations

from datetime import UTC, datetime

from flask import abort, g, jsonify, request

from jira_sandbox.auth import AuthFailed, authenticate
from jira_sandbox.connect_host import site_state
from jira_sandbox.errors import JiraError
from jira_sandbox.rest import int_arg, page

EXPIRY_S = 30 * 24 * 3600
SUPPORTED_EVENTS = ("jira:issue_created", "jira:issue_updated", "jira:issue_deleted", "comment_created",
                    "comment_updated", "comment_deleted", "issue_property_set", "issue_property_deleted")
LIMITS = {"oauth": 5, "connect": 100}
APPS_ONLY = "Only Connect and OAuth 2.0 apps can use this operation."


def _jira_time(epoch_s: float) -> str:
    dt = datetime.fromtimestamp(epoch_s, UTC)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}+0000"


def _dispatcher():
    return site_state().webhooks


def _owner() -> tuple[str, str, str]:
    """(owner kind, owner id, user) of the calling app, or a 403 for anyone else."""
    principal = g.get("principal")
    if principal is None or principal.kind not in ("jwt", "oauth"):
        raise JiraError(403, [APPS_ONLY])
    return ("connect" if principal.kind == "jwt" else "oauth"), principal.app_key, principal.user_id


def _check_jql(jql: str) -> str | None:
    try:
        from jira_sandbox.jql import JqlError, parse
    except ImportError:  # JQL engine not there yet: accept the filter unchecked
        return None
    try:
        parse(jql)
    except JqlError as exc:
        return "; ".join(getattr(exc, "messages", None) or [str(exc)])
    return None


def _dynamic_view(hook: dict) -> dict:
    view = {"id": hook["id"], "jqlFilter": hook["jqlFilter"], "events": hook["events"],
            "expirationDate": _jira_time(hook["expires"]), "url": hook["url"]}
    if hook.get("fieldIdsFilter"):
        view["fieldIdsFilter"] = hook["fieldIdsFilter"]
    return view


def register_dynamic(api):
    """POST /rest/api/{2,3}/webhook: register dynamic webhooks for the calling app."""
    kind, owner, user = _owner()
    body = request.get_json(silent=True) or {}
    if not body.get("url") or not isinstance(body.get("webhooks"), list):
        raise JiraError(400, ["url and webhooks are required."])
    install = site_state().connect_host.get(owner) if kind == "connect" else None
    if install is not None and not body["url"].startswith(install.base_url):
        raise JiraError(400, ["The webhook URL must use the same base URL as the Connect app."])
    dispatcher, results = _dispatcher(), []
    for spec in body["webhooks"]:
        events = spec.get("events") or []
        jql = spec.get("jqlFilter")
        errors = [f"Unsupported event: {e}" for e in events if e not in SUPPORTED_EVENTS]
        if not events:
            errors.append("events must not be empty.")
        if not jql:
            errors.append("jqlFilter is required.")
        elif (jql_error := _check_jql(jql)) is not None:
            errors.append(f"Invalid JQL: {jql_error}")
        with site_state().lock:
            mine = [h for h in dispatcher.dynamic.values() if h["owner"] == owner and h["user"] == user]
            if len(mine) >= LIMITS[kind]:
                errors.append(f"Only {LIMITS[kind]} webhooks per app per user are allowed.")
            if errors:
                results.append({"errors": errors})
                continue
            dispatcher.next_id += 1
            hook = {"id": dispatcher.next_id, "owner_kind": kind, "owner": owner, "user": user,
                    "url": body["url"], "events": list(events), "jqlFilter": jql,
                    "fieldIdsFilter": spec.get("fieldIdsFilter"), "expires": dispatcher.now() + EXPIRY_S}
            dispatcher.dynamic[hook["id"]] = hook
        results.append({"createdWebhookId": hook["id"]})
    return jsonify({"webhookRegistrationResult": results})


def list_dynamic(api):
    """GET /rest/api/{2,3}/webhook: the calling app's dynamic webhooks, paged."""
    _, owner, _ = _owner()
    with site_state().lock:
        hooks = sorted((h for h in _dispatcher().dynamic.values() if h["owner"] == owner), key=lambda h: h["id"])
    values = [_dynamic_view(h) for h in hooks]
    body = page(values, int_arg("startAt", 0), int_arg("maxResults", 100))
    body.pop("self", None)
    return jsonify(body)


def _ids_from_body() -> list[int]:
    body = request.get_json(silent=True) or {}
    ids = body.get("webhookIds")
    if not isinstance(ids, list) or not ids:
        raise JiraError(400, ["webhookIds must be a non-empty list."])
    try:
        return [int(i) for i in ids]
    except (TypeError, ValueError):
        raise JiraError(400, ["webhookIds must be numbers."]) from None


def delete_dynamic(api):
    """DELETE /rest/api/{2,3}/webhook {"webhookIds"}: other apps' ids are silently ignored."""
    _, owner, _ = _owner()
    ids = _ids_from_body()
    with site_state().lock:
        hooks = _dispatcher().dynamic
        for webhook_id in ids:
            if webhook_id in hooks and hooks[webhook_id]["owner"] == owner:
                del hooks[webhook_id]
    return "", 202


def refresh_dynamic(api):
    """PUT /rest/api/{2,3}/webhook/refresh {"webhookIds"}: extend to 30 days from now."""
    _, owner, _ = _owner()
    ids = _ids_from_body()
    dispatcher = _dispatcher()
    expires = dispatcher.now() + EXPIRY_S
    with site_state().lock:
        for webhook_id in ids:
            hook = dispatcher.dynamic.get(webhook_id)
            if hook is not None and hook["owner"] == owner:
                hook["expires"] = expires
    return jsonify({"expirationDate": _jira_time(expires)})


# ---- admin webhooks ----------------------------------------------------------------------

def _require_site_admin():
    """Admin webhook APIs sit outside /rest/api, so authenticate here; only the site admin may call."""
    state = site_state()
    try:
        principal = authenticate(request, state)
    except AuthFailed as exc:
        raise JiraError(401, [exc.message]) from None
    if principal is None:
        raise JiraError(401, ["You are not authenticated. Authentication required to perform this operation."])
    if principal.user_id != state.admin_id:
        raise JiraError(403, ["You must be a Jira administrator to manage webhooks."])
    return principal


def _admin_from_body(hook_id: int, legacy: bool) -> dict:
    body = request.get_json(silent=True) or {}
    if not body.get("url") or not body.get("name"):
        raise JiraError(400, ["name and url are required."])
    if legacy:
        jql = (body.get("filters") or {}).get("issue-related-events-section", "")
        exclude = bool(body.get("excludeBody", False))
        enabled = body.get("enabled", True)
    else:
        conf = body.get("configuration") or {}
        jql = conf.get("FILTERS", "")
        exclude = str(conf.get("EXCLUDE_BODY", "false")).lower() == "true"
        enabled = body.get("active", True)
    now = datetime.now(UTC).timestamp()
    return {"id": hook_id, "name": body["name"], "url": body["url"], "events": list(body.get("events") or []),
            "jql": jql, "excludeBody": exclude, "enabled": bool(enabled), "secret": body.get("secret") or None,
            "created": now, "updated": now}


def _admin_view(hook: dict, legacy: bool) -> dict:
    state = site_state()
    if legacy:
        return {"self": f"{state.base_url}/rest/webhooks/1.0/webhook/{hook['id']}", "name": hook["name"],
                "url": hook["url"], "excludeBody": hook["excludeBody"],
                "filters": {"issue-related-events-section": hook["jql"]}, "events": hook["events"],
                "enabled": hook["enabled"], "lastUpdatedUser": state.admin["key"],
                "lastUpdatedDisplayName": state.admin["displayName"], "lastUpdated": int(hook["updated"] * 1000)}
    return {"id": hook["id"], "name": hook["name"], "createdDate": int(hook["created"] * 1000),
            "updatedDate": int(hook["updated"] * 1000), "events": hook["events"],
            "configuration": {"FILTERS": hook["jql"], "EXCLUDE_BODY": str(hook["excludeBody"]).lower()},
            "url": hook["url"], "active": hook["enabled"], "scopeType": "GLOBAL", "sslVerificationRequired": True}


def admin_collection(legacy: bool):
    """List (GET) or create (POST) admin webhooks."""
    _require_site_admin()
    dispatcher = _dispatcher()
    with site_state().lock:
        if request.method == "GET":
            return jsonify([_admin_view(h, legacy) for h in sorted(dispatcher.admin_hooks.values(),
                                                                    key=lambda h: h["id"])])
        dispatcher.next_id += 1
        hook = _admin_from_body(dispatcher.next_id, legacy)
        dispatcher.admin_hooks[hook["id"]] = hook
    return jsonify(_admin_view(hook, legacy)), 201


def admin_item(hook_id: int, legacy: bool):
    """Read (GET), replace (PUT) or delete (DELETE) one admin webhook."""
    _require_site_admin()
    hooks = _dispatcher().admin_hooks
    with site_state().lock:
        if hook_id not in hooks:
            abort(404)
        if request.method == "DELETE":
            del hooks[hook_id]
            return "", 204
        if request.method == "PUT":
            created = hooks[hook_id]["created"]
            hooks[hook_id] = dict(_admin_from_body(hook_id, legacy), created=created)
        return jsonify(_admin_view(hooks[hook_id], legacy))


def _cloud_only(view):
    def wrapped(api, **kwargs):
        if site_state().flavour != "cloud" or api not in ("2", "3"):
            abort(404)
        return view(api, **kwargs)
    wrapped.__name__ = view.__name__
    return wrapped


def register(app, state) -> None:
    """Add the dynamic and admin webhook routes."""
    base = "/rest/api/<api>/webhook"
    app.add_url_rule(base, "dynamic_webhooks_post", _cloud_only(register_dynamic), methods=["POST"])
    app.add_url_rule(base, "dynamic_webhooks_get", _cloud_only(list_dynamic), methods=["GET"])
    app.add_url_rule(base, "dynamic_webhooks_delete", _cloud_only(delete_dynamic), methods=["DELETE"])
    app.add_url_rule(base + "/refresh", "dynamic_webhooks_refresh", _cloud_only(refresh_dynamic), methods=["PUT"])
    for prefix, legacy in (("/rest/webhooks/1.0/webhook", True), ("/rest/jira-webhook/1.0/webhooks", False)):
        name = "legacy" if legacy else "dc10"
        app.add_url_rule(prefix, f"admin_webhooks_{name}", lambda legacy=legacy: admin_collection(legacy),
                         methods=["GET", "POST"])
        app.add_url_rule(prefix + "/<int:hook_id>", f"admin_webhook_{name}",
                         lambda hook_id, legacy=legacy: admin_item(hook_id, legacy), methods=["GET", "PUT", "DELETE"])
