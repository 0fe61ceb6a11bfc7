"""Forge issue triggers: `avi:jira:{created,updated,deleted}:issue` delivered to the remote's trigger endpoints.

A state listener (like the webhook dispatcher's) turns each issue change into the Forge event body
(`eventType`, `issue`, `changelog`, `atlassianId`, `context`, an `id` that stays the same on retries) and
POSTs it to every endpoint whose trigger lists the event, with a FIT and the system token. Forge gives a
remote 5 s and retries a failure up to 4 times (about 60 s apart; `retry_backoff_s` here) with a
`retryContext`. `filter.ignoreSelf` drops events the app caused itself (its app user's changes).
Knobs (`POST /_sandbox/forge/events/config`): duplicate, paused, retry_backoff_s, max_retries, fault,
faulty_attempts.
Every attempt is listed by `GET /_sandbox/forge/events`; `POST /_sandbox/forge/events/flush` waits for them.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass

import requests
from flask import Blueprint, jsonify, request

from jira_sandbox import render
from jira_sandbox.connect_host import require_admin, site_state
from jira_sandbox.errors import JiraError
from jira_sandbox.forge_host import FIT_FAULTS, HTTP_TIMEOUT_S, host_for
from jira_sandbox.inflight import InFlight, filter_records

log = logging.getLogger(__name__)

FORGE_EVENTS = {"jira:issue_created": "avi:jira:created:issue", "jira:issue_updated": "avi:jira:updated:issue",
                "jira:issue_deleted": "avi:jira:deleted:issue"}
# The issue fields a Forge issue event carries (a subset: apps read the rest from the REST API).
EVENT_FIELDS = {"summary", "issuetype", "project", "status", "assignee", "reporter", "creator", "created", "updated"}


@dataclass
class ForgeEventConfig:
    """Delivery behaviour; short backoff so tests need not wait Forge's minute."""

    duplicate: int = 0
    paused: bool = False
    retry_backoff_s: float = 0.3
    max_retries: int = 4  # Forge: "retried up to 4 times"
    fault: str | None = None  # a FIT fault on deliveries (the remote's negative tests)
    faulty_attempts: int = 0  # >0: the fault spoils only each event's first n attempts (then Forge's retry works)


@dataclass
class PendingEvent:
    """One event for one endpoint, attempted up to 1 + max_retries times."""

    app_id: str
    url: str
    endpoint: dict
    module_key: str
    body: dict
    attempts: int = 0


