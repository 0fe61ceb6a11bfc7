"""In-app notifications API: the caller's list, and marking them read."""

from __future__ import annotations

import uuid
from datetime import datetime

from flask import g, jsonify, request

from connect_app.api.auth import require_api
from connect_app.api.blueprint import bp
from connect_app.delivery import notify
from connect_app.errors import ApiError
from connect_app.models import Notification
from connect_app.models.types import iso


def notification_view(notification: Notification) -> dict:
    """A notification as the API shows it."""
    return {"id": str(notification.id), "kind": notification.kind, "jira_key": notification.jira_key,
            "title": notification.title, "details": notification.details, "event_id": str(notification.event_id),
            "occurred_at": (notification.details or {}).get("occurred_at"),
            "created_at": notification.created_at.isoformat(),
            "read_at": iso(notification.read_at)}


@bp.get("/jira/notifications")
@require_api()
def list_notifications():
    """The caller's notifications, newest first: ?unread=1, ?limit= (1-200), ?before=<ISO time> to page."""
    try:
        limit = int(request.args.get("limit", 50))
    except ValueError:
        raise ApiError(400, "invalid_parameter", "limit must be an integer") from None
    if not 1 <= limit <= 200:
        raise ApiError(400, "invalid_parameter", "limit must be between 1 and 200")
    before = request.args.get("before")
    try:
        before_at = datetime.fromisoformat(before) if before else None
    except ValueError:
        raise ApiError(400, "invalid_parameter", "before must be an ISO 8601 time") from None
    if before_at is not None and before_at.tzinfo is None:
        raise ApiError(400, "invalid_parameter", "before must include a time zone")
    rows = notify.notifications_for(g.organization.id, g.principal.user_id,
                                    unread_only=request.args.get("unread") in ("1", "true"), limit=limit,
                                    before=before_at)
    return jsonify({"notifications": [notification_view(n) for n in rows],
                    "next_before": rows[-1].details.get("occurred_at") if len(rows) == limit else None})


@bp.post("/jira/notifications/read")
@require_api()
def read_notifications():
    """Mark notifications read: {"ids": [...]} or {"all": true}."""
    body = request.get_json(silent=True)
    if not isinstance(body, dict) or not (body.get("all") is True or isinstance(body.get("ids"), list)):
        raise ApiError(400, "invalid_json", 'send {"ids": [...]} or {"all": true}')
    ids = None
    if body.get("all") is not True:
        try:
            ids = [uuid.UUID(str(i)) for i in body["ids"]]
        except ValueError:
            raise ApiError(400, "invalid_parameter", "ids must be notification ids") from None
    return jsonify({"marked": notify.mark_read(g.organization.id, g.principal.user_id, ids)})
