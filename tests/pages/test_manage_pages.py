"""The impact, SLA, notifications and sync pages over HTTP (Flask's client), on SQLite and PostgreSQL: content,
filters, tenant scoping, roles, bad parameters, and the CSV export's signed single-use link."""

from __future__ import annotations

import csv
import io
import re
import time
from datetime import timedelta
from decimal import Decimal
from html import unescape
from urllib.parse import parse_qs, urlsplit

import pytest
import time_machine
from sqlalchemy import select

from connect_app.delivery import notify
from connect_app.extensions import db
from connect_app.impact.store import recompute_workspace
from connect_app.models import IssueEvent, IssueImpact, Notification, SyncRun
from connect_app.models.types import utcnow
from connect_app.pages.charts import bar_chart
from connect_app.pages.downloads import SpentLinks
from connect_app.platform.jobs import shutdown_background
from connect_app.sla import store as sla
from jira_sandbox.testing import SandboxServer
from tests.conftest import REDIS_URL, token_for
from tests.factories import make_connection, make_customer, make_issue, make_link, make_organization
from tests.sync.support import add_rule, catalog_customers, connect

SLA_POLICY = {"name": "Bugs in a day", "metric": "time_to_resolution", "target": "1d",
              "selector": {"issue_types": ["Bug"]}, "warn_at_percent": 80}


def severity_of(issue) -> str:
    return db.session.get(IssueImpact, issue.id).severity


def seed_world() -> dict:
    """ws-m: Acme (enterprise, $900K, owned by maya) and Globex (smb, $40K); CS-1 a Highest bug of both, breached;
    OPS-3 a Medium bug of Acme, at risk; CS-2 a Low story of Globex whose summary looks like a formula; CS-4 done.
    Impacts and SLA clocks computed by the capabilities; two notifications for maya. ws-other has its own."""
    now = utcnow()
    org = make_organization(id="ws-m")
    connection = make_connection(org)
    acme = make_customer(org, name="Acme <Corp>", slug="acme", arr=Decimal("900000"), tier="enterprise",
                         csm_owner_id="maya", health_score=35)
    globex = make_customer(org, name="Globex", slug="globex", arr=Decimal("40000"), tier="smb", csm_owner_id="omar")
    login = make_issue(connection, jira_key="CS-1", summary="Login fails <b>for SSO</b>", priority="Highest",
                       status="In Progress", status_category="indeterminate", created_at=now - timedelta(days=3))
    export = make_issue(connection, jira_key="CS-2", summary="=HYPERLINK(\"http://evil\")", issue_type="Story",
                        priority="Low", created_at=now - timedelta(days=1))
    ops = make_issue(connection, jira_key="OPS-3", project_key="OPS", summary="Slow dashboard", priority="Medium",
                     created_at=now - timedelta(hours=20))
    done = make_issue(connection, jira_key="CS-4", summary="Old fix", status="Done", status_category="done",
                      created_at=now - timedelta(days=9))
    for issue, customer in ((login, acme), (login, globex), (export, globex), (ops, acme), (done, acme)):
        make_link(issue, customer)
    recompute_workspace(org.id)
    policy = sla.save_policy(org.id, SLA_POLICY, "admin-1")
    sla.evaluate_policy(policy)
    for n, (issue, kind) in enumerate(((login, "sla_breached"), (ops, "priority_changed")), start=1):
        event = IssueEvent(connection_id=connection.id, issue_id=issue.id, jira_key=issue.jira_key, kind=kind,
                           dedupe_key=f"e{n}", occurred_at=now - timedelta(hours=n), details={})
        db.session.add(event)
        db.session.flush()
        notify.fan_out(org.id, event, issue, [acme])
    db.session.commit()

    other = make_organization(id="ws-other")
    other_connection = make_connection(other)
    stranger = make_customer(other, name="Stranger", slug="stranger", arr=Decimal("500000"), csm_owner_id="maya")
    secret = make_issue(other_connection, jira_key="SEC-9", project_key="SEC", summary="Other workspace's bug",
                        priority="Highest", created_at=now - timedelta(days=3))
    make_link(secret, stranger)
    recompute_workspace(other.id)
    other_policy = sla.save_policy(other.id, SLA_POLICY | {"name": "Their policy"}, "admin-2")
    sla.evaluate_policy(other_policy)
    return {"org": org, "connection": connection, "acme": acme, "globex": globex, "login": login, "export": export,
            "ops": ops, "done": done, "policy": policy, "stranger": stranger, "other_policy": other_policy,
            "other_connection": other_connection}


