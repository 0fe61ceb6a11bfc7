"""Webhook delivery: Connect app webhooks, dynamic (REST-registered) webhooks and admin webhooks.

A listener on `state.subscribe` picks the targets of each issue event (evaluating JQL filters
against the issue as it was at the event), renders Jira's payload once per shape and queues one
delivery per target. Deliveries run on a background pool, never inside the request that caused
them, and every attempt is recorded (`GET /_sandbox/webhooks/deliveries`).
Retries follow Jira Cloud's documented policy: up to 5 retries on 408, 409, 425, 429, 5xx or a
connection failure, with `X-Atlassian-Webhook-Retry: <n>` on retries and the same
`X-Atlassian-Webhook-Identifier` on every attempt. Jira Data Center does not retry.
Knobs (`POST /_sandbox/webhooks/config`): duplicate, reorder_window, delay_ms, paused,
retry_backoff_s, max_retries, timeout_s, workers, seed, clock_offset_s.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import random
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field

import jwt
import requests
from flask import Blueprint, jsonify, request

from jira_sandbox import render
from jira_sandbox.connect_host import Install, host_for, require_admin, site_state
from jira_sandbox.connect_jwt import sign_for_app
from jira_sandbox.errors import JiraError
from jira_sandbox.inflight import InFlight, filter_records

log = logging.getLogger(__name__)

RETRY_STATUSES = frozenset({408, 409, 425, 429})
CONFIG_KEYS = ("duplicate", "reorder_window", "delay_ms", "paused", "retry_backoff_s", "max_retries",
               "timeout_s", "workers", "seed", "clock_offset_s")


@dataclass
class WebhookConfig:
    """Delivery behaviour; the defaults are in-order, immediate, with short retry backoff."""

    duplicate: int = 0  # extra copies of every delivery (same identifier), like an at-least-once redelivery
    reorder_window: int = 0  # >1: buffer this many deliveries and send them shuffled
    delay_ms: float = 0  # wait before the first attempt
    paused: bool = False  # hold deliveries until /flush
    retry_backoff_s: float = 0.5  # first retry delay; doubles each retry (Jira waits minutes)
    max_retries: int = 5
    timeout_s: float = 10
    workers: int = 1  # one worker keeps deliveries in order; more trade order for throughput
    seed: int = 1
    clock_offset_s: float = 0  # shifts "now" for dynamic-webhook expiry checks


@dataclass
class Target:
    """Where one event goes and how it is signed."""

    kind: str  # connect | dynamic | admin
    url: str
    api_version: int = 2
    install: Install | None = None
    secret: str | None = None  # admin webhook HMAC secret, or the OAuth client secret
    client_id: str | None = None
    matched_ids: list = field(default_factory=list)


@dataclass
class Delivery:
    """One webhook request, possibly attempted several times."""

    id: str
    target: Target
    body: bytes
    event: str
    issue_key: str
    copy: int = 0
    attempts: int = 0


def jql_matches(state, jql: str | None, issue: dict) -> bool:
    """Whether `issue` matches a webhook's JQL filter (empty matches everything)."""
    if not jql or not jql.strip():
        return True
    try:
        from jira_sandbox.jql import JqlError, parse
    except ImportError:  # the JQL engine is built alongside; until it lands, filters match everything
        return True
    from jira_sandbox.search import context
    try:
        with state.lock:
            return bool(parse(jql).search([issue], context(state, None)))
    except JqlError:
        return False


def build_payload(state, event, api_version: int = 2) -> dict:
    """Jira's webhook body for an issue event (webhooks use the v2 issue representation)."""
    with state.lock:
        body = {"timestamp": event.timestamp_ms, "webhookEvent": event.webhook_event}
        if event.issue_event_type_name:
            body["issue_event_type_name"] = event.issue_event_type_name
        body["user"] = state.render_user(event.user_id, api_version)
        body["issue"] = state.render_issue(event.issue, api_version=api_version)
        if event.history:
            body["changelog"] = {"id": event.history["id"],
                                 "items": render.history(state, event.history, api_version)["items"]}
        if event.property_key:
            body["property"] = {"key": event.property_key,
                                "value": event.issue.get("properties", {}).get(event.property_key)}
    return body


