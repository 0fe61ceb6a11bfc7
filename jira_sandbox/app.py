"""The sandbox Jira site as a Flask app: `create_app(state)`.

Order of a REST request: faults (latency, scripted failures, rate limit) -> authentication ->
the view. Errors are rendered in Jira's `{"errorMessages", "errors"}` shape in one place.
Control endpoints for tests live under `/_sandbox/` and need the admin token header.
"""

from __future__ import annotations

from flask import Flask, current_app, g, jsonify, make_response, request
from werkzeug.exceptions import HTTPException

# api_* are imported for the routes they add to the REST blueprint.
from jira_sandbox import (  # noqa: F401
    api_issues,
    api_meta,
    api_search,
    connect_host,
    control,
    faults,
    forge_host,
    oauth,
    pages,
    webhooks,
)
from jira_sandbox.auth import CLOUD_401_TEXT, DEFAULT_AUTHENTICATORS, SERVER_401_MESSAGE, AuthFailed, authenticate
from jira_sandbox.errors import JiraError
from jira_sandbox.rest import bp as rest_bp
from jira_sandbox.search import SearchCache
from jira_sandbox.state import SandboxState

# Connect install/JWT, Forge install/FIT keys, OAuth 2.0 + /ex routing, webhook delivery, the /browse page.
INTEGRATION_MODULES = (connect_host, forge_host, oauth, webhooks, pages)
# REST paths Jira serves to anonymous callers.
ANONYMOUS_PATHS = ("/serverInfo",)


def create_app(state: SandboxState | None = None, **fault_options) -> Flask:
    """Build the sandbox app for `state` (a fresh Cloud site when None)."""
    state = state or SandboxState()
    app = Flask(__name__)
    app.json.sort_keys = False
    app.extensions["jira_sandbox"] = state
    app.extensions["jira_sandbox.search"] = SearchCache()
    if state.faults is None:
        state.faults = faults.FaultConfig()
    if fault_options:
        state.faults.configure(**fault_options)
    for authenticator in DEFAULT_AUTHENTICATORS:
        if authenticator not in state.authenticators:
            state.authenticators.append(authenticator)

    faults.install(app, state.faults)
    app.before_request(_authenticate)
    app.register_blueprint(rest_bp)
    app.register_blueprint(control.bp)
    app.register_error_handler(JiraError, _jira_error)
    app.register_error_handler(HTTPException, _http_error)
    for module in INTEGRATION_MODULES:
        module.register(app, state)
    return app


def _authenticate():
    """Resolve the caller for REST requests; 401 like Jira when anonymous or wrong."""
    g.principal = None
    if not request.path.startswith("/rest/api/"):
        return None
    state = app_state()
    try:
        g.principal = authenticate(request, state)
    except AuthFailed:
        return _unauthorized(state, failed=True)
    if g.principal is None and not request.path.endswith(ANONYMOUS_PATHS):
        return _unauthorized(state, failed=False)
    return None


def app_state() -> SandboxState:
    """The state of the app serving this request."""
    return current_app.extensions["jira_sandbox"]


def _unauthorized(state: SandboxState, failed: bool):
    if state.flavour == "cloud":
        response = app_text(CLOUD_401_TEXT, 401)
        response.headers["WWW-Authenticate"] = 'Basic realm="protected-area"'
    else:
        response = jsonify({"errorMessages": [SERVER_401_MESSAGE], "errors": {}})
        response.status_code = 401
        response.headers["WWW-Authenticate"] = 'OAuth realm="' + state.base_url + '"'
    response.headers["X-Seraph-LoginReason"] = "AUTHENTICATED_FAILED" if failed else "AUTHENTICATION_DENIED"
    return response


def app_text(text: str, status: int):
    """A text/plain response."""
    response = make_response(text, status)
    response.mimetype = "text/plain"
    return response


def _jira_error(exc: JiraError):
    response = jsonify(exc.body())
    response.status_code = exc.status
    return response


def _http_error(exc: HTTPException):
    if not request.path.startswith(("/rest/", "/_sandbox")):
        return exc
    response = jsonify({"errorMessages": [exc.description or exc.name], "errors": {}})
    response.status_code = exc.code or 500
    return response
