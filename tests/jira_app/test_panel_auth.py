"""The panel and configure pages: Jira's JWT on page loads, our context token on follow-ups, tenants apart."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from connect_app.extensions import db
from connect_app.models import AuditEntry, JiraConnection
from tests.conftest import auth_headers
from tests.factories import make_connection, make_customer, make_issue, make_organization
from tests.jira_app.signing import tenant_token

BASE = "http://127.0.0.1:5000"


@pytest.fixture
def site(app):
    """A linked Connect tenant with one synced issue and customers, plus a second tenant."""
    org = make_organization(id="ws-panel")
    connection = make_connection(org, client_key="jira:site-a", shared_secret="a" * 40)
    other_org = make_organization(id="ws-other")
    other = make_connection(other_org, client_key="jira:site-b", shared_secret="b" * 40)
    issue = make_issue(connection, jira_key="CS-7", summary="<script>alert(1)</script> export broken")
    acme = make_customer(org, name="Acme <b>Corp</b>", slug="acme-corp", health_score=35)
    make_customer(other_org, name="Acme Rival", slug="acme-rival")
    return {"connection": connection, "other": other, "issue": issue, "acme": acme}


def page_url(path="/connect/panel", query="issueKey=CS-7&issueId=10007&projectKey=CS"):
    """A panel URL as Jira builds it from the descriptor template."""
    return f"{path}?{query}"


def load(client, url, *, client_key="jira:site-a", secret="a" * 40, **kwargs):
    """Open a page the way Jira does: ?jwt= with a context-qsh token."""
    token = tenant_token("GET", BASE + url, client_key=client_key, secret=secret, qsh="context-qsh", **kwargs)
    return client.get(f"{url}&jwt={token}")


def context_token_of(html: str) -> str:
    """The context token the page handed to htmx."""
    return re.search(r'"X-CSCX-Context": "([^"]+)"', html).group(1)


def test_panel_loads_with_a_context_qsh_token(client, site):
    response = load(client, page_url())
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert "0 customers" in html
    assert context_token_of(html).count(".") == 2


@pytest.mark.parametrize("case", ["tampered", "expired", "wrong secret", "unknown tenant", "no token", "alg none"])
def test_panel_refuses_bad_tokens(client, site, case):
    url = page_url()
    if case == "no token":
        response = client.get(url)
    elif case == "tampered":
        token = tenant_token("GET", BASE + url, client_key="jira:site-a", secret="a" * 40, qsh="context-qsh")
        head, body, signature = token.split(".")
        response = client.get(f"{url}&jwt={head}.{body}x.{signature}")
    elif case == "expired":
        response = load(client, url, ttl=-600)
    elif case == "wrong secret":
        response = load(client, url, secret="z" * 40)
    elif case == "unknown tenant":
        response = load(client, url, client_key="jira:nobody")
    else:
        import jwt

        token = jwt.encode({"iss": "jira:site-a", "qsh": "context-qsh", "exp": 9_999_999_999, "iat": 1},
                           key=None, algorithm="none")
        response = client.get(f"{url}&jwt={token}")
    assert response.status_code == 401


def test_request_bound_routes_refuse_context_qsh(client, site):
    token = tenant_token("POST", f"{BASE}/connect/disabled", client_key="jira:site-a", secret="a" * 40,
                         qsh="context-qsh")
    assert client.post("/connect/disabled", headers={"Authorization": f"JWT {token}"}).status_code == 401


def test_follow_ups_need_the_context_token_not_the_page_jwt(client, site):
    url = page_url()
    page_jwt = tenant_token("GET", BASE + url, client_key="jira:site-a", secret="a" * 40, qsh="context-qsh")
    assert client.get("/connect/panel/links", headers={"X-CSCX-Context": page_jwt}).status_code == 401
    assert client.get(f"/connect/panel/links?jwt={page_jwt}").status_code == 401
    context = context_token_of(load(client, url).get_data(as_text=True))
    response = client.get("/connect/panel/links", headers={"X-CSCX-Context": context})
    assert response.status_code == 200
    # And our context token is no Jira token either.
    assert client.post("/connect/disabled", headers={"Authorization": f"JWT {context}"}).status_code == 401


def test_search_is_scoped_to_the_tenant_workspace_and_escaped(client, site):
    context = context_token_of(load(client, page_url()).get_data(as_text=True))
    html = client.get("/connect/panel/search?q=acme", headers={"X-CSCX-Context": context}).get_data(as_text=True)
    assert "Acme &lt;b&gt;Corp&lt;/b&gt;" in html
    assert "<b>Corp</b>" not in html
    assert "Acme Rival" not in html  # another tenant's customer


def test_one_tenants_context_cannot_touch_another_tenants_customers(client, site):
    context = context_token_of(load(client, page_url(), client_key="jira:site-b", secret="b" * 40)
                               .get_data(as_text=True))
    response = client.post("/connect/panel/links", data={"customer_id": str(site["acme"].id)},
                           headers={"X-CSCX-Context": context})
    assert response.status_code == 404
    assert "no such customer in this workspace" in response.get_data(as_text=True)


def test_unlinked_site_is_told_how_to_link(client, app):
    make_connection(None, client_key="jira:new", shared_secret="n" * 40, status="pending")
    response = load(client, page_url(), client_key="jira:new", secret="n" * 40)
    assert response.status_code == 200
    assert "not linked to a CSCX.AI workspace" in response.get_data(as_text=True)


def test_bad_issue_keys_get_400(client, site):
    assert load(client, page_url(query="issueKey=../etc")).status_code == 400


def test_configure_links_the_site_with_a_one_time_code(client, app):
    connection = make_connection(None, client_key="jira:new", shared_secret="n" * 40, status="pending")
    code = client.post("/api/integrations/jira/link-codes", headers=auth_headers(workspace="ws-cscx")).json["code"]
    assert re.fullmatch(r"[A-Z2-9]{4}-[A-Z2-9]{4}-[A-Z2-9]{4}", code)
    page = load(client, "/connect/configure?xdm_e=x", client_key="jira:new", secret="n" * 40)
    assert page.status_code == 200
    context = context_token_of(page.get_data(as_text=True))
    wrong = client.post("/connect/configure/link", data={"code": "AAAA-BBBB-CCCC"},
                        headers={"X-CSCX-Context": context})
    assert wrong.status_code == 400 and "unknown, already used, or expired" in wrong.get_data(as_text=True)
    ok = client.post("/connect/configure/link", data={"code": code.lower()}, headers={"X-CSCX-Context": context})
    assert ok.status_code == 200 and "ws-cscx" in ok.get_data(as_text=True)
    db.session.expire_all()
    linked = db.session.get(JiraConnection, connection.id)
    assert (linked.organization_id, linked.status) == ("ws-cscx", "active")
    again = client.post("/connect/configure/link", data={"code": code}, headers={"X-CSCX-Context": context})
    assert again.status_code == 400  # single use
    actions = db.session.scalars(select(AuditEntry.action)).all()
    assert "connection.linked" in actions and "link_code.created" in actions


def test_panel_context_cannot_link_the_site(client, site):
    context = context_token_of(load(client, page_url()).get_data(as_text=True))
    response = client.post("/connect/configure/link", data={"code": "X"}, headers={"X-CSCX-Context": context})
    assert response.status_code == 403


def test_link_codes_need_a_workspace_admin(client, app):
    response = client.post("/api/integrations/jira/link-codes", headers=auth_headers(role="csm"))
    assert response.status_code == 403


def test_an_expired_panel_session_tells_the_engineer_to_reload(client, site):
    from connect_app.atlassian import issue_context_token
    from connect_app.jira_app.connect.auth import context_secret

    expired = issue_context_token(secret=context_secret(), client_key="jira:site-a", account_id="u",
                                  issue_key="CS-7", ttl=-120)
    headers = {"X-CSCX-Context": expired, "HX-Request": "true"}
    response = client.post("/connect/panel/links", data={"customer_id": str(site["acme"].id)}, headers=headers)
    assert response.status_code == 401
    assert response.headers["HX-Retarget"] == "#cscx-alert"
    assert "Reload the issue page" in response.get_data(as_text=True)
    # Without htmx (a script, say), the same refusal stays JSON.
    plain = client.post("/connect/panel/links", headers={"X-CSCX-Context": expired})
    assert plain.status_code == 401 and plain.json["error"]["code"] == "unauthorized"
