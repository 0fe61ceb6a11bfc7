"""Batches drained by real RQ workers (subprocesses): a worker killed mid-batch commits nothing and its
batch is taken over; two workers draining one inbox keep every issue in Jira's order.

The workers read their settings from the environment, where INBOX_BATCH_SIZE is not one of the keys
`Config` reads: they drain with the default batch size.
"""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

import pytest
import requests
from sqlalchemy import func, select, update

from connect_app.atlassian.issue_json import parse_jira_time
from connect_app.extensions import db
from connect_app.models import IssueEvent, IssueStatusChange, JiraIssue, OutboxMessage, WebhookDelivery
from connect_app.models.types import utcnow
from connect_app.tracking import sweeps
from tests.conftest import REDIS_URL
from tests.tracking.support import wait_for
from tests.tracking.test_workers import inbox_rows, queued_site  # noqa: F401  (queued_site: fixture)

pytestmark = [pytest.mark.redis, pytest.mark.skipif(not REDIS_URL, reason="TEST_REDIS_URL not set")]


def partial_body(s, key: str, change: str) -> dict:
    """Jira's change of `key` to status `change` as a body naming the issue only (a drain must fetch it)."""
    history = next(h for h in s.jira("GET", f"/rest/api/3/issue/{key}/changelog").json()["values"]
                   if h["items"][0]["toString"] == change)
    issue_id = s.jira("GET", f"/rest/api/3/issue/{key}?fields=summary").json()["id"]
    return {"timestamp": int(parse_jira_time(history["created"]).timestamp() * 1000),
            "webhookEvent": "jira:issue_updated", "issue": {"id": issue_id, "key": key},
            "changelog": {"id": history["id"], "items": history["items"]}}


def post_webhook(s, body: dict, identifier: str) -> None:
    """POST a body to the app's webhook endpoint as the installed Connect app's Jira would."""
    url = f"{s.live.base_url}/api/integrations/jira/webhook"
    token = s.control("POST", "/apps/ai.cscx.jira/sign", json={"method": "POST", "url": url}).json()["jwt"]
    response = requests.post(url, json=body, timeout=10, headers={
        "Authorization": f"JWT {token}", "X-Atlassian-Webhook-Identifier": identifier})
    assert response.status_code == 202, response.text


def count(s, model) -> int:
    with s.live.app.app_context():
        total = db.session.scalar(select(func.count()).select_from(model))
        db.session.remove()
    return total


def pushes_delivered(s) -> bool:
    with s.live.app.app_context():
        statuses = set(db.session.scalars(select(OutboxMessage.status)))
        db.session.remove()
    return bool(statuses) and statuses == {"delivered"}


def issue_pushes(s) -> Counter:
    """(topic, issue key) of every accepted jira.issue.* push."""
    return Counter((d["topic"], d["data"]["issue"]["key"]) for d in s.receiver.topics("jira.issue."))


def test_a_worker_killed_mid_batch_commits_nothing_and_the_batch_is_taken_over(queued_site):  # noqa: F811
    s, workers = queued_site
    keys = [s.create_issue(f"Sync stalls {n}", ["customer_acme"]) for n in range(3)]
    for key in keys[:2]:
        s.transition(key, "In Progress")
    s.flush()
    # The last change reaches us as a partial body, so the batch must ask Jira for the issue: slow now.
    s.control("POST", "/webhooks/config", json={"paused": True})
    s.transition(keys[2], "In Progress")
    partial = partial_body(s, keys[2], "In Progress")
    s.control("PUT", "/faults", json={"path_latency_ms": {f"/rest/api/3/issue/{keys[2]}": 30000}})
    post_webhook(s, partial, "partial-1")
    rows = inbox_rows(s)
    assert len(rows) == 6 and {r.status for r in rows} == {"pending"}  # no worker yet

    doomed = workers.start("doomed")
    wait_for(lambda: {r.status for r in inbox_rows(s)} == {"processing"}, 60, "the batch to be claimed")
    with s.live.app.app_context():
        owners = set(db.session.scalars(select(WebhookDelivery.locked_by)))
        db.session.remove()
    assert len(owners) == 1  # one batch
    workers.kill(doomed, horse_pid=int(owners.pop().split(":")[1]))  # the claim names host:pid:thread
    s.control("DELETE", "/faults")

    rows = inbox_rows(s)
    assert {(r.status, r.attempts) for r in rows} == {("processing", 1)}
    assert count(s, JiraIssue) == 0 and count(s, IssueEvent) == 0 and count(s, IssueStatusChange) == 0
    assert s.notifications() == [] and count(s, OutboxMessage) == 0 and s.receiver.topics() == []

    # Time passes beyond the claims' lock timeout (moved back here instead of waited out).
    with s.live.app.app_context():
        db.session.execute(update(WebhookDelivery).values(locked_at=utcnow() - timedelta(hours=1)))
        db.session.commit()
        workers.start("rescuer")
        assert sweeps.sweep()["deliveries"] == 6
        db.session.remove()
    wait_for(lambda: {r.status for r in inbox_rows(s)} == {"done"}, 90, "the rescued batch")
    assert {r.attempts for r in inbox_rows(s)} == {2}
    assert s.notifications() == sorted(("csm-alice", key, "moved_to_development") for key in keys)
    wait_for(lambda: pushes_delivered(s), 60, "the pushes")
    pushed = issue_pushes(s)
    assert pushed == {(f"jira.issue.{kind}", key): 1 for key in keys for kind in ("created", "moved_to_development")}

    # Jira's own full delivery of the partial's change arrives late: not news again.
    s.control("POST", "/webhooks/config", json={"paused": False})
    s.flush()
    wait_for(lambda: len(inbox_rows(s)) == 7 and {r.status for r in inbox_rows(s)} == {"done"}, 60, "the late copy")
    assert s.notifications() == sorted(("csm-alice", key, "moved_to_development") for key in keys)
    wait_for(lambda: pushes_delivered(s), 60, "the pushes")
    assert issue_pushes(s) == pushed and not s.receiver.duplicates


