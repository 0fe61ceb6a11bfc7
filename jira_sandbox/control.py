"""Control endpoints for tests, the demo and benchmarks, under `/_sandbox/`.

Every call needs the header `X-Sandbox-Admin-Token: <state.admin_token>` (the CLI prints the
token as `admin_token`; `SandboxServer.admin_headers` carries it). A token rather than a
loopback check, because tests and benchmarks all run on loopback anyway and the token makes
a call to the control plane explicit.
"""

from __future__ import annotations

import hmac

from flask import Blueprint, current_app, jsonify, request

from jira_sandbox import seed
from jira_sandbox.errors import JiraError
from jira_sandbox.faults import FailRule

ADMIN_HEADER = "X-Sandbox-Admin-Token"
bp = Blueprint("sandbox_control", __name__, url_prefix="/_sandbox")


def _state():
    return current_app.extensions["jira_sandbox"]


@bp.before_request
def _require_admin_token():
    given = request.headers.get(ADMIN_HEADER, "")
    if not hmac.compare_digest(given.encode(), _state().admin_token.encode()):
        return jsonify({"errorMessages": [f"Missing or wrong {ADMIN_HEADER} header."], "errors": {}}), 403
    return None


def _body() -> dict:
    body = request.get_json(silent=True)
    return body if isinstance(body, dict) else {}


@bp.post("/reset")
def reset():
    """Empty the site; with {"issues": N, "seed": S, ...} reseed it."""
    body = _body()
    state = _state()
    seed.seed_site(state, **{k: body[k] for k in seed.SEED_OPTIONS if k in body})
    return jsonify(seed.summary(state))


@bp.post("/seed")
def seed_more():
    """Same as reset with seeding options (kept as its own verb for readability in tests)."""
    return reset()


@bp.get("/faults")
def get_faults():
    """The current fault settings."""
    return jsonify(_state().faults.describe())


@bp.put("/faults")
def set_faults():
    """Update fault settings, e.g. {"latency_ms": 20, "rate_limit": 100, "error_rate": 0.1}."""
    try:
        _state().faults.configure(**_body())
    except (ValueError, TypeError) as exc:
        raise JiraError(400, [str(exc)]) from None
    return jsonify(_state().faults.describe())


@bp.delete("/faults")
def clear_faults():
    """Switch every fault off."""
    _state().faults.clear()
    return jsonify(_state().faults.describe())


@bp.post("/faults/fail-next")
def fail_next():
    """Make the next N requests to a path prefix fail: {"path", "count", "status", "method"?,
    "retry_after"?, "body"?}."""
    body = _body()
    if "path" not in body:
        raise JiraError(400, ["path is required"])
    rule = FailRule(path=body["path"], count=int(body.get("count", 1)), status=int(body.get("status", 503)),
                    method=body.get("method"), retry_after=body.get("retry_after"), body=body.get("body"))
    faults = _state().faults
    with faults.lock:
        faults.rules.append(rule)
    return jsonify(faults.describe()), 201


@bp.get("/stats")
def stats():
    """Request counts since the last reset: requests_total, by_endpoint, by_status."""
    return jsonify(_state().faults.stats())


@bp.post("/stats/reset")
def reset_stats():
    """Zero the request counters."""
    _state().faults.reset_stats()
    return jsonify(_state().faults.stats())


@bp.post("/issues")
def create_issues():
    """Create issues fast from internal values: {"issues": [{"project", "summary", "status",
    "labels", "customfields", "assignee", ...}], "notify": true}; any status is allowed."""
    body = _body()
    specs = body.get("issues") or [body]
    state = _state()
    created = []
    for spec in specs:
        if spec.get("project", "CS") not in state.projects:
            raise JiraError(400, [], {"project": "Specify a valid project ID or key"})
        issue = state.import_issue(spec, notify=body.get("notify", True))
        created.append({"id": issue["id"], "key": issue["key"]})
    return jsonify({"issues": created}), 201


@bp.put("/projects/<key>/required-fields")
def set_required_fields(key):
    """Require fields on a project's create screen: {"fields": ["customfield_10002", ...], "issuetype"?: "Bug"}
    (every issue type when left out; [] makes them optional again) -> the project's create configuration."""
    body = _body()
    if not isinstance(body.get("fields"), list):
        raise JiraError(400, ["fields must be a list of field ids"])
    state = _state()
    state.set_required_fields(key, body["fields"], body.get("issuetype"))
    return jsonify(state.create_config(key))


@bp.put("/projects/<key>/priority-scheme")
def set_priority_scheme(key):
    """Offer only some priorities in a project: {"priorities": ["High", "Medium"], "default"?: "High"};
    {"priorities": null} offers every one again -> the project's create configuration."""
    body = _body()
    priorities = body.get("priorities")
    if priorities is not None and not isinstance(priorities, list):
        raise JiraError(400, ["priorities must be a list of priority names or null"])
    state = _state()
    state.set_priority_scheme(key, priorities, body.get("default"))
    return jsonify(state.create_config(key))


@bp.post("/users")
def make_user():
    """Create a user: {"displayName", "email", "name"?} -> the user with all its credentials."""
    body = _body()
    if not body.get("email"):
        raise JiraError(400, ["email is required"])
    user = _state().add_user(body.get("displayName") or body["email"], body["email"], body.get("name"))
    return jsonify(user), 201


@bp.get("/customers")
def customers():
    """The seeded customer catalogue: slug, name, external_id, tier."""
    return jsonify(_state().customer_catalog)


@bp.get("/info")
def info():
    """Flavour, base URL, counts, cloud id."""
    return jsonify(seed.summary(_state()))
