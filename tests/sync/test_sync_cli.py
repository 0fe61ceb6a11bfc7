"""`cscx-jira sync` as a person runs it: a progress bar of a known total, and the site's priority order kept."""

from __future__ import annotations

import logging
import re
from datetime import timedelta

import pytest
from sqlalchemy import select

from connect_app.extensions import db
from connect_app.models import JiraIssue, SyncRun
from connect_app.models.types import utcnow
from connect_app.sync.cli import run_sync
from connect_app.sync.engine import due_connections, sync_connection
from jira_sandbox.testing import SandboxServer
from tests.factories import make_connection, make_organization
from tests.sync.support import ANCHOR, add_rule, catalog_customers, connect, fast_client, rest

pytestmark = pytest.mark.sandbox


@pytest.fixture(params=["cloud", "server"])
def site(request):
    with SandboxServer(flavour=request.param, issues=60, seed=5, anchor=ANCHOR, customers=6) as server:
        yield server


def test_the_bar_counts_issues_against_jiras_total_and_logs_do_not_tear_it(app, site, capsys):
    org = make_organization()
    connection = connect(app, org, site)
    (acme,) = catalog_customers(org, site, 1)
    add_rule(acme, "label", value=site.state.customer_catalog[0]["label"])
    root = logging.getLogger()
    handler = logging.StreamHandler()  # a console log, as `cscx-jira` configures one
    root.addHandler(handler)
    level = root.level
    root.setLevel(logging.INFO)
    try:
        assert run_sync(app, (connection.id,), (), full=False, show_status=False) == 0
    finally:
        root.removeHandler(handler)
        root.setLevel(level)
    err = capsys.readouterr().err
    run = db.session.query(SyncRun).one()
    frames = [f for f in re.split(r"[\r\n]", err) if f.startswith("sync ")]
    # Past its first frame (drawn before Jira is asked for the count), every frame shows done/total.
    assert len(frames) >= 2 and all(re.search(r"\d+/\d+", f) for f in frames[1:]), frames
    final = re.search(r"(\d+)/(\d+)", frames[-1])
    assert final.group(1) == final.group(2) and int(final.group(1)) > 0
    assert int(final.group(1)) == run.counts["issues"]  # the bar ends at what was fetched
    # The run's log line got a line of its own, not glued to a bar frame.
    assert any(line.startswith("sync.done") for line in err.splitlines()), err
    db.session.refresh(connection)
    assert connection.priorities == ["Highest", "High", "Medium", "Low", "Lowest"]


def test_forge_connections_wait_for_a_fresh_system_token_to_be_due(app):
    org = make_organization()
    now = utcnow()
    connect_site = make_connection(org, next_sync_at=now - timedelta(minutes=1))
    stale = make_connection(org, kind="forge", client_key=None, installation_id="inst-stale",
                            next_sync_at=now - timedelta(minutes=1), token_expires_at=now - timedelta(minutes=5))
    fresh = make_connection(org, kind="forge", client_key=None, installation_id="inst-fresh",
                            next_sync_at=now - timedelta(minutes=1), token_expires_at=now + timedelta(minutes=10))
    make_connection(org, next_sync_at=now + timedelta(minutes=5))  # not due yet
    assert set(due_connections(now)) == {connect_site.id, fresh.id}
    assert stale.id not in due_connections(now)


def test_jira_text_postgresql_cannot_store_is_cleaned_not_fatal(app, site):
    org = make_organization()
    connection = connect(app, org, site)
    (acme,) = catalog_customers(org, site, 1)
    label = site.state.customer_catalog[0]["label"]
    add_rule(acme, "label", value=label)
    created = rest(site, "POST", "/issue", json={"fields": {
        "project": {"key": "CS"}, "issuetype": {"name": "Bug"}, "summary": "Export\u0000 fails \ud800 on save",
        "labels": [label, "odd\u0000label"]}}).json()
    run = sync_connection(connection.id, client=fast_client(connection))
    assert run.status == "ok", run.error
    issue = db.session.scalar(select(JiraIssue).where(JiraIssue.jira_key == created["key"]))
    assert issue.summary == "Export\ufffd fails \ufffd on save"
    assert "odd\ufffdlabel" in issue.labels
