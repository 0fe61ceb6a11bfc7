"""Draining the inbox in batches: what a claim takes, chaos across batch boundaries, one change sent
under several identifiers, and a poison delivery among good ones."""

from __future__ import annotations

import json
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta

import requests
from sqlalchemy import func, select, update

from connect_app.extensions import db
from connect_app.models import IssueEvent, JiraConnection, JiraIssue, WebhookDelivery
from connect_app.models.types import utcnow
from connect_app.platform.jobs import shutdown_background
from connect_app.tracking import batch, inbox
from tests.factories import make_connection, make_organization
from tests.tracking.test_chaos import outcome, run_sequence

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
NOW = T0 + timedelta(hours=1)
LOCK_TIMEOUT_S = 60.0


def deliver(connection: JiraConnection, key: str, received_at: datetime, **state) -> uuid.UUID:
    """An inbox row for one change of `key`, received at `received_at`, then put in `state`."""
    payload = {"timestamp": int(received_at.timestamp() * 1000), "webhookEvent": "jira:issue_updated",
               "issue": {"key": key}}
    row_id = inbox.store_delivery(connection, f"wh-{uuid.uuid4()}", payload).id
    db.session.execute(update(WebhookDelivery).where(WebhookDelivery.id == row_id)
                       .values(received_at=received_at, **state))
    db.session.commit()
    return row_id


def row(row_id: uuid.UUID) -> WebhookDelivery:
    """The inbox row as stored now."""
    db.session.expire_all()
    return db.session.get(WebhookDelivery, row_id)


def in_flight(owner: str, claimed_s_ago: float, attempts: int = 1) -> dict:
    """The columns of a delivery that `owner` claimed `claimed_s_ago` seconds before NOW."""
    return {"status": "processing", "locked_by": owner, "locked_at": NOW - timedelta(seconds=claimed_s_ago),
            "attempts": attempts}


def test_a_claim_takes_the_oldest_due_deliveries_up_to_its_limit(app):
    connection = make_connection(make_organization())
    # Stored in another order than their age, so "oldest first" is not "first stored".
    by_age = {minutes: deliver(connection, f"CS-{n}", T0 + timedelta(minutes=minutes))
              for n, minutes in enumerate([3, 0, 4, 1, 2])}

    first = batch.claim_batch("drain-1", 3, now=NOW)
    assert sorted(first) == sorted(by_age[m] for m in (0, 1, 2))
    for row_id in first:
        claimed = row(row_id)
        assert (claimed.status, claimed.locked_by, claimed.locked_at, claimed.attempts) == (
            "processing", "drain-1", NOW, 1)
    assert sorted(batch.claim_batch("drain-2", 3, now=NOW)) == sorted(by_age[m] for m in (3, 4))
    assert batch.claim_batch("drain-3", 3, now=NOW) == []


def test_an_issue_another_drain_is_processing_is_left_to_it(app):
    app.config["INBOX_LOCK_TIMEOUT_S"] = LOCK_TIMEOUT_S
    org = make_organization()
    site, other_site = make_connection(org), make_connection(org)
    busy = deliver(site, "CS-1", T0, **in_flight("drain-other", claimed_s_ago=LOCK_TIMEOUT_S - 1))
    behind = deliver(site, "CS-1", T0 + timedelta(minutes=1))
    other_issue = deliver(site, "CS-2", T0 + timedelta(minutes=2))
    same_key_elsewhere = deliver(other_site, "CS-1", T0 + timedelta(minutes=3))

    claimed = batch.claim_batch("drain-1", 10, now=NOW)
    assert sorted(claimed) == sorted([other_issue, same_key_elsewhere])
    assert (row(behind).status, row(behind).attempts) == ("pending", 0)
    assert (row(busy).locked_by, row(busy).attempts) == ("drain-other", 1)

    # The other drain is done with the issue: its next delivery may be claimed now.
    db.session.execute(update(WebhookDelivery).where(WebhookDelivery.id == busy)
                       .values(status="done", locked_by=None, locked_at=None))
    db.session.commit()
    assert batch.claim_batch("drain-1", 10, now=NOW) == [behind]


