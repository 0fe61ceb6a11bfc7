"""The Jira webhook receiver: verify, store in the inbox, answer at once; processing is a job."""

from __future__ import annotations

import logging

from flask import current_app, jsonify, request

from connect_app.api.blueprint import bp
from connect_app.atlassian import AtlassianAuthError
from connect_app.errors import ApiError
from connect_app.jira_app.connect.auth import app_base_path, raw_request_target
from connect_app.logging_setup import bind_context
from connect_app.tracking import batch, inbox, receive

log = logging.getLogger(__name__)


@bp.post("/integrations/jira/webhook")
def jira_webhook():
    """Jira (Connect, OAuth dynamic or Server/DC admin webhooks) → inbox; 202 when stored, 200 for a repeat."""
    body = request.get_data(cache=True)  # 413 beyond MAX_CONTENT_LENGTH, before anything else
    facts = receive.RequestFacts(
        method=request.method, target=raw_request_target(), headers=request.headers, query=request.args,
        body=body, base_path=app_base_path(),
    )
    oauth = receive.OAuthApp(current_app.config.get("ATLASSIAN_OAUTH_CLIENT_ID"),
                             current_app.config.get("ATLASSIAN_OAUTH_CLIENT_SECRET"))
    try:
        connection = receive.authenticate(facts, oauth)
    except AtlassianAuthError as error:
        # Nothing unverified is stored or parsed.
        log.warning("webhook.refused", extra={"reason": error.reason})
        raise ApiError(401, "unauthorized", error.reason) from None
    try:
        payload = inbox.validate_payload(inbox.parse_body(body))
    except inbox.MalformedDelivery as error:
        raise ApiError(400, "malformed_webhook", str(error)) from None
    try:
        receive.check_matched_webhooks(connection, payload)
    except AtlassianAuthError as error:
        raise ApiError(401, "unauthorized", error.reason) from None
    delivery_id = inbox.delivery_identifier(request.headers.get("X-Atlassian-Webhook-Identifier"), body)
    bind_context(delivery_id=delivery_id)  # this request's lines, and the processing job's
    stored = inbox.store_delivery(connection, delivery_id, payload, raw_body=body)
    if stored.created:
        batch.wake()  # one drain for many deliveries (tracking.batch)
    return jsonify({"status": "accepted" if stored.created else "duplicate", "id": str(stored.id)}), (
        202 if stored.created else 200)