@pytest.fixture
def world(app):
    """The workspaces of `seed_world`."""
    return seed_world()


def hx(role: str = "pm", workspace: str = "ws-m", user: str = "maya", **extra) -> dict[str, str]:
    """The headers of a follow-up call from a page: the token in a header, htmx's own."""
    return {"Authorization": f"Bearer {token_for(workspace, role, user)}", "HX-Request": "true", **extra}


def html_of(response) -> str:
    assert response.status_code == 200, response.get_data(as_text=True)[:500]
    return response.get_data(as_text=True)


def keys_in(html: str) -> list[str]:
    """The issue keys the page links to, in order."""
    return re.findall(r'class="key" href="/app/issues/([A-Z]+-\d+)', html)


# ---- impact -------------------------------------------------------------------------------------

def test_impact_ranks_open_issues_draws_the_risk_and_links_each_row(client, world):
    token = token_for("ws-m", "pm", "lee")
    first = client.get(f"/app/impact?token={token}")
    html = html_of(first)
    assert "frame-ancestors https://app.cscx.ai" in first.headers["Content-Security-Policy"]
    assert keys_in(html)[0] == "CS-1" and set(keys_in(html)) == {"CS-1", "CS-2", "OPS-3"}  # done CS-4 is not ranked
    assert f'href="/app/issues/CS-1?connection={world["connection"].id}"' in html
    assert "Login fails &lt;b&gt;for SSO&lt;/b&gt;" in html and "<b>for SSO</b>" not in html
    # ARR at risk: each customer once, whatever the number of its issues ($900K + $40K).
    assert "$940K across 2 customers" in html
    charts = re.findall(r'<svg class="bar-chart" role="img" aria-labelledby="([\w-]+)-title \1-desc"', html)
    assert charts == ["risk-severity", "risk-project"]
    project_desc = re.search(r'<desc id="risk-project-desc">([^<]*)</desc>', html).group(1)
    assert project_desc == "CS: $940K; OPS: $900K"
    severity_desc = re.search(r'<desc id="risk-severity-desc">([^<]*)</desc>', html).group(1)
    assert f"{severity_of(world['login'])}: $940K" in severity_desc and severity_desc.count(";") == 3
    assert 'aria-current="page">Impact</a>' in html and "/app/sync" not in html  # the nav; sync is for admins


def test_impact_filters_answer_the_results_alone_and_keep_their_order(client, world):
    headers = hx(**{"HX-Target": "impact-results"})
    ops = html_of(client.get("/app/impact?project=OPS", headers=headers))
    assert "<html" not in ops and keys_in(ops) == ["OPS-3"] and "CS: $" not in ops
    smb = html_of(client.get("/app/impact?customer_tier=smb", headers=headers))
    assert sorted(keys_in(smb)) == ["CS-1", "CS-2"]
    assert "$40K across 1 customer<" in smb  # only the tier's customers count in the chart
    stories = html_of(client.get("/app/impact?type=Story&priority=Low", headers=headers))
    assert keys_in(stories) == ["CS-2"]
    floor = severity_of(world["login"])
    serious = html_of(client.get(f"/app/impact?min_severity={floor}", headers=headers))
    assert "CS-1" in keys_in(serious)
    nothing = html_of(client.get("/app/impact?project=NOPE", headers=headers))
    assert "No open issue affecting a customer matches" in nothing and "nothing at risk with these filters" in nothing
    beyond = html_of(client.get("/app/impact?page=2", headers=headers))
    assert keys_in(beyond) == []
    page = html_of(client.get("/app/impact?project=OPS", headers=hx()))
    assert '<option value="OPS" selected>OPS</option>' in page and '<option value="CS">CS</option>' in page


def test_impact_factors_load_on_demand_with_the_customers(client, world):
    html = html_of(client.get(f"/app/impact/CS-1/factors?connection={world['connection'].id}", headers=hx()))
    assert "<html" not in html and "<caption>CS-1:" in html and "arr at risk" in html
    assert f'href="/app/customers/{world["acme"].id}">Acme &lt;Corp&gt;</a>' in html
    assert html.index("Acme") < html.index("Globex")  # biggest ARR first
    assert client.get("/app/impact/SEC-9/factors", headers=hx()).status_code == 404
    assert client.get("/app/impact/CS-1/factors?connection=nope", headers=hx()).status_code == 400


