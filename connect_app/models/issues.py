"""Jira issues as last synced, their customer links, status history and classified events."""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import BigInteger, Enum, Float, ForeignKey, Index, Numeric, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from connect_app.extensions import db
from connect_app.models.customers import LINK_TYPES
from connect_app.models.types import JSONType, UTCDateTime, new_uuid, utcnow

LINK_SOURCES = ("rule", "manual", "created")
IMPACT_SEVERITIES = ("critical", "high", "medium", "low")
TIER_BITS = {"enterprise": 1, "mid_market": 2, "smb": 4, "startup": 8}
STATUS_CATEGORIES = ("new", "indeterminate", "done")
EVENT_KINDS = (
    "created",
    "resolved",
    "reopened",
    "moved_to_development",
    "priority_changed",
    "assignee_changed",
    "status_changed",
    "deleted",
    "sla_at_risk",
    "sla_breached",
)


class JiraIssue(db.Model):
    """One Jira issue of one connection; rebuilt from Jira by any sync (Jira is the source of truth)."""

    __tablename__ = "jira_issues"
    __table_args__ = (
        UniqueConstraint("connection_id", "jira_key", name="uq_jira_issues_connection_key"),
        UniqueConstraint("connection_id", "jira_id", name="uq_jira_issues_connection_jira_id"),
        Index("ix_jira_issues_connection_updated", "connection_id", "updated_at"),
        Index("ix_jira_issues_connection_category", "connection_id", "status_category"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_uuid)
    connection_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("jira_connections.id", ondelete="CASCADE"))
    jira_id: Mapped[str] = mapped_column(String(40))  # Jira's numeric id: stable when an issue is moved
    jira_key: Mapped[str] = mapped_column(String(60))
    project_key: Mapped[str] = mapped_column(String(40))
    summary: Mapped[str] = mapped_column(Text, default="")
    issue_type: Mapped[str | None] = mapped_column(String(50))
    status: Mapped[str | None] = mapped_column(String(80))
    status_id: Mapped[str | None] = mapped_column(String(40))
    status_category: Mapped[str | None] = mapped_column(
        Enum(*STATUS_CATEGORIES, name="status_category", native_enum=False, create_constraint=True)
    )
    priority: Mapped[str | None] = mapped_column(String(50))
    resolution: Mapped[str | None] = mapped_column(String(80))
    assignee_id: Mapped[str | None] = mapped_column(String(200))  # accountId (Cloud) or key (Server)
    assignee_name: Mapped[str | None] = mapped_column(String(200))
    reporter_id: Mapped[str | None] = mapped_column(String(200))
    reporter_name: Mapped[str | None] = mapped_column(String(200))
    labels: Mapped[list[str]] = mapped_column(JSONType, default=list)
    components: Mapped[list[str]] = mapped_column(JSONType, default=list)
    custom_fields: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    created_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Jira's event clock for this row: an older webhook never overwrites newer state.
    version_ts: Mapped[int] = mapped_column(BigInteger, default=0)
    deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    synced_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    links: Mapped[list[JiraCustomerLink]] = relationship(back_populates="issue", passive_deletes=True)


class JiraCustomerLink(db.Model):
    """That an issue matters to a customer, and why (a rule, a person, or the issue was created for them)."""

    __tablename__ = "jira_customer_links"
    __table_args__ = (
        UniqueConstraint("issue_id", "customer_id", name="uq_jira_customer_links_issue_customer"),
        Index("ix_jira_customer_links_customer", "customer_id"),
        Index("ix_jira_customer_links_connection_key", "connection_id", "jira_key"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_uuid)
    connection_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("jira_connections.id", ondelete="CASCADE"))
    issue_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("jira_issues.id", ondelete="CASCADE"))
    jira_key: Mapped[str] = mapped_column(String(60))
    customer_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"))
    link_type: Mapped[str] = mapped_column(
        Enum(*LINK_TYPES, name="link_type", native_enum=False, create_constraint=True)
    )
    source: Mapped[str] = mapped_column(
        Enum(*LINK_SOURCES, name="link_source", native_enum=False, create_constraint=True)
    )
    rule_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("linking_rules.id", ondelete="SET NULL"))
    created_by: Mapped[str | None] = mapped_column(String(200))  # Jira accountId or CSCX.AI user id
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    issue: Mapped[JiraIssue] = relationship(back_populates="links")