class Dispatcher:
    """Queues, delays, shuffles, delivers and retries webhooks; records every attempt."""

    def __init__(self, state):
        self.state = state
        self.config = WebhookConfig()
        self.deliveries: list[dict] = []
        self.dynamic: dict[int, dict] = {}  # dynamic webhooks, by id (see webhooks_rest)
        self.admin_hooks: dict[int, dict] = {}  # admin webhooks, by id (see webhooks_rest)
        self.next_id = 1000
        self.inflight = InFlight()
        self._held: list[Delivery] = []
        self._buffer: list[Delivery] = []
        self._rng = random.Random(self.config.seed)
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sandbox-webhook")
        self._local = threading.local()

    def now(self) -> float:
        """Seconds since the epoch, shifted by the test clock offset."""
        return time.time() + self.config.clock_offset_s

    def configure(self, **options) -> dict:
        """Update delivery knobs; unknown keys raise ValueError."""
        unknown = set(options) - set(CONFIG_KEYS)
        if unknown:
            raise ValueError(f"unknown webhook options: {sorted(unknown)}")
        with self.inflight.cond:
            for key, value in options.items():
                kind = type(getattr(self.config, key))
                if kind is bool and isinstance(value, str):
                    value = value.lower() in ("1", "true", "yes")
                setattr(self.config, key, kind(value))
            if "seed" in options:
                self._rng = random.Random(self.config.seed)
            if "workers" in options:
                old, self._executor = self._executor, ThreadPoolExecutor(
                    max_workers=max(1, self.config.workers), thread_name_prefix="sandbox-webhook")
                old.shutdown(wait=False)
        return asdict(self.config)

    # ---- event -> deliveries -------------------------------------------------------------

    def on_event(self, event) -> None:
        """State listener: queue deliveries for every target that wants this event."""
        targets = self.targets_for(event)
        if not targets:
            return
        payloads: dict[int, dict] = {}
        for target in targets:
            if target.api_version not in payloads:
                payloads[target.api_version] = build_payload(self.state, event, target.api_version)
            body = payloads[target.api_version]
            if target.matched_ids:
                body = dict(body, matchedWebhookIds=target.matched_ids)
            raw = json.dumps(body).encode()
            ident = str(uuid.uuid4())
            for n in range(1 + max(0, self.config.duplicate)):
                self._enqueue(Delivery(ident, target, raw, event.webhook_event, event.issue_key, copy=n))

    def targets_for(self, event) -> list[Target]:
        """Every target for an event: Connect modules, dynamic and admin webhooks."""
        targets = []
        issue = event.issue
        for install in host_for(self.state).all():
            if not install.enabled:
                continue
            for hook in install.webhooks:
                if hook.get("event") == event.webhook_event and jql_matches(self.state, hook.get("filter"), issue):
                    url = install.base_url + _expand(hook.get("url", "/"), issue)
                    targets.append(Target("connect", url, install=install))
        targets += self._dynamic_targets(event)
        with self.state.lock:
            admin = [h for h in self.admin_hooks.values() if h["enabled"] and event.webhook_event in h["events"]]
        for hook in admin:
            if jql_matches(self.state, hook.get("jql"), issue):
                targets.append(Target("admin", _expand(hook["url"], issue), secret=hook.get("secret")))
        return targets

    def _dynamic_targets(self, event) -> list[Target]:
        now = self.now()
        changed = {i.get("fieldId") for i in (event.history or {}).get("items", [])}
        grouped: dict[tuple, list[int]] = {}
        with self.state.lock:
            hooks = [dict(h) for h in self.dynamic.values()]
        for hook in hooks:
            if event.webhook_event not in hook["events"] or hook["expires"] <= now:
                continue
            if hook.get("fieldIdsFilter") and event.history and not changed & set(hook["fieldIdsFilter"]):
                continue
            if jql_matches(self.state, hook.get("jqlFilter"), event.issue):
                grouped.setdefault((hook["owner_kind"], hook["owner"], hook["url"]), []).append(hook["id"])
        targets = []
        for (kind, owner, url), ids in grouped.items():
            if kind == "connect":
                install = host_for(self.state).get(owner)
                if install is not None and install.enabled:
                    targets.append(Target("dynamic", url, install=install, matched_ids=sorted(ids)))
            else:
                client = getattr(self.state, "oauth", None)
                secret = client.client_secret(owner) if client else None
                targets.append(Target("dynamic", url, secret=secret, client_id=owner, matched_ids=sorted(ids)))
        return targets

    # ---- queueing ------------------------------------------------------------------------

    def _enqueue(self, delivery: Delivery) -> None:
        with self.inflight.cond:
            self.inflight.add()
            if self.config.paused:
                self._held.append(delivery)
                return
            window = self.config.reorder_window
            if window > 1:
                self._buffer.append(delivery)
                if len(self._buffer) < window:
                    return
                batch, self._buffer = self._buffer, []
                self._rng.shuffle(batch)
            else:
                batch = [delivery]
            delay = self.config.delay_ms / 1000
        for item in batch:
            self._schedule(item, delay)

    def _schedule(self, delivery: Delivery, delay: float) -> None:
        if delay <= 0:
            self._executor.submit(self._attempt, delivery)
            return
        timer = threading.Timer(delay, lambda: self._executor.submit(self._attempt, delivery))
        timer.daemon = True
        timer.start()

    def flush(self, timeout: float = 30) -> bool:
        """Release held and buffered deliveries and wait until nothing is outstanding."""
        with self.inflight.cond:
            batch, self._held, self._buffer = self._held + self._buffer, [], []
            if self.config.reorder_window > 1:
                self._rng.shuffle(batch)
        for item in batch:
            self._schedule(item, 0)
        return self.inflight.wait_idle(timeout)

    # ---- one attempt ---------------------------------------------------------------------

    def _attempt(self, delivery: Delivery) -> None:
        retry = delivery.attempts
        delivery.attempts += 1
        target = delivery.target
        headers = {"Content-Type": "application/json; charset=utf-8", "User-Agent": "Atlassian Webhook HTTP Client",
                   "X-Atlassian-Webhook-Identifier": delivery.id, "X-Atlassian-Webhook-Flow": "Primary"}
        if retry:
            headers["X-Atlassian-Webhook-Retry"] = str(retry)
        headers.update(self._auth_headers(target, delivery.body))
        status, error, started = 0, None, time.time()
        try:
            response = self._session().post(target.url, data=delivery.body, headers=headers,
                                            timeout=self.config.timeout_s)
            status = response.status_code
        except requests.RequestException as exc:
            error = type(exc).__name__
        record = {"id": delivery.id, "kind": target.kind, "url": target.url, "event": delivery.event,
                  "issue_key": delivery.issue_key, "attempt": retry + 1, "retry": retry, "copy": delivery.copy,
                  "status": status, "error": error, "time": started, "matchedWebhookIds": target.matched_ids,
                  "headers": {k: v for k, v in headers.items() if k != "Authorization"}}
        with self.state.lock:
            self.deliveries.append(record)
        retryable = status == 0 or status in RETRY_STATUSES or status >= 500
        if retryable and self.state.flavour == "cloud" and retry < self.config.max_retries:
            self._schedule(delivery, self.config.retry_backoff_s * (2 ** retry))
            return
        self.inflight.finish()

    def _auth_headers(self, target: Target, body: bytes) -> dict:
        if target.install is not None:
            return {"Authorization": "JWT " + sign_for_app(target.install, "POST", target.url)}
        if target.kind == "dynamic" and target.secret:
            # OAuth 2.0 apps get a Bearer JWT signed with their client secret (claims undocumented).
            now = int(self.now())
            token = jwt.encode({"iss": f"jira:{self.state.cloud_id}", "aud": target.client_id, "iat": now,
                                "exp": now + 180}, target.secret, algorithm="HS256")
            return {"Authorization": f"Bearer {token}"}
        if target.kind == "admin" and target.secret:
            digest = hmac.new(target.secret.encode(), body, hashlib.sha256).hexdigest()
            return {"X-Hub-Signature": f"sha256={digest}"}
        return {}

    def _session(self) -> requests.Session:
        session = getattr(self._local, "session", None)
        if session is None:
            session = self._local.session = requests.Session()
        return session