def test_impact_refuses_bad_parameters(client, world):
    for query in ("customer_tier=gold", "min_severity=extreme", "min_severity=high&min_severity=low", "page=0",
                  "page=x", "page=100001", "project=" + "X" * 101, "type=a%00b",
                  "&".join(f"project=P{n}" for n in range(21))):
        answer = client.get(f"/app/impact?{query}", headers=hx())
        assert answer.status_code == 400, query
        assert answer.headers["HX-Retarget"] == "body" and "Something is wrong" in answer.get_data(as_text=True)
    assert client.post("/app/impact/export", data={"customer_tier": "gold"}, headers=hx()).status_code == 400


def export_link(client, **form) -> str:
    answer = client.post("/app/impact/export", data=form, headers=hx())
    assert answer.status_code == 204, answer.get_data(as_text=True)
    link = answer.headers["HX-Redirect"]
    assert link.startswith("/app/impact.csv?download=") and "token=" not in link
    return link


def rows_of(answer) -> list[list[str]]:
    assert answer.status_code == 200, answer.get_data(as_text=True)[:300]
    return list(csv.reader(io.StringIO(answer.get_data(as_text=True))))


def test_csv_export_through_a_signed_link_that_works_once(client, world):
    link = export_link(client, project="CS")
    download = client.get(link)  # the frame's navigation: no Authorization header
    assert download.mimetype == "text/csv" and download.headers["Cache-Control"] == "no-store"
    assert download.headers["Content-Disposition"].startswith('attachment; filename="issue-impact-')
    rows = rows_of(download)
    assert rows[0][:3] == ["rank", "key", "summary"] and [r[1] for r in rows[1:]] == ["CS-1", "CS-2"]
    assert rows[2][2] == "'=HYPERLINK(\"http://evil\")"  # a spreadsheet shows it as text, never runs it
    assert rows[1][2] == "Login fails <b>for SSO</b>"  # CSV is data: kept as Jira wrote it
    again = client.get(link)
    assert again.status_code == 410 and "already used" in again.get_data(as_text=True)
    with time_machine.travel(time.time(), tick=False) as clock:
        late = export_link(client)
        clock.shift(61)
        expired = client.get(late)
    assert expired.status_code == 410 and "expired" in expired.get_data(as_text=True)
    forged = link.replace("download=", "download=x")
    assert client.get(forged).status_code == 403 and client.get("/app/impact.csv").status_code == 403
    assert client.get("/app/impact.csv?token=" + token_for("ws-m", "pm", "lee")).status_code == 403


def test_a_csv_link_never_crosses_workspaces(client, world):
    link = export_link(client)
    foreign = {"Authorization": f"Bearer {token_for('ws-other', 'pm', 'omar')}"}
    assert client.get(link, headers=foreign).status_code == 403
    theirs = client.post("/app/impact/export", headers=hx(workspace="ws-other", user="omar")).headers["HX-Redirect"]
    assert [r[1] for r in rows_of(client.get(theirs))[1:]] == ["SEC-9"]
    # The same link with one character of its signed content changed (say, to point at ws-other) is refused.
    unused = parse_qs(urlsplit(export_link(client)).query)["download"][0]
    signed, stamp, signature = unused.rsplit(".", 2)
    flipped = signed[:-1] + ("A" if signed[-1] != "A" else "B")
    assert client.get(f"/app/impact.csv?download={flipped}.{stamp}.{signature}").status_code == 403


def test_a_spent_link_is_remembered_until_it_would_have_expired_anyway():
    now = [1000.0]
    spent = SpentLinks(clock=lambda: now[0])
    assert spent.spend("n1", 65) and not spent.spend("n1", 65) and spent.spend("n2", 65)
    now[0] += 66
    assert spent.spend("n1", 65)  # forgotten once its link is dead: the signature's age refuses it by then


@pytest.mark.redis
def test_spent_links_are_shared_through_redis():
    if not REDIS_URL:
        pytest.skip("TEST_REDIS_URL not set")
    from redis import Redis

    nonce = f"test-{time.time_ns()}"
    first, second = SpentLinks(Redis.from_url(REDIS_URL)), SpentLinks(Redis.from_url(REDIS_URL))  # two processes
    assert first.spend(nonce, 5) and not second.spend(nonce, 5)


def test_bar_chart_draws_shares_of_the_largest_bar():
    chart = bar_chart([("critical", 0.0), ("high", 900_000.0), ("low", 1.0)], fills={"high": "#b65c02"})
    zero, high, low = chart["bars"]
    assert zero.width == 0 and low.width == 2.0 and high.width == chart["width"] - 92 - 58  # label and value room
    assert (high.fill, low.fill, [b.y for b in chart["bars"]]) == ("#b65c02", "#0052cc", [0, 26, 52])
    assert not chart["empty"] and bar_chart([("a", 0.0)])["empty"] and bar_chart([])["height"] == 26


