"""Subscriptions API: "Alert me when CS-123 is resolved", a customer's issues, or owner preferences."""

from __future__ import annotations

import re
import uuid

from flask import g, jsonify, request

from connect_app.api.auth import require_api
from connect_app.api.blueprint import bp
from connect_app.delivery import notify
from connect_app.delivery.notify import DEFAULT_OWNER_KINDS
from connect_app.errors import ApiError
from connect_app.models import Subscription

UUID_TEXT = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")


def subscription_view(subscription: Subscription) -> dict:
    """A subscription as the API shows it."""
    return {"id": str(subscription.id), "scope": subscription.scope, "target": subscription.target,
            "jira_key": subscription.jira_key,
            "connection_id": str(subscription.connection_id) if subscription.connection_id else None,
            "customer_id": str(subscription.customer_id) if subscription.customer_id else None,
            "event_kinds": subscription.event_kinds or [], "created_at": subscription.created_at.isoformat()}


@bp.post("/jira/subscriptions")
@require_api()
def create_subscription():
    """Subscribe the caller to an issue ({"scope": "issue", "jira_key", "event_kinds"?}), a customer
    ({"scope": "customer", "customer_id"}) or set owner preferences ({"scope": "owner", "event_kinds"})."""
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise ApiError(400, "invalid_json", "the request body must be a JSON object")
    # Every field given is checked, also one the scope does not use: a wrong value is never silently dropped.
    wrong = {name: f"{name} must be a UUID" for name in ("connection_id", "customer_id")
             if name in body and not (isinstance(body[name], str) and UUID_TEXT.fullmatch(body[name]))}
    if "jira_key" in body and not (isinstance(body["jira_key"], str) and len(body["jira_key"]) <= 60):
        wrong["jira_key"] = "jira_key must be an issue key (at most 60 characters)"
    if wrong:
        raise ApiError(422, "invalid_subscription", "; ".join(wrong.values()), details=wrong)
    try:
        subscription, created = notify.subscribe(g.organization.id, g.principal.user_id, g.principal.email, body)
    except notify.SubscriptionError as error:
        raise ApiError(422, "invalid_subscription", error.message, details={error.field: error.message}) from None
    return jsonify(subscription_view(subscription)), 201 if created else 200


@bp.get("/jira/subscriptions")
@require_api()
def list_subscriptions():
    """The caller's subscriptions, and the kinds they hear about as the CSM owner of their customers."""
    rows = notify.subscriptions_of(g.organization.id, g.principal.user_id)
    owner = next((s for s in rows if s.scope == "owner"), None)
    return jsonify({"subscriptions": [subscription_view(s) for s in rows],
                    "owner_default": {"event_kinds": owner.event_kinds if owner else list(DEFAULT_OWNER_KINDS),
                                      "customised": owner is not None}})


@bp.delete("/jira/subscriptions/<uuid:subscription_id>")
@require_api()
def delete_subscription(subscription_id: uuid.UUID):
    """Remove one of the caller's subscriptions (deleting the owner row restores the defaults)."""
    if not notify.unsubscribe(g.organization.id, g.principal.user_id, subscription_id):
        raise ApiError(404, "not_found", "no such subscription")
    return "", 204