def test_a_claim_older_than_the_lock_timeout_is_taken_over(app):
    app.config["INBOX_LOCK_TIMEOUT_S"] = LOCK_TIMEOUT_S
    connection = make_connection(make_organization())
    abandoned = deliver(connection, "CS-1", T0, **in_flight("drain-dead", claimed_s_ago=LOCK_TIMEOUT_S + 1))
    behind_abandoned = deliver(connection, "CS-1", T0 + timedelta(minutes=1))
    alive = deliver(connection, "CS-2", T0 + timedelta(minutes=2),
                    **in_flight("drain-alive", claimed_s_ago=LOCK_TIMEOUT_S - 1))

    assert sorted(batch.claim_batch("drain-1", 10, now=NOW)) == sorted([abandoned, behind_abandoned])
    taken = row(abandoned)
    assert (taken.status, taken.locked_by, taken.locked_at, taken.attempts) == ("processing", "drain-1", NOW, 2)
    assert (row(behind_abandoned).locked_by, row(behind_abandoned).attempts) == ("drain-1", 1)
    kept = row(alive)
    assert (kept.locked_by, kept.locked_at, kept.attempts) == (
        "drain-alive", NOW - timedelta(seconds=LOCK_TIMEOUT_S - 1), 1)


def test_failed_deliveries_wait_for_their_retry_and_finished_ones_are_never_claimed(app):
    app.config["INBOX_LOCK_TIMEOUT_S"] = LOCK_TIMEOUT_S
    connection = make_connection(make_organization())
    later = deliver(connection, "CS-1", T0, status="failed", attempts=1, next_attempt_at=NOW + timedelta(seconds=30))
    due = deliver(connection, "CS-2", T0, status="failed", attempts=1, next_attempt_at=NOW - timedelta(seconds=1))
    # Finished rows, one still carrying an old claim time: neither "done" nor "dead" is ever due.
    deliver(connection, "CS-3", T0, status="done", attempts=1, processed_at=T0,
            locked_at=T0 - timedelta(days=1))
    deliver(connection, "CS-4", T0, status="dead", attempts=inbox.MAX_ATTEMPTS, next_attempt_at=T0)

    assert batch.claim_batch("drain-1", 10, now=NOW) == [due]
    assert row(due).attempts == 2
    assert (row(later).status, row(later).attempts) == ("failed", 1)
    assert batch.claim_batch("drain-1", 10, now=NOW + timedelta(seconds=31)) == [later]
    db.session.execute(update(WebhookDelivery).where(WebhookDelivery.id.in_([due, later]))
                       .values(status="done", processed_at=NOW, locked_by=None, locked_at=None))
    db.session.commit()
    assert batch.claim_batch("drain-1", 10, now=NOW + timedelta(days=1)) == []


# ---- against the sandbox Jira, the live app and the push receiver -------------------------------


def inbox_of(s, key: str | None = None) -> list[WebhookDelivery]:
    """The inbox rows (of one issue), oldest first, detached."""
    with s.live.app.app_context():
        query = select(WebhookDelivery)
        if key is not None:
            query = query.where(WebhookDelivery.jira_key == key)
        rows = list(db.session.scalars(query.order_by(WebhookDelivery.received_at)))
        db.session.expunge_all()
        db.session.remove()
    return rows


def drain(s) -> dict[str, int]:
    """Run one drain job here, in this thread (the app's own job pool is shut down by these tests)."""
    with s.live.app.app_context():
        try:
            return batch.drain_inbox()
        finally:
            db.session.remove()


def retry_at(s, row_id: uuid.UUID, when) -> None:
    """Move a failed delivery's retry time (instead of waiting for its backoff)."""
    with s.live.app.app_context():
        db.session.execute(update(WebhookDelivery).where(WebhookDelivery.id == row_id).values(next_attempt_at=when))
        db.session.commit()
        db.session.remove()


def issue_pushes(s) -> Counter:
    """(topic, issue key) of every accepted jira.issue.* push."""
    return Counter((d["topic"], d["data"]["issue"]["key"]) for d in s.receiver.topics("jira.issue."))


def post_webhook(s, body: bytes, identifier: str) -> requests.Response:
    """POST a body to the app's webhook endpoint as the installed Connect app's Jira would."""
    url = f"{s.live.base_url}/api/integrations/jira/webhook"
    token = s.control("POST", "/apps/ai.cscx.jira/sign", json={"method": "POST", "url": url}).json()["jwt"]
    return requests.post(url, data=body, timeout=10, headers={
        "Authorization": f"JWT {token}", "Content-Type": "application/json",
        "X-Atlassian-Webhook-Identifier": identifier})


