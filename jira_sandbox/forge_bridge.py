"""A stand-in for `@forge/bridge`: a UI module's `invokeRemote`, made as Forge makes it, for tests and browsers.

Forge's own bridge posts a Custom UI's call to Atlassian, which finds the UI module's resolver endpoint,
calls `<remote baseUrl><path>` with a FIT naming the user (`principal`), the module (`context.moduleKey`)
and what the module shows (`context.extension`: the issue, or the admin page), the system token and, with
`appUserToken`, a user token; and resolves the remote's `{status, headers, body}`. Here the sandbox plays
Atlassian's part, in two ways:
- tests: `POST /_sandbox/forge/invoke` {"app_id", "path", "method"?, "body"?, "principal", "issue_key"?,
  "module_key"?, "fault"?} (admin token) answers {"status", "headers", "body"};
- browsers: a Custom UI page the sandbox hosts (`forge_ui`) imports `/_forge/bridge.js`, whose
  `invokeRemote` posts to `POST /_forge/bridge/invoke` with the page's frame token (`X-Forge-Frame`), and
  whose `view.getContext()` reads `GET /_forge/bridge/context`. The frame token is a capability the issue
  view minted for one viewer, module and issue; the signing key never leaves the sandbox.
"""

from __future__ import annotations

import secrets
import threading
import time
from dataclasses import dataclass

import requests
from flask import Blueprint, current_app, jsonify, request, send_from_directory

from jira_sandbox.catalog import ISSUE_TYPES
from jira_sandbox.connect_host import require_admin, site_state
from jira_sandbox.errors import JiraError
from jira_sandbox.forge_host import ForgeHost, ForgeInstall, host_for

UI_TIMEOUT_S = 25  # Forge gives UI invocations 25 s
UI_MODULES = ("jira:issueContext", "jira:issuePanel", "jira:issueGlance", "jira:adminPage")
ISSUE_MODULES = ("jira:issueContext", "jira:issuePanel", "jira:issueGlance")
FRAME_HEADER = "X-Forge-Frame"
FRAME_TTL_S = 3600  # a page left open for an hour must be reloaded, as a Jira session would be
MAX_FRAMES = 5000
INVOKE_METHODS = ("GET", "POST", "PUT", "DELETE", "PATCH")


@dataclass(frozen=True)
class UiModule:
    """A UI module of an install and the endpoint its resolver names."""

    type: str
    key: str
    module: dict
    endpoint: dict


@dataclass(frozen=True)
class RemoteAnswer:
    """What invokeRemote resolves: the remote's status, headers (name -> [values]) and body (parsed if JSON)."""

    status: int
    headers: dict
    body: object

    def as_json(self) -> dict:
        """{"status", "headers", "body"}."""
        return {"status": self.status, "headers": self.headers, "body": self.body}


def ui_module(install: ForgeInstall, module_key: str | None = None) -> UiModule:
    """The install's UI module with a remote resolver (the first, or the one named `module_key`)."""
    modules = install.manifest.get("modules") or {}
    for module_type in UI_MODULES:
        for module in modules.get(module_type) or []:
            if module_key and module.get("key") != module_key:
                continue
            endpoint_key = (module.get("resolver") or {}).get("endpoint")
            if endpoint_key in install.endpoints:
                return UiModule(module_type, module["key"], module, install.endpoints[endpoint_key])
    raise JiraError(400, ["The app has no UI module with a remote resolver endpoint."])


def extension_for(state, module_type: str, issue_key: str | None = None) -> dict | None:
    """`context.extension` of a UI module: the issue and its project for issue modules; the page type otherwise."""
    if module_type not in ISSUE_MODULES:
        return {"type": module_type}
    if not issue_key:
        return None
    with state.lock:
        issue = state.get_issue(issue_key)  # Jira's 404 for an unknown issue
        project = state.projects[issue["project"]]
        return {"type": module_type,
                "issue": {"id": issue["id"], "key": issue["key"], "type": issue["issuetype"],
                          "typeId": ISSUE_TYPES[issue["issuetype"]][0]},
                "project": {"id": project["id"], "key": project["key"], "type": "software"}}


def invoke_remote(host: ForgeHost, install: ForgeInstall, *, path: str, method: str = "GET", body=None,
                  principal: str | None = None, extension: dict | None = None, module_key: str | None = None,
                  fault: str | None = None) -> RemoteAnswer:
    """One invokeRemote call through Forge: the remote's answer."""
    if not isinstance(path, str) or not path.startswith("/") or "//" in path:
        raise JiraError(400, ["path must be a path on the remote, starting with /"])
    method = str(method or "GET").upper()
    if method not in INVOKE_METHODS:
        raise JiraError(400, [f"method must be one of {', '.join(INVOKE_METHODS)}"])
    module = ui_module(install, module_key)
    base = install.remotes.get(module.endpoint.get("remote"))
    if not base:
        raise JiraError(400, ["The UI endpoint names no remote."])
    headers = host.invocation_headers(install, module.endpoint, fault=fault, module_key=module.key,
                                      principal=principal, extension=extension, ui=True)
    try:
        response = requests.request(method, base + path, headers=headers, timeout=UI_TIMEOUT_S,
                                    json=body if method not in ("GET", "HEAD") else None)
    except requests.RequestException as exc:
        host.record_call(install, event="invokeRemote", url=base + path, status=0, fault=fault)
        raise JiraError(502, [f"The remote could not be reached: {type(exc).__name__}"]) from None
    host.record_call(install, event="invokeRemote", url=base + path, status=response.status_code, fault=fault)
    try:
        answer = response.json()
    except ValueError:
        answer = response.text
    names = {name.lower() for name in response.headers}
    return RemoteAnswer(response.status_code, {name: [response.headers[name]] for name in sorted(names)}, answer)


