"""The sync engine against the sandbox over HTTP, Cloud and Server, on every database backend."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from connect_app.extensions import db
from connect_app.models import IssueStatusChange, JiraConnection, JiraCustomerLink, JiraIssue, SyncRun
from connect_app.sync.engine import sync_connection, sync_customer, sync_issue
from jira_sandbox.testing import SandboxServer
from tests.factories import make_customer, make_organization
from tests.sync.support import (
    ANCHOR,
    add_rule,
    catalog_customers,
    connect,
    fast_client,
    forget_sync,
    rest,
    sandbox_admin,
    snapshot,
)

pytestmark = pytest.mark.sandbox


@pytest.fixture(params=["cloud", "server"])
def site(request):
    with SandboxServer(flavour=request.param, issues=150, seed=11, anchor=ANCHOR, customers=20) as server:
        yield server


@pytest.fixture
def world(app, site):
    """A workspace with customers covering every strategy, and a connection to the site."""
    org = make_organization()
    connection = connect(app, org, site)
    acme, globex, initech, umbrella = catalog_customers(org, site, 4)
    billing = make_customer(org, name="Billing Watchers", slug="billing-watchers")
    add_rule(acme, "label", value=site.state.customer_catalog[0]["label"])
    add_rule(globex, "custom_field", field="Customer ID", field_id="customfield_10001",
             value=site.state.customer_catalog[1]["external_id"])
    add_rule(initech, "custom_field", field_id="customfield_10003", value=site.state.customer_catalog[2]["slug"],
             link_type="requested")
    add_rule(billing, "component", value="Billing", link_type="watching")
    add_rule(umbrella, "jql", jql="project = SUP AND priority = Highest", link_type="requested")
    return {"org": org, "connection": connection, "acme": acme, "globex": globex, "initech": initech,
            "umbrella": umbrella, "billing": billing}


def expected_links(site, world) -> set[tuple[str, str]]:
    """Ground truth from the sandbox's own state: (issue key, customer id) for every rule."""
    catalog = site.state.customer_catalog
    expected = set()
    for key, issue in site.state.issues.items():
        cf = issue["customfields"]
        if catalog[0]["label"] in issue["labels"]:
            expected.add((key, str(world["acme"].id)))
        if cf.get("customfield_10001") == catalog[1]["external_id"]:
            expected.add((key, str(world["globex"].id)))
        if catalog[2]["slug"] in (cf.get("customfield_10003") or []):
            expected.add((key, str(world["initech"].id)))
        if "Billing" in issue["components"]:
            expected.add((key, str(world["billing"].id)))
        if issue["project"] == "SUP" and issue["priority"] == "Highest":
            expected.add((key, str(world["umbrella"].id)))
    return expected


def links_of(connection) -> set[tuple[str, str]]:
    return {(link.jira_key, str(link.customer_id)) for link in db.session.scalars(
        select(JiraCustomerLink).where(JiraCustomerLink.connection_id == connection.id))}


def count(model, connection) -> int:
    return db.session.scalar(select(func.count()).select_from(model).where(model.connection_id == connection.id))


def test_full_sync_links_every_strategy_many_to_many(site, world):
    connection = world["connection"]
    run = sync_connection(connection.id, client=fast_client(connection))
    assert run.status == "ok" and run.mode == "full"
    expected = expected_links(site, world)
    assert links_of(connection) == expected
    # Many-to-many: some issue belongs to several customers, some customer to many issues.
    per_issue = {}
    for key, _ in expected:
        per_issue[key] = per_issue.get(key, 0) + 1
    assert max(per_issue.values()) >= 2
    linked_keys = {key for key, _ in expected}
    assert count(JiraIssue, connection) == len(linked_keys)
    # Status history from the changelog for every synced issue that moved.
    moved = sum(len(site.state.issues[k]["changelog"]) for k in linked_keys)
    assert count(IssueStatusChange, connection) == moved
    link_types = {(link.customer_id, link.link_type) for link in db.session.scalars(select(JiraCustomerLink))}
    assert (world["billing"].id, "watching") in link_types and (world["umbrella"].id, "requested") in link_types


