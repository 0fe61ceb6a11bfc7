"""Forge's Custom UI in the sandbox: the resources an install uploaded, hosted in the issue view and the admin page.

Like Forge, the sandbox serves an app's static resource (`/_forge/cdn/<app>/<environment>/<resource>/...`)
in a sandboxed iframe under a content security policy: scripts, styles and fetches from the resource's
own origin only, no inline script. Forge's real resources bundle `@forge/bridge`; an unbundled resource
(a module script importing `@forge/bridge`) gets an import map in its `index.html` pointing at the
sandbox's stand-in (`forge_bridge`), the one inline script the policy allows (by its hash).
- The issue view (`pages.browse`) shows each `jira:issueContext` / `jira:issuePanel` module with a
  resource: `issue_frames()` gives its iframe, with a frame token for the viewer and the issue.
- `GET /jira/settings/apps/<app>/<environment>` is the app's `jira:adminPage` (Jira: Settings → Apps),
  for the site's admin, the only viewer the sandbox has.
"""

from __future__ import annotations

import base64
import hashlib
import json
import mimetypes

from flask import Blueprint, Response, abort, render_template

from jira_sandbox.connect_host import site_state
from jira_sandbox.errors import JiraError
from jira_sandbox.forge_bridge import extension_for, frames_for, ui_module
from jira_sandbox.forge_host import ForgeInstall, host_for

PANEL_MODULES = ("jira:issueContext", "jira:issuePanel")
ADMIN_MODULE = "jira:adminPage"
# Forge's Custom UI iframe (its "Custom UI iframe" reference): forms, modals (confirm()), scripts, same origin.
FRAME_SANDBOX = ("allow-downloads allow-forms allow-modals allow-pointer-lock allow-popups allow-same-origin "
                 "allow-scripts")
IMPORT_MAP = json.dumps({"imports": {"@forge/bridge": "/_forge/bridge.js"}}, separators=(",", ":"))
_IMPORT_MAP_HASH = base64.b64encode(hashlib.sha256(IMPORT_MAP.encode()).digest()).decode()
RESOURCE_CSP = ("default-src 'self'; script-src 'self' 'sha256-" + _IMPORT_MAP_HASH + "'; style-src 'self'; "
                "img-src 'self' data:; connect-src 'self'; frame-ancestors 'self'; base-uri 'none'; "
                "object-src 'none'; form-action 'none'")


def app_uuid(install: ForgeInstall) -> str:
    """The app id's last part (ari:cloud:ecosystem::app/<uuid>), as Forge's URLs carry it."""
    return install.app_id.rsplit("/", 1)[-1]


def _title(module: dict) -> str:
    title = module.get("title") or module.get("label") or module.get("key")
    return title if isinstance(title, str) else str(module.get("key"))


def _frame(state, install: ForgeInstall, module_type: str, module: dict, principal: str,
           extension: dict) -> dict | None:
    """One Custom UI iframe: its src (with a fresh frame token) and labels; None if nothing was deployed for it."""
    resource = module.get("resource")
    if resource not in install.resources:
        return None
    try:
        key = ui_module(install, module.get("key")).key
    except JiraError:  # its resolver names no endpoint of the app: Forge would not render it either
        return None
    token = frames_for(state).open(install, key, principal, extension)
    status = ((module.get("status") or {}).get("value") or {}).get("label") if module_type in PANEL_MODULES else None
    src = f"/_forge/cdn/{app_uuid(install)}/{install.environment_id}/{resource}/index.html#frame={token}"
    return {"app_id": install.app_id, "key": key, "type": module_type, "title": _title(module),
            "status": status if isinstance(status, str) else None, "src": src, "sandbox": FRAME_SANDBOX}


def issue_frames(state, issue_key: str, viewer: str) -> list[dict]:
    """The Custom UI iframes of every Forge app's issue modules, for `viewer` looking at the issue."""
    frames = []
    with state.lock:
        installs = list(host_for(state).installs.values())
    for install in installs:
        for module_type in PANEL_MODULES:
            for module in (install.manifest.get("modules") or {}).get(module_type) or []:
                extension = extension_for(state, module_type, issue_key)
                frame = _frame(state, install, module_type, module, viewer, extension)
                if frame is not None:
                    frames.append(frame)
    return frames


def _install_at(app: str, environment: str) -> ForgeInstall:
    state = site_state()
    with state.lock:
        installs = list(host_for(state).installs.values())
    for install in installs:
        if app_uuid(install) == app and install.environment_id == environment:
            return install
    abort(404)


bp = Blueprint("sandbox_forge_ui", __name__, template_folder="templates")


@bp.get("/_forge/cdn/<app>/<environment>/<resource>/<path:name>")
def resource_file(app, environment, resource, name):
    """A file of an installed app's resource, under Forge's Custom UI policy (index.html gets the import map)."""
    files = _install_at(app, environment).resources.get(resource) or {}
    if name not in files:
        abort(404)
    text = files[name]
    mimetype = mimetypes.guess_type(name)[0] or "application/octet-stream"
    if name.endswith(".js"):
        mimetype = "text/javascript"
    if name == "index.html":
        text = _with_import_map(text)
    response = Response(text, mimetype=mimetype)
    response.headers["Content-Security-Policy"] = RESOURCE_CSP
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Cache-Control"] = "no-store"
    return response


def _with_import_map(html: str) -> str:
    """The page with the @forge/bridge import map first in its head (an import map must precede module scripts)."""
    tag = f'<script type="importmap">{IMPORT_MAP}</script>'
    lower = html.lower()
    at = lower.find("<head>")
    if at >= 0:
        at += len("<head>")
        return html[:at] + tag + html[at:]
    return tag + html


@bp.get("/jira/settings/apps/<app>/<environment>")
def admin_page(app, environment):
    """The app's admin page (Jira: Settings → Apps → the app), in a Custom UI iframe, for the site's admin."""
    state = site_state()
    install = _install_at(app, environment)
    modules = (install.manifest.get("modules") or {}).get(ADMIN_MODULE) or []
    frame = None
    if modules:
        frame = _frame(state, install, ADMIN_MODULE, modules[0], state.admin_id, {"type": ADMIN_MODULE})
    if frame is None:
        abort(404)
    return render_template("sandbox_forge_admin.html", frame=frame)


def admin_page_url(state, install: ForgeInstall) -> str | None:
    """Where the app's admin page is, if it has one."""
    if not (install.manifest.get("modules") or {}).get(ADMIN_MODULE):
        return None
    return f"{state.base_url}/jira/settings/apps/{app_uuid(install)}/{install.environment_id}"


def register(app, state) -> None:
    """Add the resource host and the admin page."""
    app.register_blueprint(bp)
