"""Chat API: one message from CSCX.AI's chat, answered (show issues, an issue's status, a draft form, alerts)."""

from __future__ import annotations

from flask import g, jsonify

from connect_app.api.auth import require_api
from connect_app.api.blueprint import bp
from connect_app.api.params import json_body
from connect_app.chat import respond


@bp.post("/jira/chat")
@require_api()
def chat():
    """Answer a chat message: intent, entities, a reply, a card (JSON and html) and choices to follow up."""
    return jsonify(respond.answer(g.organization.id, g.principal, json_body()))
