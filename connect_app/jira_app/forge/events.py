"""`POST /forge/events/issue`: Forge's issue triggers into the same inbox as Jira's webhooks."""

from __future__ import annotations

import json
import logging

from flask import g, jsonify, request

from connect_app.atlassian.forge_events import forge_event_id, webhook_payload
from connect_app.errors import ApiError
from connect_app.jira_app.forge.auth import forge_invocation_required
from connect_app.jira_app.forge.blueprint import bp
from connect_app.platform import jobs
from connect_app.tracking import inbox, process

log = logging.getLogger(__name__)


@bp.post("/forge/events/issue")
@forge_invocation_required
def issue_event():
    """An issue was created, updated or deleted: stored once by the event's id (Forge retries), processed as a job."""
    try:
        event = json.loads(request.get_data(cache=True))
        payload = inbox.validate_payload(webhook_payload(event))
    except (ValueError, UnicodeDecodeError) as error:
        message = str(error) if not isinstance(error, json.JSONDecodeError) else "the body is not valid JSON"
        raise ApiError(400, "malformed_event", message) from None
    stored = inbox.store_delivery(g.tenant, forge_event_id(event), payload)
    if stored.created:
        jobs.submit(process.process_delivery, str(stored.id))
    return jsonify({"status": "accepted" if stored.created else "duplicate", "id": str(stored.id)}), (
        202 if stored.created else 200)