def test_repeated_runs_keep_row_counts_exact(site, world):
    connection = world["connection"]
    sync_connection(connection.id, client=fast_client(connection))
    first = snapshot(connection), count(JiraIssue, connection), count(JiraCustomerLink, connection)
    sync_connection(connection.id, full=True, client=fast_client(connection))
    sync_connection(connection.id, client=fast_client(connection))
    assert (snapshot(connection), count(JiraIssue, connection), count(JiraCustomerLink, connection)) == first


def test_incremental_picks_up_exactly_the_changed_issues(site, world):
    connection = world["connection"]
    sync_connection(connection.id, client=fast_client(connection))
    acme_label = site.state.customer_catalog[0]["label"]
    dropped = sorted(k for k, i in site.state.issues.items() if acme_label in i["labels"])[0]
    gained = sorted(k for k, i in site.state.issues.items() if not i["labels"] and i["project"] == "CS")[0]
    rest(site, "PUT", f"/issue/{dropped}", json={"update": {"labels": [{"remove": acme_label}]}})
    rest(site, "PUT", f"/issue/{gained}", json={"update": {"labels": [{"add": acme_label}]}})
    created = rest(site, "POST", "/issue", json={"fields": {
        "project": {"key": "ENG"}, "issuetype": {"name": "Bug"}, "summary": "New for Acme", "labels": [acme_label]}})
    new_key = created.json()["key"]
    run = sync_connection(connection.id, client=fast_client(connection))
    assert run.mode == "incremental" and run.status == "ok"
    expected = expected_links(site, world)
    changed = {gained, new_key} | ({dropped} & {key for key, _ in expected})
    assert run.counts["issues"] == len(changed)  # only the changed issues that match a rule were fetched
    assert run.counts["reconciled"] == len({dropped} - changed)  # stopped matching: found by reconciliation
    assert links_of(connection) == expected
    acme = str(world["acme"].id)
    assert (gained, acme) in links_of(connection) and (new_key, acme) in links_of(connection)
    assert (dropped, acme) not in links_of(connection)


def test_reconciliation_unlinks_a_deleted_issue(site, world):
    connection = world["connection"]
    sync_connection(connection.id, client=fast_client(connection))
    victim = sorted(key for key, _ in expected_links(site, world))[0]
    rest(site, "DELETE", f"/issue/{victim}")
    run = sync_connection(connection.id, client=fast_client(connection))
    assert run.status == "ok" and run.counts["deleted"] == 1
    row = db.session.scalar(select(JiraIssue).where(JiraIssue.jira_key == victim))
    assert row.deleted_at is not None
    assert not [link for link in links_of(connection) if link[0] == victim]
    assert links_of(connection) == expected_links(site, world)


def test_manual_links_survive_sync_and_rule_links_follow_rules(site, world):
    connection = world["connection"]
    sync_connection(connection.id, client=fast_client(connection))
    acme_label = site.state.customer_catalog[0]["label"]
    key = sorted(k for k, i in site.state.issues.items() if acme_label in i["labels"])[0]
    issue = db.session.scalar(select(JiraIssue).where(JiraIssue.jira_key == key))
    outsider = make_customer(world["org"], name="Hand Picked", slug="hand-picked")
    # A manual link for a customer without rules, and a manual link that overlaps a rule link.
    db.session.add(JiraCustomerLink(connection_id=connection.id, issue_id=issue.id, jira_key=key,
                                    customer_id=outsider.id, link_type="watching", source="manual"))
    acme_link = db.session.scalar(select(JiraCustomerLink).where(JiraCustomerLink.issue_id == issue.id,
                                                                 JiraCustomerLink.customer_id == world["acme"].id))
    acme_link.source, acme_link.rule_id = "manual", None
    db.session.commit()
    rest(site, "PUT", f"/issue/{key}", json={"update": {"labels": [{"remove": acme_label}]}})
    sync_connection(connection.id, client=fast_client(connection))
    sync_connection(connection.id, full=True, client=fast_client(connection))
    rows = {(link.customer_id, link.source) for link in db.session.scalars(
        select(JiraCustomerLink).where(JiraCustomerLink.issue_id == issue.id))}
    assert (outsider.id, "manual") in rows and (world["acme"].id, "manual") in rows


