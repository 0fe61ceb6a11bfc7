"""A stand-in for `@forge/bridge`'s `invokeRemote`: a UI module's call to the remote, made as Forge makes it.

`POST /_sandbox/forge/invoke` {"app_id", "path", "method"?, "body"?, "principal", "issue_key"?, "module_key"?,
"fault"?} finds the UI module's resolver endpoint, calls `<remote baseUrl><path>` with a FIT naming the user
(`principal`) and the issue (`context.extension`), the system token and, with `appUserToken`, a user token,
and answers {"status", "body"} as invokeRemote resolves (the body parsed when it is JSON).
"""

from __future__ import annotations

import requests
from flask import Blueprint, jsonify, request

from jira_sandbox.connect_host import require_admin, site_state
from jira_sandbox.errors import JiraError
from jira_sandbox.forge_host import ForgeHost, ForgeInstall, host_for

UI_TIMEOUT_S = 25  # Forge gives UI invocations 25 s
UI_MODULES = ("jira:issueContext", "jira:issuePanel", "jira:issueGlance")


def ui_endpoint(install: ForgeInstall, module_key: str | None = None) -> tuple[str, dict]:
    """(module key, endpoint) of the install's UI module (the first, or `module_key`)."""
    modules = install.manifest.get("modules") or {}
    for module_type in UI_MODULES:
        for module in modules.get(module_type) or []:
            if module_key and module.get("key") != module_key:
                continue
            endpoint_key = (module.get("resolver") or {}).get("endpoint")
            if endpoint_key in install.endpoints:
                return module["key"], install.endpoints[endpoint_key]
    raise JiraError(400, ["The app has no UI module with a remote resolver endpoint."])


def invoke_remote(host: ForgeHost, install: ForgeInstall, *, path: str, method: str = "GET", body=None,
                  principal: str | None = None, issue: dict | None = None, module_key: str | None = None,
                  fault: str | None = None) -> tuple[int, object]:
    """One invokeRemote call: (status, body)."""
    if not isinstance(path, str) or not path.startswith("/") or "//" in path:
        raise JiraError(400, ["path must be a path on the remote, starting with /"])
    key, endpoint = ui_endpoint(install, module_key)
    base = install.remotes.get(endpoint.get("remote"))
    if not base:
        raise JiraError(400, ["The UI endpoint names no remote."])
    extension = {"type": "jira:issueContext", "issue": issue} if issue else None
    headers = host.invocation_headers(install, endpoint, fault=fault, module_key=key, principal=principal,
                                      extension=extension)
    method = method.upper()
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
    return response.status_code, answer


bp = Blueprint("sandbox_forge_bridge", __name__, url_prefix="/_sandbox/forge")
require_admin(bp)


@bp.post("/invoke")
def invoke_view():
    """invokeRemote for tests: the remote's status and body."""
    body = request.get_json(silent=True)
    body = body if isinstance(body, dict) else {}
    host = host_for(site_state())
    install = host.get(body.get("app_id"))
    if install is None:
        raise JiraError(404, ["No such Forge app is installed."])
    issue = None
    if body.get("issue_key"):
        found = site_state().get_issue(str(body["issue_key"]))  # Jira's 404 for an unknown issue
        issue = {"key": found["key"], "id": found["id"]}
    status, answer = invoke_remote(host, install, path=body.get("path"), method=body.get("method") or "GET",
                                   body=body.get("body"), principal=body.get("principal"), issue=issue,
                                   module_key=body.get("module_key"), fault=body.get("fault"))
    return jsonify({"status": status, "body": answer})


def register(app, state) -> None:
    """Add the invokeRemote stand-in's control route."""
    app.register_blueprint(bp)
