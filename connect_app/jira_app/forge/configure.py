"""`/forge/ui/configure`: the app's admin page in Jira, where a Jira admin links the site to a CSCX.AI workspace.

The Forge counterpart of the Connect configure page, with the same one-time link code: a CSCX.AI workspace
admin creates it (`POST /api/integrations/jira/link-codes`), the Jira admin enters it here, and
`installations.link_with_code` binds the Forge installation's connection to that workspace. Jira shows an
admin page to Jira admins only, and the page's calls carry that module in the token's signed context: a
call from anywhere else (the issue panel's invokeRemote can name any path) is refused.
"""

from __future__ import annotations

from flask import g, jsonify, render_template

from connect_app.connections import installations
from connect_app.errors import ApiError
from connect_app.jira_app.forge.auth import extension_type, forge_invocation_required, module_key
from connect_app.jira_app.forge.blueprint import bp
from connect_app.jira_app.forge.panel import actor, form_fields

ADMIN_PAGE_MODULE = "cscx-admin-page"  # the jira:adminPage module's key in the manifest
ADMIN_PAGE_TYPE = "jira:adminPage"


def _admin_page_only() -> str:
    """The Jira admin on the admin page; ApiError 403 for a call from any other module."""
    admin = actor()
    if module_key(g.invocation) != ADMIN_PAGE_MODULE or extension_type(g.invocation) not in (None, ADMIN_PAGE_TYPE):
        raise ApiError(403, "forbidden", "linking the site is done from the app's admin page")
    return admin


def _page(status: int = 200, **result):
    html = render_template("connect/_forge_configure.html", tenant=g.tenant, **result)
    return jsonify({"html": html}), status


@bp.get("/forge/ui/configure")
@forge_invocation_required
def ui_configure():
    """The admin page: is this site linked to a CSCX.AI workspace, and the form to link it."""
    _admin_page_only()
    return _page()


@bp.post("/forge/ui/configure/link")
@forge_invocation_required
def ui_configure_link():
    """Link this site to the workspace that issued the one-time code; audited with the Jira admin's accountId."""
    admin = _admin_page_only()
    code = str(form_fields().get("code") or "").strip()
    if not code:
        return _page(400, error="Enter the code from CSCX.AI.")
    try:
        installations.link_with_code(g.tenant, code, admin)
    except installations.LinkCodeError as error:
        return _page(400, error=str(error))
    return _page()