# ---- SLA board ----------------------------------------------------------------------------------

def test_sla_board_breached_first_with_tallies_and_links(client, world):
    html = html_of(client.get(f"/app/sla?token={token_for('ws-m', 'csm', 'maya')}"))
    assert keys_in(html) == ["CS-1", "OPS-3"]  # breached first, then the soonest to breach
    assert 'class="sla sla-breached"' in html and 'class="sla sla-at_risk"' in html
    assert re.search(r"over by \d+d", html) and re.search(r"\d+h( \d+m)? left", html)
    assert f'href="/app/customers/{world["globex"].id}">Globex</a>' in html
    tally = re.search(r'By policy.*?</table>', html, re.S).group(0)
    assert re.search(r"Bugs in a day</a></td>\s*<td class=\"numeric\">1</td><td class=\"numeric\">1</td>", tally)
    customers = re.search(r'By customer.*?</table>', html, re.S).group(0)
    assert customers.index("Acme &lt;Corp&gt;") < customers.index("Globex")
    assert "<meter" in html and "Their policy" not in html and "SEC-9" not in html


def test_sla_board_filters_by_state_policy_and_customer(client, world):
    headers = hx(**{"HX-Target": "sla-results"})
    breached = html_of(client.get("/app/sla?state=breached", headers=headers))
    assert "<html" not in breached and keys_in(breached) == ["CS-1"]
    at_risk = html_of(client.get("/app/sla?state=at_risk", headers=headers))
    assert keys_in(at_risk) == ["OPS-3"]
    globex = html_of(client.get(f"/app/sla?customer={world['globex'].id}", headers=headers))
    assert keys_in(globex) == ["CS-1"] and "show all" in globex
    by_policy = html_of(client.get(f"/app/sla?policy={world['policy'].id}", headers=headers))
    assert keys_in(by_policy) == ["CS-1", "OPS-3"]
    page = html_of(client.get(f"/app/sla?customer={world['acme'].id}", headers=hx()))
    assert f'<option value="{world["acme"].id}" selected>Acme &lt;Corp&gt;</option>' in page
    for query in ("state=met", "policy=nope", "customer=nope", "page=-1"):
        assert client.get(f"/app/sla?{query}", headers=hx()).status_code == 400, query
    # Another workspace's policy and customer are not found here.
    assert client.get(f"/app/sla?policy={world['other_policy'].id}", headers=hx()).status_code == 404
    assert client.get(f"/app/sla?customer={world['stranger'].id}", headers=hx()).status_code == 404


# ---- notifications ------------------------------------------------------------------------------

def test_notifications_list_and_mark_one_then_all_read(client, world):
    html = html_of(client.get(f"/app/notifications?token={token_for('ws-m', 'csm', 'maya')}"))
    assert '<span id="unread-count" class="unread-count">2 unread</span>' in html
    assert keys_in(html) == ["CS-1", "OPS-3"]  # newest first
    assert "CS-1 breached its SLA: Login fails &lt;b&gt;for SSO&lt;/b&gt;" in html
    assert html.count('class="new-badge"') == 2 and f'/app/customers/{world["acme"].id}' in html
    first = db.session.scalars(select(Notification).where(Notification.jira_key == "CS-1")).one()
    one = html_of(client.post(f"/app/notifications/{first.id}/read", headers=hx(role="csm")))
    assert one.startswith(f'<li id="notification-{first.id}" class="notification">') and "new-badge" not in one
    assert '<span id="unread-count" class="unread-count" hx-swap-oob="true">1 unread</span>' in one
    unread = html_of(client.get("/app/notifications?unread=1",
                                headers=hx(role="csm", **{"HX-Target": "notification-list"})))
    assert keys_in(unread) == ["OPS-3"] and 'hx-swap-oob="true">1 unread<' in unread
    everything = html_of(client.post("/app/notifications/read", data={"unread": "1"}, headers=hx(role="csm")))
    assert "Nothing unread." in everything and 'hx-swap-oob="true">0 unread<' in everything
    db.session.expire_all()
    assert all(n.read_at for n in db.session.scalars(select(Notification).where(Notification.user_id == "maya")))