class ForgeEventDispatcher:
    """Queues and delivers Forge issue events in order on one worker; records every attempt."""

    def __init__(self, state):
        self.state = state
        self.config = ForgeEventConfig()
        self.attempts: list[dict] = []
        self._held: list[PendingEvent] = []
        self.inflight = InFlight()
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sandbox-forge-events")
        self._session = requests.Session()

    def configure(self, **options) -> dict:
        """Update knobs; unknown keys raise ValueError."""
        for key, value in options.items():
            if not hasattr(self.config, key):
                raise ValueError(f"unknown setting {key}")
            if key == "fault" and value is not None and value not in FIT_FAULTS:
                raise ValueError(f"fault must be one of {', '.join(FIT_FAULTS)}")
            setattr(self.config, key, value)
        return asdict(self.config)

    def on_event(self, event) -> None:
        """State listener: one delivery per subscribed trigger endpoint of every Forge install."""
        event_type = FORGE_EVENTS.get(event.webhook_event)
        if event_type is None:
            return
        host = host_for(self.state)
        with self.state.lock:
            installs = list(host.installs.values())
        for install in installs:
            for trigger in install.triggers:
                if event_type not in trigger["events"]:
                    continue
                if trigger.get("ignore_self") and event.user_id == install.user_id:
                    continue
                endpoint = install.endpoints.get(trigger["endpoint"]) or {}
                base = install.remotes.get(endpoint.get("remote"))
                if not base or not endpoint.get("path"):
                    continue
                body = self._body(event, event_type, trigger["key"])
                for _ in range(1 + max(0, int(self.config.duplicate))):
                    self._enqueue(PendingEvent(install.app_id, base + endpoint["path"], endpoint, trigger["key"],
                                               body))

    def _body(self, event, event_type: str, module_key: str) -> dict:
        with self.state.lock:
            issue = self.state.render_issue(event.issue, fields=EVENT_FIELDS, api_version=3)
            body = {"id": str(uuid.uuid4()), "eventType": event_type, "atlassianId": event.user_id, "issue": issue,
                    "context": {"cloudId": self.state.cloud_id, "moduleKey": module_key}}
            if event.history:
                body["changelog"] = {"id": event.history["id"],
                                     "items": render.history(self.state, event.history, 3)["items"]}
        return body

    def _enqueue(self, pending: PendingEvent) -> None:
        with self.inflight.cond:
            self.inflight.add()
            if self.config.paused:
                self._held.append(pending)
                return
        self._executor.submit(self._attempt, pending)

    def _attempt(self, pending: PendingEvent) -> None:
        host = host_for(self.state)
        install = host.get(pending.app_id)
        retry = pending.attempts
        pending.attempts += 1
        status, error = 0, None
        if install is not None:
            body = dict(pending.body)
            if retry:
                body["retryContext"] = {"retryCount": retry, "retryReason": "REMOTE_ERROR"}
            fault = self.config.fault
            if fault and 0 < self.config.faulty_attempts <= retry:
                fault = None
            headers = host.invocation_headers(install, pending.endpoint, fault=fault, module_key=pending.module_key)
            try:
                status = self._session.post(pending.url, json=body, headers=headers, timeout=HTTP_TIMEOUT_S).status_code
            except requests.RequestException as exc:
                error = type(exc).__name__
            host.record_call(install, event=body["eventType"], url=pending.url, status=status, fault=fault)
        with self.state.lock:
            self.attempts.append({"id": pending.body["id"], "event": pending.body["eventType"], "url": pending.url,
                                  "issue_key": (pending.body.get("issue") or {}).get("key"), "attempt": retry + 1,
                                  "status": status, "error": error, "time": time.time()})
        if install is not None and not 200 <= status < 300 and retry < self.config.max_retries:
            timer = threading.Timer(self.config.retry_backoff_s * (2 ** retry),
                                    lambda: self._executor.submit(self._attempt, pending))
            timer.daemon = True
            timer.start()
            return
        self.inflight.finish()

    def flush(self, timeout: float = 30) -> bool:
        """Release held events and wait until every delivery (with its retries) is finished."""
        with self.inflight.cond:
            held, self._held = self._held, []
        for pending in held:
            self._executor.submit(self._attempt, pending)
        return self.inflight.wait_idle(timeout)


def dispatcher_for(state) -> ForgeEventDispatcher:
    """The site's Forge event dispatcher (created by `register`)."""
    return state.forge_events


bp = Blueprint("sandbox_forge_events", __name__, url_prefix="/_sandbox/forge/events")
require_admin(bp)


@bp.get("")
def attempts_view():
    """Every delivery attempt so far, oldest first (?issue_key=&event=)."""
    with site_state().lock:
        records = list(dispatcher_for(site_state()).attempts)
    return jsonify(filter_records(records, request.args, ("issue_key", "event")))


@bp.post("/config")
def config_view():
    """Update delivery knobs, e.g. {"duplicate": 1, "fault": "expired", "paused": true}."""
    body = request.get_json(silent=True)
    try:
        return jsonify(dispatcher_for(site_state()).configure(**(body if isinstance(body, dict) else {})))
    except (ValueError, TypeError) as exc:
        raise JiraError(400, [str(exc)]) from None


@bp.post("/flush")
def flush_view():
    """Deliver held events and wait until all are done (?timeout=s)."""
    drained = dispatcher_for(site_state()).flush(float(request.args.get("timeout", 30)))
    return jsonify({"drained": drained}), 200 if drained else 504


def register(app, state) -> None:
    """Create the dispatcher, subscribe it to issue changes, add its control routes."""
    state.forge_events = ForgeEventDispatcher(state)
    state.subscribe(state.forge_events.on_event)
    app.register_blueprint(bp)