def test_chaos_straddling_batches_of_three_ends_as_a_clean_delivery(tracked_site):
    s = tracked_site
    s.live.app.config["INBOX_BATCH_SIZE"] = 1
    clean_key = run_sequence(s, "customer_globex")
    s.settle()
    clean = outcome(s, clean_key)

    s.live.app.config["INBOX_BATCH_SIZE"] = 3
    s.control("POST", "/webhooks/config", json={"paused": True, "duplicate": 4, "reorder_window": 1000,
                                                 "workers": 4, "seed": 11})
    chaos_key = run_sequence(s, "customer_globex")
    s.flush()  # 11 changes x 5 copies, shuffled, four at a time, drained three at a time as they land
    s.control("POST", "/webhooks/config", json={"paused": False, "duplicate": 0, "reorder_window": 0})
    s.settle()

    assert outcome(s, chaos_key) == clean
    assert not s.receiver.duplicates
    rows = inbox_of(s, chaos_key)
    assert len(rows) == 11 and {(r.status, r.attempts) for r in rows} == {("done", 1)}
    # A batch stamps all its rows with one processed_at: no batch held more than three.
    batches = Counter(r.processed_at for r in rows)
    assert max(batches.values()) <= 3 and len(batches) >= 4


def test_shuffled_changes_drained_three_at_a_time_end_as_a_clean_delivery(tracked_site):
    s = tracked_site
    s.live.app.config["INBOX_BATCH_SIZE"] = 1
    clean_key = run_sequence(s, "customer_globex")
    s.settle()
    clean = outcome(s, clean_key)

    # Every copy lands before any drain runs, so the batches are exactly the oldest three, the next three...
    # of deliveries received in shuffled order: a batch holds later changes than the next one.
    shutdown_background(s.live.app)
    s.control("POST", "/webhooks/config", json={"paused": True, "duplicate": 4, "reorder_window": 1000,
                                                 "workers": 4, "seed": 7})
    chaos_key = run_sequence(s, "customer_globex")
    s.flush()
    s.control("POST", "/webhooks/config", json={"paused": False, "duplicate": 0, "reorder_window": 0})
    rows = inbox_of(s, chaos_key)
    assert len(rows) == 11 and {r.status for r in rows} == {"pending"}
    received = [r.event_ts for r in rows]
    assert received != sorted(received)  # the inbox holds them out of Jira's order

    s.live.app.config["INBOX_BATCH_SIZE"] = 3
    assert drain(s) == {"done": 11}

    assert outcome(s, chaos_key) == clean
    assert not s.receiver.duplicates
    rows = inbox_of(s, chaos_key)
    assert {(r.status, r.attempts) for r in rows} == {("done", 1)}
    assert sorted(Counter(r.processed_at for r in rows).values()) == [2, 3, 3, 3]


def test_one_change_under_several_identifiers_in_one_batch_is_recorded_notified_and_pushed_once(tracked_site):
    s = tracked_site
    shutdown_background(s.live.app)  # every delivery waits in the inbox; one drain below takes them all
    s.control("POST", "/webhooks/config", json={"paused": True, "duplicate": 2, "workers": 4})
    key = s.create_issue("Invoices are missing", ["customer_acme", "customer_globex"])
    s.transition(key, "In Progress")
    s.edit(key, priority={"name": "High"})
    s.transition(key, "Done")
    s.flush()  # three copies of each change under its one identifier
    s.control("POST", "/webhooks/config", json={"paused": False, "duplicate": 0})
    originals = inbox_of(s, key)
    assert len(originals) == 4

    # Each change again under two new identifiers, each body serialised another way (so neither the
    # identifier nor the body hash matches), and once more byte for byte under a third identifier.
    for original in originals:
        for copy in (1, 2):
            body = json.dumps(original.payload, indent=copy).encode()
            assert post_webhook(s, body, f"{original.delivery_id}-again-{copy}").status_code == 202
        assert post_webhook(s, body, f"{original.delivery_id}-replayed").status_code == 200
    rows = inbox_of(s, key)
    assert len(rows) == 12 and {r.status for r in rows} == {"pending"}

    assert drain(s) == {"done": 12}

    rows = inbox_of(s, key)
    assert {(r.status, r.attempts) for r in rows} == {("done", 1)}
    assert len({r.processed_at for r in rows}) == 1  # one batch
    with s.live.app.app_context():
        events = Counter(db.session.scalars(select(IssueEvent.kind).where(IssueEvent.jira_key == key)))
        db.session.remove()
    assert events == {"created": 1, "moved_to_development": 1, "priority_changed": 1, "resolved": 1}
    notes = Counter((user, kind) for user, k, kind in s.notifications() if k == key)
    assert notes == {(user, kind): 1 for user in ("csm-alice", "csm-bob")
                     for kind in ("moved_to_development", "priority_changed", "resolved")}
    assert issue_pushes(s) == {(f"jira.issue.{kind}", key): 1 for kind in events}
    assert not s.receiver.duplicates


