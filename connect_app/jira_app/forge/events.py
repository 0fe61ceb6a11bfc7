"""`POST /forge/events/issue`: Forge's issue triggers into the same inbox as Jira's webhooks."""

from __future__ import annotations

import logging

from flask import g, jsonify, request

from connect_app.atlassian.forge_events import forge_event_id, webhook_payload
from connect_app.errors import ApiError
from connect_app.jira_app.forge.auth import forge_trigger_required
from connect_app.jira_app.forge.blueprint import bp
from connect_app.tracking import batch, inbox

log = logging.getLogger(__name__)


@bp.post("/forge/events/issue")
@forge_trigger_required
def issue_event():
    """An issue was created, updated or deleted: stored once by the event's id (Forge retries), processed as a job."""
    body = request.get_data(cache=True)
    try:
        event = inbox.parse_body(body)
        payload = inbox.validate_payload(webhook_payload(event))
    except ValueError as error:
        raise ApiError(400, "malformed_event", str(error)) from None
    stored = inbox.store_delivery(g.tenant, forge_event_id(event), payload, raw_body=body)
    if stored.created:
        batch.wake()
    return jsonify({"status": "accepted" if stored.created else "duplicate", "id": str(stored.id)}), (
        202 if stored.created else 200)
