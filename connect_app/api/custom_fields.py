"""Custom fields API: which custom fields the sync stores for the workspace (GET any role, PUT admins)."""

from __future__ import annotations

from flask import g, jsonify

from connect_app.api.auth import require_api
from connect_app.api.blueprint import bp
from connect_app.api.params import json_body
from connect_app.errors import ApiError
from connect_app.sync import field_settings
from connect_app.sync.custom_fields import FieldSettingError


@bp.get("/jira/settings/custom-fields")
@require_api()
def get_custom_field_settings():
    """The setting ("with_value" or chosen fields) and, per connected site, the fields it stores there."""
    return jsonify(field_settings.setting_view(g.organization.id))


@bp.put("/jira/settings/custom-fields")
@require_api("admin")
def put_custom_field_settings():
    """Choose the custom fields to sync (ids or names; 422 names unknown ones); each site resyncs in full."""
    body = json_body()
    if not isinstance(body, dict):
        raise ApiError(400, "invalid_body", 'send the setting as a JSON object: {"mode": "selected", "fields": [...]}')
    try:
        view = field_settings.change_setting(g.organization.id, body)
    except FieldSettingError as exc:
        raise ApiError(exc.status, exc.code, str(exc), details=exc.details or None) from exc
    return jsonify(view)
