"""Admin API for delivery: the outbox to CSCX.AI (dead letters, re-queue) and the webhook inbox."""

from __future__ import annotations

import uuid

from flask import g, jsonify, request

from connect_app.api.auth import require_api
from connect_app.api.blueprint import bp
from connect_app.api.params import int_arg
from connect_app.delivery import outbox
from connect_app.errors import ApiError
from connect_app.models.delivery import INBOX_STATUSES, OUTBOX_STATUSES
from connect_app.platform.claims import RetryOutcome
from connect_app.tracking import inbox


def _status_arg(allowed: tuple[str, ...]) -> str | None:
    status = request.args.get("status") or None
    if status is not None and status not in allowed:
        raise ApiError(400, "invalid_parameter", f"status must be one of {', '.join(allowed)}")
    return status


def _limit() -> int:
    return int_arg("limit", 50, 1, 500)


REFUSALS = {
    ("message", RetryOutcome.NOT_FOUND): (404, "not_found", "no such message in this workspace"),
    ("message", RetryOutcome.NOT_RETRYABLE): (409, "not_dead", "only a dead message can be re-queued"),
    ("delivery", RetryOutcome.NOT_FOUND): (404, "not_found", "no such webhook delivery in this workspace"),
    ("delivery", RetryOutcome.NOT_RETRYABLE): (409, "not_failed", "only a failed or dead delivery can be re-run"),
}


def retry_refused(what: str, outcome: RetryOutcome) -> ApiError:
    """The answer to a retry that did not happen (the admin API and the delivery page say the same)."""
    return ApiError(*REFUSALS[(what, outcome)])


@bp.get("/admin/outbox")
@require_api("admin")
def admin_outbox():
    """Outbox messages of the workspace (?status=dead for the dead letters) with counts per status."""
    status = _status_arg(OUTBOX_STATUSES)
    rows = outbox.list_messages(g.organization.id, status, _limit())
    return jsonify({"counts": outbox.counts(g.organization.id), "messages": [outbox.message_view(m) for m in rows]})


@bp.post("/admin/outbox/<uuid:message_id>/retry")
@require_api("admin")
def admin_outbox_retry(message_id: uuid.UUID):
    """Re-queue a dead message (its idempotency key is kept, so the receiver still dedupes)."""
    outcome = outbox.retry_message(g.organization.id, message_id)
    if outcome != RetryOutcome.REQUEUED:
        raise retry_refused("message", outcome)
    return jsonify({"status": "pending"})


@bp.get("/admin/webhooks")
@require_api("admin")
def admin_webhooks():
    """Webhook deliveries of the workspace's connections (?status=failed|dead|pending...) with counts."""
    status = _status_arg(INBOX_STATUSES)
    rows = inbox.list_deliveries(g.organization.id, (status,) if status else (), _limit())
    return jsonify({"counts": inbox.counts(g.organization.id),
                    "deliveries": [inbox.delivery_view(d) for d, _ in rows]})


@bp.post("/admin/webhooks/<uuid:delivery_id>/retry")
@require_api("admin")
def admin_webhook_retry(delivery_id: uuid.UUID):
    """Re-run a failed or dead delivery now (another workspace's delivery is reported exactly like a missing one)."""
    outcome = inbox.retry_delivery(g.organization.id, delivery_id)
    if outcome != RetryOutcome.REQUEUED:
        raise retry_refused("delivery", outcome)
    return jsonify({"status": "pending"})