def test_notifications_are_the_users_own(client, world):
    mine = db.session.scalars(select(Notification).where(Notification.user_id == "maya",
                                                         Notification.organization_id == "ws-m")).first()
    # omar (same workspace) and maya in another workspace see none of them, and cannot mark them read.
    assert client.post(f"/app/notifications/{mine.id}/read", headers=hx(user="omar")).status_code == 404
    assert client.post(f"/app/notifications/{mine.id}/read", headers=hx(workspace="ws-other")).status_code == 404
    assert keys_in(html_of(client.get("/app/notifications", headers=hx(user="omar")))) == []
    assert keys_in(html_of(client.get("/app/notifications", headers=hx(workspace="ws-other")))) == []
    for bad in ("unread=yes", "before=yesterday", "before=2026-01-01T00:00:00"):
        assert client.get(f"/app/notifications?{bad}", headers=hx()).status_code == 400, bad
    assert client.post("/app/notifications/nope/read", headers=hx()).status_code == 400
    earlier = html_of(client.get("/app/notifications?before=" + (utcnow() - timedelta(minutes=90)).isoformat()
                                 .replace("+", "%2B"), headers=hx()))
    assert keys_in(earlier) == ["OPS-3"]


def test_another_workspace_sees_none_of_the_pages_data(client, world):
    foreign = hx(workspace="ws-other", user="omar")
    impact = html_of(client.get("/app/impact", headers=foreign))
    assert keys_in(impact) == ["SEC-9"] and "CS-1" not in impact and "Acme" not in impact
    board = html_of(client.get("/app/sla", headers=foreign))
    assert keys_in(board) == ["SEC-9"] and "Bugs in a day" not in board and "Acme" not in board
    assert client.get(f"/app/impact/CS-1/factors?connection={world['connection'].id}",
                      headers=foreign).status_code == 404


# ---- sync ---------------------------------------------------------------------------------------

def test_sync_is_for_admins_and_shows_each_connection(client, world):
    for role in ("csm", "pm", "support", "approver"):
        refused = client.get(f"/app/sync?token={token_for('ws-m', role, 'maya')}")
        assert refused.status_code == 403 and "Not allowed" in refused.get_data(as_text=True), role
        assert client.post(f"/app/sync/{world['connection'].id}", headers=hx(role=role)).status_code == 403
    db.session.add(SyncRun(connection_id=world["connection"].id, mode="incremental", status="failed",
                           started_at=utcnow() - timedelta(minutes=5), finished_at=utcnow() - timedelta(minutes=4),
                           counts={"issues": 12}, error="Jira answered 503 <Service Unavailable>"))
    world["connection"].last_error = "sync failed: Jira answered 503 <Service Unavailable>"
    db.session.commit()
    html = html_of(client.get(f"/app/sync?token={token_for('ws-m', 'admin', 'ada')}"))
    assert world["connection"].base_url in html and "Last run failed" in html and "<strong>12</strong> issues" in html
    assert "503 &lt;Service Unavailable&gt;" in html and "Re-sync now" in html and "hx-trigger" not in html
    assert world["other_connection"].base_url not in html
    assert 'aria-current="page">Sync</a>' in html
    headers = hx(role="admin", user="ada")
    assert client.get(f"/app/sync/{world['other_connection'].id}", headers=headers).status_code == 404
    assert client.post(f"/app/sync/{world['other_connection'].id}", headers=headers).status_code == 404
    assert client.get(f"/app/sync/{world['connection'].id}?since=soon", headers=headers).status_code == 400
    world["connection"].status = "disabled"
    db.session.commit()
    assert client.post(f"/app/sync/{world['connection'].id}", headers=headers).status_code == 409


@pytest.mark.sandbox
def test_resync_now_runs_the_sync_job_and_reports_its_progress(app, client):
    with SandboxServer(flavour="server", issues=30, seed=5, customers=5) as site:
        org = make_organization(id="ws-sync")
        connection = connect(app, org, site)
        (acme,) = catalog_customers(org, site, 1)
        add_rule(acme, "label", value=site.state.customer_catalog[0]["label"])
        headers = hx(role="admin", workspace="ws-sync", user="ada")
        started = html_of(client.post(f"/app/sync/{connection.id}", headers=headers))
        assert f'hx-get="/app/sync/{connection.id}?since=' in started and 'hx-trigger="every 3s"' in started
        assert re.search(r"Re-sync queued|Syncing", started) and "disabled>Re-sync now" in started
        poll = unescape(re.search(r'hx-get="([^"]+)"', started).group(1))
        shutdown_background(app, close=False)  # the job ran on this process's pool: wait for it
        db.session.expire_all()
        done = html_of(client.get(poll, headers=headers))
        assert "Re-sync finished: ok." in done and "Last run ok" in done and "hx-trigger" not in done
        run = db.session.scalars(select(SyncRun).where(SyncRun.connection_id == connection.id)).one()
        assert run.status == "ok" and f"<strong>{run.counts['issues']}</strong> issues" in done