def test_rate_limit_and_5xx_storm_leave_the_database_as_a_clean_run(site, world):
    stormy = world["connection"]
    sync_connection(stormy.id, client=fast_client(stormy))
    clean = snapshot(stormy)
    forget_sync(stormy)
    sandbox_admin(site, "PUT", "/faults", json={"error_rate": 0.3, "error_status": 503, "fault_seed": 3})
    sandbox_admin(site, "POST", "/faults/fail-next", json={"path": "/rest/api/", "count": 3, "status": 429,
                                                            "retry_after": 0})
    try:
        run = sync_connection(stormy.id, client=fast_client(stormy, max_tries=10))
    finally:
        sandbox_admin(site, "DELETE", "/faults")
    assert run.status == "ok"
    stats = sandbox_admin(site, "GET", "/stats").json()["by_status"]
    assert int(stats.get("503", 0)) > 0 and int(stats.get("429", 0)) >= 3
    assert snapshot(stormy) == clean


class Crash(Exception):
    """A process dying mid-sync."""


def test_interrupted_sync_resumes_from_its_checkpoint(site, world):
    victim = world["connection"]
    full_pages = []
    full = sync_connection(victim.id, client=fast_client(victim), progress=full_pages.append, page_size=10)
    clean = snapshot(victim)
    forget_sync(victim)
    pages = []

    def crash_after_two_pages(n):
        pages.append(n)
        if len(pages) == 2:
            raise Crash

    with pytest.raises(Crash):
        sync_connection(victim.id, client=fast_client(victim), progress=crash_after_two_pages, page_size=10)
    db.session.expire_all()
    stored = db.session.get(JiraConnection, victim.id)
    assert stored.sync_checkpoint and stored.sync_watermark is None
    assert db.session.scalar(select(SyncRun).where(SyncRun.connection_id == victim.id)).status == "failed"
    resumed_pages = []
    run = sync_connection(victim.id, client=fast_client(victim), progress=resumed_pages.append, page_size=10)
    assert run.status == "ok" and run.counts["resumed"] == 1
    assert len(resumed_pages) == len(full_pages) - 2  # the two committed pages were not fetched again
    assert snapshot(victim) == clean
    # Neither lost nor counted twice: the issues written before the crash stay in the run's counts.
    assert run.counts["issues"] == full.counts["issues"] == sum(full_pages) == len(clean["issues"])
    assert run.counts["linked"] == full.counts["linked"]


@pytest.mark.parametrize("stored", [
    "cursor",  # what an older release wrote: a query index and its page cursor
    "garbage",
])
def test_a_checkpoint_of_another_shape_starts_the_fetch_over(site, world, stored):
    connection = world["connection"]
    sync_connection(connection.id, client=fast_client(connection))
    clean = snapshot(connection)
    forget_sync(connection)
    crashed = SyncRun(connection_id=connection.id, mode="full", status="failed", counts={"issues": 7})
    db.session.add(crashed)
    db.session.flush()
    connection.sync_checkpoint = {"run_id": str(crashed.id), "jira_started": "2026-01-15T00:00:00+00:00",
                                  "since": None, "queries": "0123456789abcdef", "index": 1, "cursor": "abc"} \
        if stored == "cursor" else {"run": 3, "after": "x"}
    db.session.commit()
    pages = []
    run = sync_connection(connection.id, client=fast_client(connection), progress=pages.append)
    assert run.status == "ok"
    assert (run.id == crashed.id) is (stored == "cursor")  # a readable checkpoint resumes its run
    assert run.counts["issues"] == sum(pages) == len(clean["issues"])  # every issue fetched, counted once
    assert snapshot(connection) == clean
    assert db.session.get(JiraConnection, connection.id).sync_checkpoint is None