def _expand(url: str, issue: dict) -> str:
    """Substitute the Connect webhook URL variables Jira supports for issue events."""
    for name, value in (("{issue.key}", issue["key"]), ("{issue.id}", issue["id"]),
                        ("{project.key}", issue["project"])):
        url = url.replace(name, value)
    return url


def dispatcher_for(state) -> Dispatcher:
    """The site's webhook dispatcher (created by `register`)."""
    return state.webhooks


bp = Blueprint("sandbox_webhooks", __name__, url_prefix="/_sandbox/webhooks")
require_admin(bp)


@bp.get("/deliveries")
def deliveries():
    """Every attempt so far, oldest first; filter with ?kind=&event=&issue_key=."""
    with site_state().lock:
        records = list(dispatcher_for(site_state()).deliveries)
    return jsonify(filter_records(records, request.args, ("kind", "event", "issue_key")))


@bp.delete("/deliveries")
def clear_deliveries():
    """Forget recorded attempts."""
    with site_state().lock:
        dispatcher_for(site_state()).deliveries.clear()
    return "", 204


@bp.route("/config", methods=["GET", "POST", "PUT"])
def config():
    """Read or update delivery knobs, e.g. {"duplicate": 1, "reorder_window": 4, "paused": true}."""
    body = request.get_json(silent=True) if request.method != "GET" else None
    try:
        return jsonify(dispatcher_for(site_state()).configure(**(body or {})))
    except (ValueError, TypeError) as exc:
        raise JiraError(400, [str(exc)]) from None


@bp.post("/flush")
def flush():
    """Deliver everything held or buffered and wait until the queue is drained (?timeout=s)."""
    drained = dispatcher_for(site_state()).flush(float(request.args.get("timeout", 30)))
    return jsonify({"drained": drained}), 200 if drained else 504


def register(app, state) -> None:
    """Create the dispatcher, subscribe it to issue events, add control and webhook REST routes."""
    from jira_sandbox import webhooks_rest
    state.webhooks = Dispatcher(state)
    state.subscribe(state.webhooks.on_event)
    app.register_blueprint(bp)
    webhooks_rest.register(app, state)
