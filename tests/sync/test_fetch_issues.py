"""Fetching issues by id, as the sync does after its ids-only queries: bulkfetch on Cloud, `id in` on Server."""

from __future__ import annotations

import logging
import threading

import pytest
import requests
from sqlalchemy import func, select

from connect_app.atlassian.issue_json import SYNC_FIELDS
from connect_app.extensions import db
from connect_app.models import IssueStatusChange, JiraIssue
from connect_app.sync.engine import sync_connection
from connect_app.sync.fetch import FETCH_AHEAD
from jira_sandbox.testing import SandboxServer
from tests.factories import make_organization
from tests.sync.support import (
    ANCHOR,
    add_rule,
    catalog_customers,
    connect,
    fast_client,
    forget_sync,
    rest,
    sandbox_admin,
)

pytestmark = pytest.mark.sandbox


@pytest.fixture(params=["cloud", "server"])
def site(request):
    with SandboxServer(flavour=request.param, issues=260, seed=5, anchor=ANCHOR, customers=5) as server:
        yield server


def test_fetch_issues_returns_each_existing_issue_once(app, site):
    connection = connect(app, make_organization(), site)
    client = fast_client(connection)
    ids = sorted(int(i["id"]) for i in site.state.issues.values())
    gone = max(ids) + 1000  # never existed: left out, as Jira leaves out an issue it no longer shows
    sandbox_admin(site, "POST", "/stats/reset")
    issues = client.fetch_issues([*ids[:230], gone], SYNC_FIELDS, expand=("changelog",))
    assert [int(i["id"]) for i in sorted(issues, key=lambda i: int(i["id"]))] == ids[:230]
    first = next(i for i in issues if int(i["id"]) == ids[0])
    stored = site.state.get_issue(str(ids[0]))
    assert first["key"] == stored["key"] and first["fields"]["summary"] == stored["summary"]
    assert "changelog" in first
    # 231 ids: three requests of at most 100, whichever the flavour.
    assert sandbox_admin(site, "GET", "/stats").json()["requests_total"] == 3


def test_bulkfetch_keeps_jira_limits(site):
    if site.state.flavour != "cloud":
        pytest.skip("bulkfetch is a Jira Cloud endpoint")
    ids = sorted((i["id"] for i in site.state.issues.values()), key=int)
    url = f"{site.base_url}/rest/api/3/issue/bulkfetch"
    too_many = requests.post(url, auth=site.basic_auth, timeout=10, json={"issueIdsOrKeys": ids[:101]})
    assert too_many.status_code == 400 and too_many.json()["errorMessages"]
    key = site.state.issues[next(iter(site.state.issues))]["key"]
    answer = requests.post(url, auth=site.basic_auth, timeout=10, json={
        "issueIdsOrKeys": [ids[3], ids[1], key.lower()], "fields": ["summary"], "expand": ["changelog"]}).json()
    got = [int(i["id"]) for i in answer["issues"]]
    assert got == sorted(got) and answer["issueErrors"] == []  # ascending id order, keys matched case-blind
    assert {ids[1], ids[3]} <= {str(i) for i in got}
    assert set(answer["issues"][0]["fields"]) == {"summary"}


def test_a_changelog_longer_than_bulkfetch_returns_is_stored_whole(app, site):
    org = make_organization()
    connection = connect(app, org, site)
    (acme,) = catalog_customers(org, site, 1)
    label = site.state.customer_catalog[0]["label"]
    add_rule(acme, "label", value=label)
    key = sorted(k for k, i in site.state.issues.items() if label in i["labels"])[0]
    for _ in range(45):  # more histories than bulkfetch expands (40)
        transition = rest(site, "GET", f"/issue/{key}/transitions").json()["transitions"][0]
        rest(site, "POST", f"/issue/{key}/transitions", json={"transition": {"id": transition["id"]}})
    histories = len(site.state.issues[key]["changelog"])
    assert histories > 45
    run = sync_connection(connection.id, client=fast_client(connection))
    assert run.status == "ok"
    issue = db.session.scalar(select(JiraIssue).where(JiraIssue.connection_id == connection.id,
                                                      JiraIssue.jira_key == key))
    moves = db.session.scalar(select(func.count()).select_from(IssueStatusChange)
                              .where(IssueStatusChange.issue_id == issue.id))
    status_histories = sum(1 for h in site.state.issues[key]["changelog"]
                           if any(item.get("field") == "status" for item in h["items"]))
    assert moves == status_histories >= 45


def _linked_site_world(app, site, customers: int = 5):
    """A connection whose customers have one label rule each; returns (connection, distinct linked issues)."""
    org = make_organization()
    connection = connect(app, org, site)
    labels = set()
    for customer, entry in zip(catalog_customers(org, site, customers), site.state.customer_catalog, strict=False):
        add_rule(customer, "label", value=entry["label"])
        labels.add(entry["label"])
    linked = sum(1 for i in site.state.issues.values() if labels & set(i["labels"]))
    return connection, linked


def test_chunks_are_fetched_concurrently_with_the_writes(app, site):
    connection, linked = _linked_site_world(app, site)
    chunks = -(-linked // 10)
    assert chunks >= 8
    api = "/rest/api/3/issue/bulkfetch" if site.state.flavour == "cloud" else "/rest/api/2/search"
    sandbox_admin(site, "PUT", "/faults", json={"path_latency_ms": {api: 400}})
    client = fast_client(connection)
    fetch, lock, in_flight = client.fetch_issues, threading.Lock(), {"now": 0, "most": 0}

    def counted(*args, **kwargs):  # how many fetches are waiting on Jira at once
        with lock:
            in_flight["now"] += 1
            in_flight["most"] = max(in_flight["most"], in_flight["now"])
        try:
            return fetch(*args, **kwargs)
        finally:
            with lock:
                in_flight["now"] -= 1

    client.fetch_issues = counted
    try:
        run = sync_connection(connection.id, client=client, page_size=10)
    finally:
        sandbox_admin(site, "DELETE", "/faults")
    assert run.status == "ok" and run.counts["issues"] == linked
    assert in_flight["most"] >= 2  # one after the other, there would never be two


def test_the_fetch_window_narrows_on_429_and_the_run_completes(app, site, caplog):
    if site.state.flavour != "cloud":
        pytest.skip("the ids-only searches come first on Server: a scripted 429 would land there")
    connection, linked = _linked_site_world(app, site)
    clean = sync_connection(connection.id, client=fast_client(connection), page_size=10)
    forget_sync(connection)
    sandbox_admin(site, "POST", "/faults/fail-next", json={
        "path": "/rest/api/3/issue/bulkfetch", "count": 2, "status": 429,
        "retry_after": 0})
    caplog.set_level(logging.INFO, logger="connect_app.sync.fetch")
    run = sync_connection(connection.id, client=fast_client(connection), page_size=10)
    assert run.status == "ok" and run.counts["issues"] == clean.counts["issues"] == linked
    windows = [r.window for r in caplog.records if r.getMessage() == "sync.fetch_window"]
    assert windows and min(windows) < FETCH_AHEAD  # halved on the 429s
    assert windows[-1] > min(windows)  # and widened again once Jira stopped refusing
    assert int(sandbox_admin(site, "GET", "/stats").json()["by_status"].get("429", 0)) >= 2