def test_each_issue_is_fetched_once_however_many_queries_match_it(site, world):
    connection = world["connection"]
    # A free-JQL rule (a query of its own) matching exactly the issues the batch query matches by Acme's label.
    acme_label = site.state.customer_catalog[0]["label"]
    add_rule(world["globex"], "jql", jql=f'labels = "{acme_label}"', position=1)
    assert any(acme_label in i["labels"] for i in site.state.issues.values())
    sandbox_admin(site, "POST", "/stats/reset")
    pages = []
    run = sync_connection(connection.id, client=fast_client(connection), progress=pages.append, page_size=25)
    distinct = len({key for key, _ in expected_links(site, world)})
    assert sum(pages) == run.counts["issues"] == distinct
    assert pages == [25] * (distinct // 25) + ([distinct % 25] if distinct % 25 else [])
    if site.state.flavour == "cloud":
        by_endpoint = sandbox_admin(site, "GET", "/stats").json()["by_endpoint"]
        fetches = sum(n for endpoint, n in by_endpoint.items() if "bulkfetch" in endpoint)
        assert fetches == len(pages)  # one bulk fetch per chunk, none for an issue already fetched


def test_a_failing_jira_fails_the_run_and_the_next_run_resumes(site, world):
    connection = world["connection"]
    search = "/rest/api/3/search/jql" if site.state.flavour == "cloud" else "/rest/api/2/search"
    sandbox_admin(site, "POST", "/faults/fail-next", json={"path": search, "count": 50, "status": 500})
    run = sync_connection(connection.id, client=fast_client(connection, max_tries=2))
    sandbox_admin(site, "DELETE", "/faults")
    assert run.status == "failed" and "500" in run.error
    db.session.expire_all()
    assert db.session.get(JiraConnection, connection.id).last_error
    run = sync_connection(connection.id, client=fast_client(connection))
    assert run.status == "ok" and links_of(connection) == expected_links(site, world)


def test_status_history_after_a_transition(site, world):
    connection = world["connection"]
    sync_connection(connection.id, client=fast_client(connection))
    key = sorted(k for k, _ in expected_links(site, world))[0]
    before = len(site.state.issues[key]["changelog"])
    transitions = rest(site, "GET", f"/issue/{key}/transitions").json()["transitions"]
    rest(site, "POST", f"/issue/{key}/transitions", json={"transition": {"id": transitions[0]["id"]}})
    sync_connection(connection.id, client=fast_client(connection))
    issue = db.session.scalar(select(JiraIssue).where(JiraIssue.jira_key == key))
    changes = db.session.scalars(select(IssueStatusChange).where(IssueStatusChange.issue_id == issue.id)
                                 .order_by(IssueStatusChange.changed_at)).all()
    assert len(changes) == before + 1
    assert changes[-1].to_status == transitions[0]["to"]["name"] == issue.status
    assert changes[-1].to_category == issue.status_category


def test_customer_refresh_and_single_issue_sync(site, world):
    connection = world["connection"]
    sync_connection(connection.id, client=fast_client(connection))
    acme_label = site.state.customer_catalog[0]["label"]
    created = rest(site, "POST", "/issue", json={"fields": {
        "project": {"key": "CS"}, "issuetype": {"name": "Task"}, "summary": "Fresh", "labels": [acme_label]}})
    counts = sync_customer(world["acme"].id, client_factory=lambda c: fast_client(c))
    assert counts["issues"] >= 1
    assert (created.json()["key"], str(world["acme"].id)) in links_of(connection)
    # The webhook path: one issue, fetched, stored and relinked; then deleted.
    rest(site, "PUT", f"/issue/{created.json()['key']}", json={"update": {"labels": [{"remove": acme_label}]}})
    sync_issue(connection, created.json()["key"], client=fast_client(connection))
    assert (created.json()["key"], str(world["acme"].id)) not in links_of(connection)
    rest(site, "DELETE", f"/issue/{created.json()['key']}")
    row = sync_issue(connection, created.json()["key"], client=fast_client(connection))
    assert row.deleted_at is not None
