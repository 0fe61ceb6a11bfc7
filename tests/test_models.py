"""Every model round-trips through the database with its types intact."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from connect_app.extensions import db
from connect_app.models import (
    AuditEntry,
    DraftApproval,
    IssueDraft,
    IssueEvent,
    IssueStatusChange,
    JiraCustomerLink,
    LinkingRule,
    Notification,
    OutboxMessage,
    SlaPolicy,
    SlaResult,
    Subscription,
    SyncRun,
    WebhookDelivery,
)
from connect_app.models.types import utcnow
from tests.factories import make_connection, make_customer, make_issue, make_organization

WHEN = datetime(2026, 3, 4, 5, 6, 7, tzinfo=UTC)


def reload(obj):
    """Fetch obj again from the database, bypassing the session's identity map."""
    key = obj.id
    db.session.expunge_all()
    return db.session.get(type(obj), key)


def test_customer_round_trip(app):
    org = make_organization()
    customer = make_customer(org, name="Acme Corp", slug="acme-corp", arr=Decimal("1234567.89"),
                             renewal_date=date(2027, 1, 31), health_score=88,
                             stakeholders=[{"name": "Ana Garcia", "email": "ana@acme.example", "role": "CTO"}])
    again = reload(customer)
    assert again.arr == Decimal("1234567.89")
    assert again.renewal_date == date(2027, 1, 31)
    assert again.stakeholders[0]["email"] == "ana@acme.example"
    assert again.created_at.tzinfo is not None


def test_issue_link_history_and_event_round_trip(app):
    org = make_organization()
    connection = make_connection(org)
    customer = make_customer(org)
    issue = make_issue(connection, labels=["customer_acme", "p1"], components=["API"],
                       custom_fields={"customfield_10001": "acme-id"}, updated_at=WHEN, version_ts=1_700_000_000_123)
    rule = LinkingRule(organization_id=org.id, customer_id=customer.id, strategy="label", value="customer_acme",
                       link_type="affected")
    db.session.add(rule)
    db.session.flush()
    db.session.add_all([
        JiraCustomerLink(connection_id=connection.id, issue_id=issue.id, jira_key=issue.jira_key,
                         customer_id=customer.id, link_type="affected", source="rule", rule_id=rule.id),
        IssueStatusChange(connection_id=connection.id, issue_id=issue.id, change_id="10500", from_status="To Do",
                          to_status="In Progress", from_category="new", to_category="indeterminate",
                          changed_at=WHEN),
        IssueEvent(connection_id=connection.id, issue_id=issue.id, jira_key=issue.jira_key,
                   kind="moved_to_development", dedupe_key="10500:moved_to_development", occurred_at=WHEN),
    ])
    db.session.commit()
    again = reload(issue)
    assert again.labels == ["customer_acme", "p1"]
    assert again.custom_fields == {"customfield_10001": "acme-id"}
    assert again.updated_at == WHEN
    assert again.version_ts == 1_700_000_000_123
    assert [link.source for link in again.links] == ["rule"]
    change = db.session.scalars(select(IssueStatusChange)).one()
    assert change.changed_at == WHEN and change.changed_at.tzinfo is not None


def test_every_other_model_round_trips(app):
    org = make_organization()
    connection = make_connection(org)
    customer = make_customer(org)
    issue = make_issue(connection)
    event = IssueEvent(connection_id=connection.id, issue_id=issue.id, jira_key=issue.jira_key, kind="resolved",
                       dedupe_key="1:resolved", occurred_at=WHEN)
    policy = SlaPolicy(organization_id=org.id, name="P1 fix", metric="time_to_resolution",
                       definition={"target": "8h", "selector": {"priorities": ["Highest"]}})
    draft = IssueDraft(organization_id=org.id, connection_id=connection.id, customer_id=customer.id,
                       project_key="CS", issue_type="Story", summary="Export to CSV", requested_by="u-csm")
    db.session.add_all([event, policy, draft])
    db.session.flush()
    rows = [
        WebhookDelivery(connection_id=connection.id, delivery_id="d-1", event_type="jira:issue_updated",
                        payload={"webhookEvent": "jira:issue_updated"}, event_ts=1),
        OutboxMessage(organization_id=org.id, topic="jira.issue.resolved", idempotency_key="k-1",
                      payload={"key": "CS-1"}),
        Subscription(organization_id=org.id, user_id="u-csm", scope="issue",
                     target=f"issue:{connection.id}:CS-1", connection_id=connection.id, jira_key="CS-1",
                     event_kinds=["resolved"]),
        Notification(organization_id=org.id, user_id="u-csm", event_id=event.id, kind="resolved",
                     jira_key="CS-1", title="CS-1 resolved"),
        SlaResult(organization_id=org.id, policy_id=policy.id, issue_id=issue.id, state="breached",
                  started_at=issue.created_at or utcnow(), elapsed_seconds=30_000, target_seconds=28_800),
        DraftApproval(organization_id=org.id, draft_id=draft.id, approver_id="u-boss", decision="approved"),
        AuditEntry(organization_id=org.id, actor_type="jira_user", actor_id="557058:abc", action="link.added",
                   details={"customer": str(customer.id)}),
        SyncRun(connection_id=connection.id, mode="full", counts={"issues": 3}),
    ]
    db.session.add_all(rows)
    db.session.commit()
    keys = [(type(row), row.id) for row in rows]
    db.session.expunge_all()
    for model, key in keys:
        assert db.session.get(model, key) is not None, model.__name__


def test_unique_link_per_issue_and_customer(app):
    org = make_organization()
    connection = make_connection(org)
    customer = make_customer(org)
    issue = make_issue(connection)
    for source in ("rule", "manual"):
        db.session.add(JiraCustomerLink(connection_id=connection.id, issue_id=issue.id, jira_key=issue.jira_key,
                                        customer_id=customer.id, link_type="affected", source=source))
    with pytest.raises(IntegrityError):
        db.session.commit()
    db.session.rollback()


def test_check_constraints_hold_in_the_database(app):
    org = make_organization()
    with pytest.raises(IntegrityError):
        make_customer(org, health_score=101)
    db.session.rollback()
    with pytest.raises(IntegrityError):
        make_customer(org, tier="platinum")
    db.session.rollback()


def test_naive_datetimes_are_refused(app):
    org = make_organization()
    connection = make_connection(org)
    with pytest.raises(Exception, match="naive datetime"):
        make_issue(connection, updated_at=datetime(2026, 1, 1) + timedelta(0))
    db.session.rollback()
