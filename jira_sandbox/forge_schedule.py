"""Forge's scheduled triggers: each `scheduledTrigger` with a remote endpoint, POSTed on its interval.

As Forge does (scheduled triggers, Forge remote essentials): the first call comes about five minutes
after the app is installed or upgraded (an upgrade recreates the schedule), then one per interval
(fiveMinute, hour, day, week), a POST to `<remote baseUrl><route.path>` with a FIT naming no user, the
system token when the endpoint enables it, and the body {"context": {"cloudId", "moduleKey"},
"contextToken"}. A background thread keeps the schedule once a site has such a trigger.
`POST /_sandbox/forge/scheduled` {"app_id"?, "module_key"?, "fault"?} fires them now (tests and the demo
need not wait an hour): {"fired": [{"app_id", "module_key", "url", "status"}]}.
"""

from __future__ import annotations

import logging
import secrets
import threading
import time

from flask import Blueprint, jsonify, request

from jira_sandbox.connect_host import require_admin, site_state
from jira_sandbox.errors import JiraError
from jira_sandbox.forge_host import ForgeInstall, host_for

log = logging.getLogger(__name__)

INTERVALS_S = {"fiveMinute": 300, "hour": 3600, "day": 86400, "week": 7 * 86400}
FIRST_CALL_AFTER_S = 300
TICK_S = 15


def scheduled_triggers(install: ForgeInstall) -> list[dict]:
    """The install's scheduled triggers that call a remote endpoint: {key, endpoint, interval_s}."""
    found = []
    for module in (install.manifest.get("modules") or {}).get("scheduledTrigger") or []:
        endpoint = install.endpoints.get(module.get("endpoint"))
        if endpoint and endpoint.get("path") and module.get("interval") in INTERVALS_S:
            found.append({"key": module["key"], "endpoint": endpoint, "interval_s": INTERVALS_S[module["interval"]]})
    return found


class ForgeScheduler:
    """Fires the site's scheduled triggers on time (a daemon thread), or at once when asked."""

    def __init__(self, state):
        self.state = state
        self._due: dict[tuple[str, int, str], float] = {}  # (app id, version, trigger key) -> next call
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._stopped = threading.Event()

    def installed(self, install: ForgeInstall) -> None:
        """Install listener: schedule the app's triggers (an upgrade starts them afresh), run the clock."""
        triggers = scheduled_triggers(install)
        with self._lock:
            for key in [k for k in self._due if k[0] == install.app_id]:
                del self._due[key]
            for trigger in triggers:
                self._due[(install.app_id, install.version, trigger["key"])] = time.time() + FIRST_CALL_AFTER_S
            if triggers and self._thread is None and not self._stopped.is_set():
                self._thread = threading.Thread(target=self._run, name="sandbox-forge-schedule", daemon=True)
                self._thread.start()

    def fire(self, install: ForgeInstall, module_key: str | None = None, fault: str | None = None) -> list[dict]:
        """Call the install's scheduled trigger endpoints now (all, or the one named); what each answered."""
        host = host_for(self.state)
        fired = []
        for trigger in scheduled_triggers(install):
            if module_key and trigger["key"] != module_key:
                continue
            base = install.remotes.get(trigger["endpoint"].get("remote"))
            if not base:
                continue
            url = base + trigger["endpoint"]["path"]
            body = {"context": {"cloudId": self.state.cloud_id, "moduleKey": trigger["key"]},
                    "contextToken": secrets.token_urlsafe(32)}  # opaque to apps, as Forge says
            status = host.post(install, url, body, trigger["endpoint"], fault=fault, module_key=trigger["key"],
                               event="scheduledTrigger")
            fired.append({"app_id": install.app_id, "module_key": trigger["key"], "url": url, "status": status})
        return fired

    def tick(self, now: float | None = None) -> list[dict]:
        """Fire every trigger whose time has come; the next one is an interval later."""
        now = time.time() if now is None else now
        host = host_for(self.state)
        fired = []
        with self._lock:
            due = [key for key, at in self._due.items() if at <= now]
        for app_id, version, key in due:
            install = host.get(app_id)
            if install is None or install.version != version:
                with self._lock:
                    self._due.pop((app_id, version, key), None)
                continue
            interval = next((t["interval_s"] for t in scheduled_triggers(install) if t["key"] == key), None)
            with self._lock:
                self._due[(app_id, version, key)] = now + (interval or INTERVALS_S["hour"])
            fired += self.fire(install, key)
        return fired

    def stop(self) -> None:
        """Stop the clock (the site is shutting down): no trigger fires after this returns."""
        self._stopped.set()
        if self._thread is not None:
            self._thread.join(timeout=TICK_S + 30)

    def _run(self) -> None:
        while not self._stopped.wait(TICK_S):
            try:
                self.tick()
            except Exception:  # the clock must keep going whatever one call did
                log.exception("sandbox.forge.schedule_failed")


def scheduler_for(state) -> ForgeScheduler:
    """The site's scheduler (created by `register`)."""
    return state.forge_scheduler


bp = Blueprint("sandbox_forge_schedule", __name__, url_prefix="/_sandbox/forge")
require_admin(bp)


@bp.post("/scheduled")
def fire_view():
    """Fire scheduled triggers now: {"app_id"?, "module_key"?, "fault"?} (every installed app by default)."""
    body = request.get_json(silent=True)
    body = body if isinstance(body, dict) else {}
    state = site_state()
    host = host_for(state)
    if body.get("app_id"):
        install = host.get(str(body["app_id"]))
        if install is None:
            raise JiraError(404, ["No such Forge app is installed."])
        installs = [install]
    else:
        with state.lock:
            installs = list(host.installs.values())
    fired = []
    for install in installs:
        fired += scheduler_for(state).fire(install, body.get("module_key"), fault=body.get("fault"))
    return jsonify({"fired": fired})


def register(app, state) -> None:
    """Create the scheduler, have it told of every install, add its control route."""
    state.forge_scheduler = ForgeScheduler(state)
    host_for(state).install_listeners.append(state.forge_scheduler.installed)
    app.register_blueprint(bp)
