"""`POST /forge/scheduled`: Forge's hourly scheduled trigger keeps the system token fresh and runs the due sync.

Forge offers no endpoint that mints a system token: the remote holds the one the latest invocation
brought, which lives at least 2 hours. The trigger brings a new one every hour (the decorator caches
it), so the periodic sync always has a token; and when the connection's sync is due, it is enqueued
now, with the freshest token there will be.
"""

from __future__ import annotations

import logging

from flask import g, jsonify

from connect_app.connections.forge_installations import claim_due_sync
from connect_app.jira_app.forge.auth import forge_trigger_required
from connect_app.jira_app.forge.blueprint import bp
from connect_app.platform import jobs
from connect_app.sync.engine import SYNC_INTERVAL, sync_connection_job

log = logging.getLogger(__name__)


@bp.post("/forge/scheduled")
@forge_trigger_required
def scheduled():
    """The scheduled trigger: the token is cached by now; enqueue the sync if it is due (once, however often called)."""
    # The lease is the sync interval: the sync sets its real next time when it ends.
    claimed = claim_due_sync(g.tenant, SYNC_INTERVAL)
    if claimed:
        jobs.submit(sync_connection_job, str(g.tenant.id))
    log.info("forge.scheduled", extra={"installation_id": g.tenant.installation_id, "sync_enqueued": claimed})
    return jsonify({"sync": "enqueued" if claimed else "not_due"}), 200
