"""A Forge-only site linked to a CSCX.AI workspace from the app's admin page, with the Connect app's link code."""

from __future__ import annotations

from sqlalchemy import select

from connect_app.connections.installations import create_link_code
from connect_app.extensions import db
from connect_app.models import AuditEntry, LinkCode
from tests.factories import make_organization
from tests.tracking.support import WORKSPACE

ADMIN_PAGE = "cscx-admin-page"


def link_code(s, workspace: str = WORKSPACE) -> str:
    """A one-time code a workspace admin created in CSCX.AI (POST /api/integrations/jira/link-codes)."""
    with s.live.app.app_context():
        make_organization(id=workspace)
        code, _ = create_link_code(workspace, "cscx-admin")
        db.session.remove()
    return code


def linked_by(s) -> list[tuple[str, str]]:
    """(workspace, Jira account) of every connection.linked audit entry."""
    with s.live.app.app_context():
        rows = db.session.execute(select(AuditEntry.organization_id, AuditEntry.actor_id)
                                  .where(AuditEntry.action == "connection.linked")).all()
        db.session.remove()
    return [tuple(r) for r in rows]


def test_a_jira_admin_links_a_forge_only_site_with_a_link_code(forge_site_factory):
    s = forge_site_factory(linked=False)
    admin = s.site.state.admin_id
    assert s.connection().organization_id is None and s.connection().status == "pending"
    status, body = s.invoke("/forge/ui/configure", admin, module_key=ADMIN_PAGE)
    assert status == 200 and "Link this site to your CSCX.AI workspace" in body["html"]
    assert 'data-forge-path="/forge/ui/configure/link"' in body["html"]

    code = link_code(s)
    status, body = s.invoke("/forge/ui/configure/link", admin, "POST", {"code": code}, module_key=ADMIN_PAGE)
    assert status == 200, body
    assert f"Linked to CSCX.AI workspace <strong>{WORKSPACE}</strong>" in body["html"]
    connection = s.connection()
    assert (connection.kind, connection.organization_id, connection.status) == ("forge", WORKSPACE, "active")
    assert linked_by(s) == [(WORKSPACE, admin)]

    # The code was for one use; the panel now shows the workspace's customers.
    status, body = s.invoke("/forge/ui/configure/link", admin, "POST", {"code": code}, module_key=ADMIN_PAGE)
    assert status == 400 and "unknown, already used, or expired" in body["html"]
    key = s.create_issue("Checkout broken", [])
    status, body = s.invoke("/forge/ui/search", admin, "POST", {"q": "glob", "issueKey": key}, issue_key=key)
    assert status == 200 and "Globex" in body["html"]


def test_linking_is_refused_from_anywhere_but_the_admin_page(forge_site_factory):
    s = forge_site_factory(linked=False)
    engineer = s.site.state.add_user("Eve Engineer", "eve@sandbox.test")["accountId"]
    key = s.create_issue("Any issue", [])
    code = link_code(s)
    # The issue panel's invokeRemote can name any path on the remote; its token says which module it came from.
    for path, method, body in [("/forge/ui/configure", "GET", None),
                               ("/forge/ui/configure/link", "POST", {"code": code})]:
        status, answer = s.invoke(path, engineer, method, body, issue_key=key)
        assert status == 403 and answer["error"]["code"] == "forbidden", answer
    status, answer = s.invoke("/forge/ui/configure/link", None, "POST", {"code": code}, module_key=ADMIN_PAGE)
    assert status == 403
    assert s.connection().organization_id is None and linked_by(s) == []
    with s.live.app.app_context():
        assert db.session.scalar(select(LinkCode.used_at)) is None  # the code is still good for the admin page
        db.session.remove()


def test_a_site_linked_to_one_workspace_is_not_moved_to_another(forge_installed):
    s = forge_installed
    code = link_code(s, "ws-other")
    status, body = s.invoke("/forge/ui/configure/link", s.site.state.admin_id, "POST", {"code": code},
                            module_key=ADMIN_PAGE)
    assert status == 400 and "already linked to another workspace" in body["html"]
    assert s.connection().organization_id == WORKSPACE and linked_by(s) == []
    status, body = s.invoke("/forge/ui/configure/link", s.site.state.admin_id, "POST", {"code": " "},
                            module_key=ADMIN_PAGE)
    assert status == 400 and "Enter the code from CSCX.AI." in body["html"]
