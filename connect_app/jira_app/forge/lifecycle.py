"""`POST /forge/lifecycle`: installed and upgraded (the lifecycle triggers) and preUninstall, all FIT-verified."""

from __future__ import annotations

import logging

from flask import request

from connect_app.connections import forge_installations
from connect_app.connections.records import find_tenant
from connect_app.errors import ApiError
from connect_app.jira_app.forge.auth import SYSTEM_TOKEN_HEADER, verified_invocation
from connect_app.jira_app.forge.blueprint import bp
from connect_app.models import ConnectionStatus

log = logging.getLogger(__name__)

INSTALLED = "avi:forge:installed:app"
UPGRADED = "avi:forge:upgraded:app"
UNINSTALLED = "avi:forge:uninstalled:app"
PRE_UNINSTALL_MODULE = "cscx-pre-uninstall"  # the preUninstall module's key in the manifest


def _is_pre_uninstall(event: object, module_key: object) -> bool:
    return event == UNINSTALLED or (event is None and module_key == PRE_UNINSTALL_MODULE)


@bp.post("/forge/lifecycle")
def lifecycle():
    """Forge installed, upgraded or is about to uninstall the app on a site; keyed by the token's installation."""
    invocation = verified_invocation(trigger=True)
    body = request.get_json(silent=True)
    body = body if isinstance(body, dict) else {}
    event = body.get("eventType")
    named = body.get("installationId")
    if named is not None and named != invocation.installation_id:
        raise ApiError(400, "invalid_lifecycle_payload", "the body names another installation than the token")
    if event in (INSTALLED, UPGRADED):
        installer = body.get("installerAccountId") if isinstance(body.get("installerAccountId"), str) else None
        connection = forge_installations.record_forge_install(invocation, event=event, installer=installer)
        forge_installations.remember_system_token(connection, request.headers.get(SYSTEM_TOKEN_HEADER))
        return "", 204
    module = (invocation.claims.get("app") or {}).get("module") or {}
    if _is_pre_uninstall(event, module.get("key") if isinstance(module, dict) else None):
        connection = find_tenant(installation_id=invocation.installation_id, live_only=False)
        if connection is not None and connection.status != ConnectionStatus.UNINSTALLED:
            forge_installations.record_forge_uninstall(connection)
        return "", 204
    raise ApiError(400, "invalid_lifecycle_payload", "unknown lifecycle event")
