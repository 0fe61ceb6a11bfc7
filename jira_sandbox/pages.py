"""The issue view, `GET /browse/<KEY>`: Jira's fields plus installed apps' panels in signed iframes.

Each panel iframe `src` is the app's module URL with Connect's URL variables substituted
(`{issue.key}`, `{issue.id}`, `{project.key}`, `{project.id}`, `{issuetype.id}`), the standard
host parameters (`xdm_e`, `xdm_c`, `cp`, `xdm_deprecated_addon_key_do_not_use`, `lic`, `cv`,
`tz`, `loc`) and `jwt`: HS256 with the install's sharedSecret, `sub` = the viewer, a `context`
claim and a real qsh for that URL (`?qsh=context` on the page gives "context-qsh" instead).
A glance shows the status the app stored in the issue property
`com.atlassian.jira.issue:<app>:<glance>:status` (`{"type": "badge", "value": {"label"}}`).
The transition and priority forms go through `state` so webhooks fire. Jinja autoescapes all.
Forge apps' issue modules (their Custom UI in the context area) come from `forge_ui.issue_frames`.

Each Connect app iframe is sandboxed with Jira's own allowlist and named the way simple-xdm (the bridge
behind Connect's all.js) names it: `window.name` is JSON with the iframe's `extension_id` and the
host `origin`. `connect_host.js` is Jira's side of that bridge, enough of it for `AP.resize`.
"""

from __future__ import annotations

import json
import secrets
from urllib.parse import urlencode

from flask import Blueprint, redirect, render_template, request, url_for

from jira_sandbox.catalog import PRIORITIES, STATUSES
from jira_sandbox.connect_host import PLUGINS_VERSION, host_for, site_state
from jira_sandbox.connect_jwt import sign_for_app
from jira_sandbox.errors import JiraError
from jira_sandbox.forge_ui import issue_frames

bp = Blueprint("sandbox_pages", __name__, template_folder="templates")
LOZENGE = {"new": "default", "indeterminate": "inprogress", "done": "success"}
# What Jira Cloud puts on Connect iframes (Atlassian's change notice "Sandboxing of Connect app
# iframes"): modals are allowed, so an app's confirm() works; the top page moves only on a click.
CONNECT_IFRAME_SANDBOX = ("allow-downloads allow-forms allow-modals allow-popups allow-same-origin allow-scripts "
                          "allow-top-navigation-by-user-activation")


def _expand(url: str, issue: dict, project: dict) -> str:
    from jira_sandbox.catalog import ISSUE_TYPES
    values = {"{issue.key}": issue["key"], "{issue.id}": issue["id"], "{project.key}": project["key"],
              "{project.id}": project["id"], "{issuetype.id}": ISSUE_TYPES[issue["issuetype"]][0]}
    for name, value in values.items():
        url = url.replace(name, value)
    return url


def panel_url(state, install, module: dict, issue: dict, viewer: str, context_qsh: bool = False) -> str:
    """The signed iframe URL Jira would render for an app's issue panel or glance."""
    project = state.projects[issue["project"]]
    url = install.base_url + _expand(module.get("url") or module.get("target", {}).get("url", "/"), issue, project)
    params = {"xdm_e": state.base_url, "xdm_c": f"channel-{install.key}__{module.get('key', 'panel')}",
              "cp": "", "xdm_deprecated_addon_key_do_not_use": install.key, "lic": "none", "cv": PLUGINS_VERSION,
              "tz": "Etc/UTC", "loc": "en-US"}
    url += ("&" if "?" in url else "?") + urlencode(params)
    context = {"jira": {"issue": {"key": issue["key"], "id": issue["id"]},
                        "project": {"key": project["key"], "id": project["id"]}}, "license": {"active": False}}
    token = sign_for_app(install, "GET", url, context_qsh=context_qsh, sub=viewer, context=context)
    return f"{url}&jwt={token}"


def _display(value) -> str:
    """A rendered REST field value as text."""
    if value is None:
        return ""
    if isinstance(value, list):
        return ", ".join(_display(v) for v in value)
    if isinstance(value, dict):
        for key in ("displayName", "value", "name", "key"):
            if key in value:
                return str(value[key])
    return str(value)


