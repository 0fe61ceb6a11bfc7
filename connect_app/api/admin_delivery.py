"""Admin API for delivery: the outbox to CSCX.AI (dead letters, re-queue) and the webhook inbox."""

from __future__ import annotations

import uuid

from flask import g, jsonify, request
from sqlalchemy import func, select

from connect_app.api import bp
from connect_app.api.auth import require_api
from connect_app.delivery import outbox
from connect_app.errors import ApiError
from connect_app.extensions import db
from connect_app.models import JiraConnection, WebhookDelivery
from connect_app.models.delivery import INBOX_STATUSES, OUTBOX_STATUSES
from connect_app.tracking import inbox


def _status_arg(allowed: tuple[str, ...]) -> str | None:
    status = request.args.get("status") or None
    if status is not None and status not in allowed:
        raise ApiError(400, "invalid_parameter", f"status must be one of {', '.join(allowed)}")
    return status


def _limit() -> int:
    try:
        limit = int(request.args.get("limit", 50))
    except ValueError:
        raise ApiError(400, "invalid_parameter", "limit must be an integer") from None
    return max(1, min(limit, 500))


def _uuid(value: str) -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except ValueError:
        raise ApiError(404, "not_found", "no such item") from None


@bp.get("/admin/outbox")
@require_api("admin")
def admin_outbox():
    """Outbox messages of the workspace (?status=dead for the dead letters) with counts per status."""
    status = _status_arg(OUTBOX_STATUSES)
    rows = outbox.list_messages(g.organization.id, status, _limit())
    return jsonify({"counts": outbox.counts(g.organization.id), "messages": [outbox.message_view(m) for m in rows]})


@bp.post("/admin/outbox/<message_id>/retry")
@require_api("admin")
def admin_outbox_retry(message_id: str):
    """Re-queue a dead message (its idempotency key is kept, so the receiver still dedupes)."""
    if not outbox.requeue(g.organization.id, _uuid(message_id)):
        raise ApiError(409, "not_dead", "only a dead message can be re-queued")
    outbox.submit_deliveries([message_id])
    return jsonify({"status": "pending"})


def _inbox_scope():
    return select(JiraConnection.id).where(JiraConnection.organization_id == g.organization.id)


@bp.get("/admin/webhooks")
@require_api("admin")
def admin_webhooks():
    """Webhook deliveries of the workspace's connections (?status=failed|dead|pending...) with counts."""
    status = _status_arg(INBOX_STATUSES)
    query = select(WebhookDelivery).where(WebhookDelivery.connection_id.in_(_inbox_scope()))
    if status:
        query = query.where(WebhookDelivery.status == status)
    rows = db.session.scalars(query.order_by(WebhookDelivery.received_at.desc()).limit(_limit())).all()
    counts = dict(db.session.execute(select(WebhookDelivery.status, func.count()).where(
        WebhookDelivery.connection_id.in_(_inbox_scope())).group_by(WebhookDelivery.status)).all())
    iso = lambda v: v.isoformat() if v else None  # noqa: E731
    return jsonify({"counts": counts, "deliveries": [{
        "id": str(d.id), "connection_id": str(d.connection_id), "delivery_id": d.delivery_id,
        "event_type": d.event_type, "jira_key": d.jira_key, "status": d.status, "attempts": d.attempts,
        "last_error": d.last_error, "received_at": iso(d.received_at), "processed_at": iso(d.processed_at),
        "next_attempt_at": iso(d.next_attempt_at)} for d in rows]})


@bp.post("/admin/webhooks/<delivery_id>/retry")
@require_api("admin")
def admin_webhook_retry(delivery_id: str):
    """Re-run a failed or dead delivery now."""
    from connect_app.platform import jobs
    from connect_app.tracking import process

    row_id = _uuid(delivery_id)
    owned = db.session.scalar(select(WebhookDelivery.id).where(WebhookDelivery.id == row_id,
                                                               WebhookDelivery.connection_id.in_(_inbox_scope())))
    if owned is None:  # another workspace's delivery is reported exactly like a missing one
        raise ApiError(404, "not_found", "no such item")
    if not inbox.requeue(row_id):
        raise ApiError(409, "not_failed", "only a failed or dead delivery can be re-run")
    jobs.submit(process.process_delivery, str(row_id))
    return jsonify({"status": "pending"})