def test_two_workers_draining_one_inbox_keep_every_issue_in_jira_order(queued_site):  # noqa: F811
    s, workers = queued_site
    s.control("POST", "/webhooks/config", json={"paused": True, "workers": 4})
    keys = [s.create_issue(f"Latency spike {n}", ["customer_acme"]) for n in range(20)]
    for key in keys:
        s.transition(key, "In Progress")
    for key in keys:
        s.transition(key, "Done")
    # The last issue's move reaches us first, as a partial body whose fetch from Jira is slow: the first
    # worker sits on that issue while the second drains the rest, around it.
    held = keys[-1]  # no other key starts with it: only its fetches are slow
    partial = partial_body(s, held, "In Progress")
    s.control("PUT", "/faults", json={"path_latency_ms": {f"/rest/api/3/issue/{held}": 5000}})
    post_webhook(s, partial, "partial-1")
    workers.start("w1")
    wait_for(lambda: [r.status for r in inbox_rows(s)] == ["processing"], 60, "the first worker to claim it")
    workers.start("w2")
    s.control("POST", "/webhooks/config", json={"paused": False})
    s.flush()  # 60 deliveries, four at a time
    wait_for(lambda: len(inbox_rows(s)) == 61 and {r.status for r in inbox_rows(s)} == {"done"}, 120,
             "both workers to drain the inbox")
    s.control("DELETE", "/faults")
    assert {r.attempts for r in inbox_rows(s)} == {1}  # each delivery claimed exactly once

    with s.live.app.app_context():
        processed = {r.id: r.processed_at for r in db.session.scalars(select(WebhookDelivery))}
        first = db.session.scalar(select(WebhookDelivery).where(WebhookDelivery.delivery_id == "partial-1"))
        # No delivery of the held issue was claimed while the first worker had it.
        assert all(processed[r.id] >= first.processed_at for r in db.session.scalars(
            select(WebhookDelivery).where(WebhookDelivery.jira_key == held)))
        for key in keys:
            jira_order = [h["id"] for h in s.jira("GET", f"/rest/api/3/issue/{key}/changelog").json()["values"]]
            events = db.session.execute(select(IssueEvent.kind, IssueEvent.dedupe_key)
                                        .where(IssueEvent.jira_key == key).order_by(IssueEvent.occurred_at)).all()
            assert [kind for kind, _ in events] == ["created", "moved_to_development", "resolved"], key
            assert [dedupe.split(":")[1] for _, dedupe in events[1:]] == jira_order, key
            issue = db.session.scalar(select(JiraIssue).where(JiraIssue.jira_key == key))
            history = db.session.execute(
                select(IssueStatusChange.change_id, IssueStatusChange.from_status, IssueStatusChange.to_status)
                .where(IssueStatusChange.issue_id == issue.id).order_by(IssueStatusChange.changed_at)).all()
            assert [tuple(h) for h in history] == [(jira_order[0], "To Do", "In Progress"),
                                                   (jira_order[1], "In Progress", "Done")], key
            assert (issue.status, issue.status_category) == ("Done", "done"), key
        db.session.remove()

    assert Counter((k, kind) for _, k, kind in s.notifications()) == {
        (key, kind): 1 for key in keys for kind in ("moved_to_development", "resolved")}
    wait_for(lambda: pushes_delivered(s), 60, "the pushes")
    assert issue_pushes(s) == {(f"jira.issue.{kind}", key): 1 for key in keys
                               for kind in ("created", "moved_to_development", "resolved")}
    assert not s.receiver.duplicates