def bridge_name(install, module: dict, host_origin: str) -> dict:
    """The iframe's simple-xdm init data (its `window.name`): a fresh extension id and the host origin."""
    extension_id = f"{install.key}__{module.get('key', 'panel')}__{secrets.token_hex(4)}"
    return {"extension_id": extension_id, "origin": host_origin,
            "options": {"autoresize": True, "hostOrigin": host_origin},
            "api": {"env": {"resize": {"args": ["width", "height"]}}}}


def _frame(state, install, module: dict, issue: dict, viewer: str, context_qsh: bool, host_origin: str) -> dict:
    bridge = bridge_name(install, module, host_origin)
    return {"src": panel_url(state, install, module, issue, viewer, context_qsh),
            "extension_id": bridge["extension_id"], "bridge": json.dumps(bridge)}


def _apps(state, issue: dict, viewer: str, context_qsh: bool, host_origin: str) -> tuple[list, list]:
    panels, glances = [], []
    for install in host_for(state).all():
        if not install.enabled:
            continue
        for module in install.panels:
            panels.append({"app": install.name, "key": module.get("key"),
                           "name": (module.get("name") or {}).get("value", module.get("key")),
                           **_frame(state, install, module, issue, viewer, context_qsh, host_origin)})
        for glance in install.glances:
            status = issue["properties"].get(f"com.atlassian.jira.issue:{install.key}:{glance.get('key')}:status")
            label = ((status or {}).get("value") or {}).get("label") if isinstance(status, dict) else None
            glances.append({"name": (glance.get("name") or {}).get("value", glance.get("key")),
                            "label": (glance.get("content") or {}).get("label", {}).get("value"), "status": label,
                            **_frame(state, install, glance, issue, viewer, context_qsh, host_origin)})
    return panels, glances


@bp.get("/browse/<key>")
def browse(key):
    """The issue view with app panels, glances and transition/priority forms."""
    state = site_state()
    viewer = state.admin_id  # the sandbox's browser is always the admin
    with state.lock:
        try:
            issue = state.get_issue(key)
        except JiraError:
            return render_template("sandbox_not_found.html", key=key), 404
        rendered = state.render_issue(issue, expand=("names",), api_version=2)
        transitions = state.transitions_for(issue["key"])
        snapshot = dict(issue, properties=dict(issue["properties"]))
    fields, names = rendered["fields"], rendered["names"]
    custom = [(names[f], _display(v)) for f, v in fields.items() if f.startswith("customfield_") and v is not None]
    # The origin the browser sees this page at, as simple-xdm takes it from `location.origin`.
    host_origin = request.host_url.rstrip("/")
    panels, glances = _apps(state, snapshot, viewer, request.args.get("qsh") == "context", host_origin)
    return render_template(
        "sandbox_issue.html", issue=rendered, f=fields, custom=custom, display=_display,
        lozenge=LOZENGE.get(STATUSES[snapshot["status"]][1], "default"), transitions=transitions,
        priorities=[name for _, name in PRIORITIES], panels=panels, glances=glances,
        iframe_sandbox=CONNECT_IFRAME_SANDBOX, forge_frames=issue_frames(state, snapshot["key"], viewer))


@bp.post("/browse/<key>/transition")
def transition(key):
    """Apply a workflow transition from the form (fires jira:issue_updated)."""
    state = site_state()
    state.transition_issue(key, request.form.get("transition", ""), actor=state.admin_id)
    return redirect(url_for("sandbox_pages.browse", key=key), code=303)


@bp.post("/browse/<key>/priority")
def priority(key):
    """Change the priority from the form (fires jira:issue_updated)."""
    state = site_state()
    state.edit_issue(key, fields={"priority": {"name": request.form.get("priority", "")}}, actor=state.admin_id)
    return redirect(url_for("sandbox_pages.browse", key=key), code=303)


def register(app, state) -> None:
    """Add the issue view routes."""
    app.register_blueprint(bp)