class IssueStatusChange(db.Model):
    """One status transition of an issue, from Jira's changelog; time-in-status is computed from these."""

    __tablename__ = "issue_status_history"
    __table_args__ = (
        UniqueConstraint("issue_id", "change_id", name="uq_issue_status_history_issue_change"),
        Index("ix_issue_status_history_issue_changed", "issue_id", "changed_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_uuid)
    connection_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("jira_connections.id", ondelete="CASCADE"))
    issue_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("jira_issues.id", ondelete="CASCADE"))
    change_id: Mapped[str] = mapped_column(String(60))  # Jira changelog history id
    from_status: Mapped[str | None] = mapped_column(String(80))
    to_status: Mapped[str | None] = mapped_column(String(80))
    from_category: Mapped[str | None] = mapped_column(String(20))
    to_category: Mapped[str | None] = mapped_column(String(20))
    changed_at: Mapped[datetime] = mapped_column(UTCDateTime)
    changed_by: Mapped[str | None] = mapped_column(String(200))


class IssueEvent(db.Model):
    """A classified change of an issue (resolved, reopened, ...), recorded once; notifications fan out from it."""

    __tablename__ = "issue_events"
    __table_args__ = (
        UniqueConstraint("connection_id", "dedupe_key", name="uq_issue_events_connection_dedupe"),
        Index("ix_issue_events_connection_key", "connection_id", "jira_key"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_uuid)
    connection_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("jira_connections.id", ondelete="CASCADE"))
    issue_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("jira_issues.id", ondelete="SET NULL"))
    jira_key: Mapped[str] = mapped_column(String(60))
    kind: Mapped[str] = mapped_column(
        Enum(*EVENT_KINDS, name="issue_event_kind", native_enum=False, create_constraint=True)
    )
    dedupe_key: Mapped[str] = mapped_column(String(200))  # e.g. changelog id + kind
    details: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class IssueImpact(db.Model):
    """How badly one linked issue hurts the workspace's customers (derived: recomputed, never synced).

    `property_digest` is the digest of Jira's indexed issue property as last checked (None: it may
    have changed, check again) and `written_digest` what was last written to Jira, so Jira is only
    written when a value changes.
    """

    __tablename__ = "issue_impacts"
    __table_args__ = (
        Index("ix_issue_impacts_org_score", "organization_id", "score"),
        Index("ix_issue_impacts_connection", "connection_id"),
    )

    issue_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("jira_issues.id", ondelete="CASCADE"), primary_key=True)
    organization_id: Mapped[str] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    connection_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("jira_connections.id", ondelete="CASCADE"))
    score: Mapped[float] = mapped_column(Float, default=0.0)
    severity: Mapped[str] = mapped_column(
        Enum(*IMPACT_SEVERITIES, name="impact_severity", native_enum=False, create_constraint=True), default="low"
    )
    customers: Mapped[int] = mapped_column(default=0)
    # The tiers among the linked customers, one bit each (TIER_BITS), so a tier filter needs no join.
    tiers: Mapped[int] = mapped_column(default=0)
    arr: Mapped[Decimal] = mapped_column(Numeric(16, 2), default=Decimal("0"))  # ARR of the linked customers
    factors: Mapped[list[dict[str, Any]]] = mapped_column(JSONType, default=list)
    band_version: Mapped[int] = mapped_column(default=0)  # +1 per severity change (the push's idempotency key)
    computed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    property_digest: Mapped[str | None] = mapped_column(String(64))
    written_digest: Mapped[str | None] = mapped_column(String(64))