def test_a_poison_delivery_fails_alone_and_waits_for_its_retry(tracked_site):
    s = tracked_site
    shutdown_background(s.live.app)  # the test runs the drains itself
    keys = [s.create_issue(f"Checkout fails {n}", ["customer_acme"]) for n in range(3)]
    for key in keys:
        s.transition(key, "In Progress")
    s.flush()
    # A partial body names an issue Jira does not have (yet): fetching it answers 404.
    missing = f"CS-{max(int(k.split('-')[1]) for k in keys) + 1}"
    with s.live.app.app_context():
        connection = db.session.get(JiraConnection, uuid.UUID(s.connection_id))
        poison = inbox.store_delivery(connection, "wh-poison", {
            "timestamp": int(utcnow().timestamp() * 1000), "webhookEvent": "jira:issue_updated",
            "issue": {"key": missing}}).id
        db.session.remove()
    assert [r.status for r in inbox_of(s)] == ["pending"] * 7

    before = utcnow()
    assert drain(s) == {"done": 6, "failed": 1}  # the batch failed as a whole, then each went on its own

    good = [r for r in inbox_of(s) if r.id != poison]
    assert {(r.status, r.attempts, r.last_error) for r in good} == {("done", 1, None)}
    assert s.notifications() == sorted(("csm-alice", key, "moved_to_development") for key in keys)
    pushed = issue_pushes(s)
    assert pushed == {(f"jira.issue.{kind}", key): 1 for key in keys for kind in ("created", "moved_to_development")}
    failed = next(r for r in inbox_of(s) if r.id == poison)
    assert failed.status == "failed" and failed.attempts == 1
    assert "JiraNotFound" in failed.last_error and "404" in failed.last_error
    assert failed.next_attempt_at >= before + timedelta(seconds=inbox.RETRY_BASE_S / 2)  # the first backoff

    # Not due yet (its retry time put later still, so the test need not race the backoff): left alone.
    failed.next_attempt_at = utcnow() + timedelta(hours=1)
    retry_at(s, poison, failed.next_attempt_at)
    assert drain(s) == {}
    again = next(r for r in inbox_of(s) if r.id == poison)
    assert (again.status, again.attempts, again.next_attempt_at, again.last_error) == (
        "failed", 1, failed.next_attempt_at, failed.last_error)

    # Its retry time comes while Jira still lacks the issue: tried again, failed again, later again.
    retry_at(s, poison, utcnow() - timedelta(seconds=1))
    before = utcnow()
    assert drain(s) == {"failed": 1}
    retried = next(r for r in inbox_of(s) if r.id == poison)
    assert (retried.status, retried.attempts) == ("failed", 2) and retried.next_attempt_at > before

    # The issue exists now: the next retry goes through, and nothing of the others is repeated.
    assert s.create_issue("Checkout fails again", ["customer_acme"]) == missing
    s.flush()
    retry_at(s, poison, utcnow() - timedelta(seconds=1))
    assert drain(s) == {"done": 2}
    healed = next(r for r in inbox_of(s) if r.id == poison)
    assert (healed.status, healed.attempts, healed.last_error) == ("done", 3, None)
    with s.live.app.app_context():
        assert db.session.scalar(select(func.count()).select_from(JiraIssue)) == 4
        db.session.remove()
    assert s.notifications() == sorted(("csm-alice", key, "moved_to_development") for key in keys)
    assert issue_pushes(s) == pushed + Counter({("jira.issue.created", missing): 1}) and not s.receiver.duplicates
