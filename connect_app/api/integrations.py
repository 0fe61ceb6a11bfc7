"""Integration endpoints of a workspace: one-time codes that link a Jira site installed via Connect."""

from __future__ import annotations

from flask import g, jsonify

from connect_app.api.auth import require_api
from connect_app.api.blueprint import bp
from connect_app.connections import installations


@bp.post("/integrations/jira/link-codes")
@require_api("admin")
def create_link_code():
    """A one-time code (30 minutes) the Jira admin enters on the app's configure page."""
    code, link_code = installations.create_link_code(g.organization.id, g.principal.user_id)
    return jsonify({"code": code, "expires_at": link_code.expires_at.isoformat()}), 201
