"""Pushes to CSCX.AI: retried through an outage and received once each, dead-lettered when hopeless."""

from __future__ import annotations

import requests
from sqlalchemy import select

from connect_app.extensions import db
from connect_app.models import OutboxMessage
from connect_app.tracking import sweeps
from tests.conftest import auth_headers
from tests.tracking.support import WORKSPACE, wait_for


def sweep(s) -> None:
    """One pass of the periodic sweep (what the scheduler runs every few seconds)."""
    with s.live.app.app_context():
        sweeps.sweep()
        db.session.remove()


def messages(s) -> list[tuple[str, str, int]]:
    """(idempotency key, status, attempts) of every outbox message."""
    with s.live.app.app_context():
        rows = db.session.execute(select(OutboxMessage.idempotency_key, OutboxMessage.status,
                                         OutboxMessage.attempts)).all()
        db.session.remove()
    return [tuple(r) for r in rows]


def sweeping_until(s, predicate, message, timeout=60):
    def check():
        sweep(s)
        return predicate()
    return wait_for(check, timeout, message)


def test_a_receiver_that_fails_for_a_while_gets_every_push_once(tracked_site):
    s = tracked_site
    s.receiver.fail_with = 503
    key = s.create_issue("Billing sync stalls", ["customer_acme", "customer_globex"])
    s.transition(key, "In Progress")
    s.transition(key, "Done")
    s.flush()
    sweeping_until(s, lambda: s.receiver.refused >= 12 and all(a >= 2 for _, _, a in messages(s)),
                   "retries against the failing receiver")
    assert not s.receiver.accepted
    s.receiver.fail_with = None
    sweeping_until(s, lambda: {st for _, st, _ in messages(s)} == {"delivered"}, "every push delivered")
    keys = {k for k, _, _ in messages(s)}
    assert set(s.receiver.accepted) == keys
    assert not s.receiver.duplicates and not s.receiver.bad_signatures
    topics = sorted(d["topic"] for d in s.receiver.accepted.values() if d["topic"].startswith("jira.issue."))
    assert topics == ["jira.issue.created", "jira.issue.moved_to_development", "jira.issue.resolved"]


def test_dead_letters_are_listed_and_can_be_requeued(tracked_site):
    s = tracked_site
    s.live.app.config["OUTBOX_DEAD_AFTER_S"] = 1.0
    s.receiver.fail_with = 503
    s.create_issue("Reports empty", ["customer_initech"])
    s.flush()
    sweeping_until(s, lambda: messages(s) and {st for _, st, _ in messages(s)} == {"dead"}, "dead letters")
    admin = auth_headers(WORKSPACE, "admin", "admin-1")
    listing = requests.get(f"{s.live.base_url}/api/admin/outbox?status=dead", headers=admin, timeout=10).json()
    assert listing["counts"] == {"dead": len(messages(s))}
    assert {m["last_error"][:8] for m in listing["messages"]} == {"HTTP 503"}
    csm = auth_headers(WORKSPACE, "csm", "csm-alice")
    assert requests.get(f"{s.live.base_url}/api/admin/outbox", headers=csm, timeout=10).status_code == 403

    s.receiver.fail_with = None
    s.live.app.config["OUTBOX_DEAD_AFTER_S"] = 3600.0
    for message in listing["messages"]:
        response = requests.post(f"{s.live.base_url}/api/admin/outbox/{message['id']}/retry", headers=admin,
                                 timeout=10)
        assert response.status_code == 200
    again = requests.post(f"{s.live.base_url}/api/admin/outbox/{listing['messages'][0]['id']}/retry",
                          headers=admin, timeout=10)
    assert again.status_code == 409
    sweeping_until(s, lambda: {st for _, st, _ in messages(s)} == {"delivered"}, "re-queued pushes delivered")
    assert set(s.receiver.accepted) == {k for k, _, _ in messages(s)} and not s.receiver.duplicates


def test_a_push_the_receiver_rejects_is_dead_at_once(tracked_site):
    s = tracked_site
    s.receiver.fail_with = 422
    s.create_issue("Typo in invoice", ["customer_acme"])
    s.flush()
    wait_for(lambda: messages(s) and {st for _, st, _ in messages(s)} == {"dead"}, 30, "rejected pushes")
    assert {a for _, _, a in messages(s)} == {1}