@dataclass(frozen=True)
class Frame:
    """One Custom UI iframe a page rendered: which app and module, for whom, showing what."""

    app_id: str
    module_key: str
    principal: str
    extension: dict
    expires_at: float


class FrameSessions:
    """The frame tokens of rendered Custom UI iframes (what Jira's session is to Forge's real bridge)."""

    def __init__(self) -> None:
        self._frames: dict[str, Frame] = {}
        self._lock = threading.Lock()

    def open(self, install: ForgeInstall, module_key: str, principal: str, extension: dict) -> str:
        """A token for one iframe; it expires with the page."""
        token = secrets.token_urlsafe(24)
        now = time.time()
        with self._lock:
            for stale in [t for t, f in self._frames.items() if f.expires_at < now]:
                del self._frames[stale]
            while len(self._frames) >= MAX_FRAMES:
                del self._frames[next(iter(self._frames))]
            self._frames[token] = Frame(install.app_id, module_key, principal, extension, now + FRAME_TTL_S)
        return token

    def get(self, token: str) -> Frame | None:
        """The live frame of a token, or None."""
        with self._lock:
            frame = self._frames.get(token or "")
        return frame if frame is not None and frame.expires_at >= time.time() else None


def frames_for(state) -> FrameSessions:
    """The site's frame sessions (created by `register`)."""
    return state.forge_frames


bp = Blueprint("sandbox_forge_bridge", __name__, url_prefix="/_sandbox/forge")
require_admin(bp)
browser_bp = Blueprint("sandbox_forge_bridge_browser", __name__, url_prefix="/_forge")


@bp.post("/invoke")
def invoke_view():
    """invokeRemote for tests: the remote's status, headers and body."""
    body = request.get_json(silent=True)
    body = body if isinstance(body, dict) else {}
    state = site_state()
    host = host_for(state)
    install = host.get(body.get("app_id"))
    if install is None:
        raise JiraError(404, ["No such Forge app is installed."])
    module = ui_module(install, body.get("module_key"))
    extension = extension_for(state, module.type, str(body["issue_key"]) if body.get("issue_key") else None)
    answer = invoke_remote(host, install, path=body.get("path"), method=body.get("method") or "GET",
                           body=body.get("body"), principal=body.get("principal"), extension=extension,
                           module_key=module.key, fault=body.get("fault"))
    return jsonify(answer.as_json())


def _frame() -> tuple[Frame, ForgeInstall]:
    frame = frames_for(site_state()).get(request.headers.get(FRAME_HEADER, ""))
    install = host_for(site_state()).get(frame.app_id) if frame else None
    if frame is None or install is None:
        raise JiraError(401, ["This page's session ended; reload the page."])
    return frame, install


@browser_bp.get("/bridge.js")
def bridge_script():
    """The @forge/bridge stand-in every hosted Custom UI page imports (through its import map)."""
    response = send_from_directory(current_app.static_folder, "forge_bridge.js", mimetype="text/javascript",
                                   max_age=0)
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


@browser_bp.get("/bridge/context")
def context_view():
    """view.getContext() of a frame: the user, the site, the module and its extension (the issue)."""
    frame, install = _frame()
    state = site_state()
    return jsonify({"accountId": frame.principal, "cloudId": state.cloud_id, "siteUrl": state.base_url,
                    "moduleKey": frame.module_key, "environmentId": install.environment_id,
                    "environmentType": "DEVELOPMENT", "extension": frame.extension, "locale": "en-US",
                    "timezone": "Etc/UTC"})


@browser_bp.post("/bridge/invoke")
def browser_invoke_view():
    """invokeRemote of a frame: the sandbox calls the remote with a FIT for the frame's user, module and issue."""
    frame, install = _frame()
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise JiraError(400, ["the body must be {path, method, body}"])
    answer = invoke_remote(host_for(site_state()), install, path=body.get("path"), method=body.get("method"),
                           body=body.get("body"), principal=frame.principal, extension=frame.extension,
                           module_key=frame.module_key)
    return jsonify(answer.as_json())


def register(app, state) -> None:
    """Add the frame sessions, the invokeRemote stand-in's control route and the browser's bridge routes."""
    state.forge_frames = FrameSessions()
    app.register_blueprint(bp)
    app.register_blueprint(browser_bp)
