"""SLA policies and their per-issue results, issue drafts with their approvals, and the audit log."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import CheckConstraint, Enum, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from connect_app.extensions import db
from connect_app.models.types import JSONType, UTCDateTime, new_uuid, utcnow

SLA_METRICS = ("time_to_resolution", "time_to_development", "time_in_status")
SLA_STATES = ("running", "paused", "at_risk", "breached", "met", "met_late")
DRAFT_STATUSES = ("pending_approval", "approved", "rejected", "creating", "created", "failed", "withdrawn",
                  "linked_existing")
ACTOR_TYPES = ("cscx_user", "jira_user", "system")


class SlaPolicy(db.Model):
    """A service level for engineering issues customers wait on: what is timed, for which issues, against what.

    `definition` holds the validated policy as the API shows it: target, targets_by_tier,
    calendar, pause_statuses, selector and, for time_in_status, status / status_category / cumulative.
    """

    __tablename__ = "sla_policies"
    __table_args__ = (
        UniqueConstraint("organization_id", "name", name="uq_sla_policies_org_name"),
        CheckConstraint("warn_at_percent > 0 AND warn_at_percent <= 100", name="warn_range"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_uuid)
    organization_id: Mapped[str] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(200))
    metric: Mapped[str] = mapped_column(
        Enum(*SLA_METRICS, name="sla_metric", native_enum=False, create_constraint=True)
    )
    definition: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    warn_at_percent: Mapped[int] = mapped_column(default=80)
    active: Mapped[bool] = mapped_column(default=True)
    version: Mapped[int] = mapped_column(default=1)  # +1 per edit
    created_by: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class SlaResult(db.Model):
    """One cycle of one policy's clock on one issue: where it stands, and when it next changes state.

    `next_check_at` is the earliest of `warn_at` / `breach_at` still ahead while the clock runs, so
    the periodic check is one indexed query for what is due.
    """

    __tablename__ = "sla_results"
    __table_args__ = (
        # Issue first: evaluations read an issue's results by it (no separate issue index to maintain).
        UniqueConstraint("issue_id", "policy_id", "cycle", name="uq_sla_results_issue_policy_cycle"),
        Index("ix_sla_results_next_check", "next_check_at"),
        Index("ix_sla_results_org_state", "organization_id", "state"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_uuid)
    # The policy's workspace, copied for the board's queries; no foreign key of its own: the policy's
    # already ties each result to the workspace (and goes with it), and each checked key costs every insert.
    organization_id: Mapped[str] = mapped_column(String(64))
    policy_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("sla_policies.id", ondelete="CASCADE"))
    issue_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("jira_issues.id", ondelete="CASCADE"))
    cycle: Mapped[int] = mapped_column(default=1)  # a reopened issue starts a new cycle
    state: Mapped[str] = mapped_column(
        Enum(*SLA_STATES, name="sla_state", native_enum=False, create_constraint=True)
    )
    paused: Mapped[bool] = mapped_column(default=False)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    stopped_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    elapsed_seconds: Mapped[int] = mapped_column(default=0)  # business seconds, as of evaluated_at
    target_seconds: Mapped[int] = mapped_column()
    warn_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    breach_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    breached_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    next_check_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    evaluated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class IssueDraft(db.Model):
    """A Jira issue a CSM wants created for a customer, pre-filled with context, awaiting approval."""

    __tablename__ = "issue_drafts"
    __table_args__ = (
        Index("ix_issue_drafts_org_status", "organization_id", "status"),
        Index("ix_issue_drafts_status_next", "status", "next_attempt_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_uuid)
    organization_id: Mapped[str] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    connection_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("jira_connections.id", ondelete="CASCADE"))
    customer_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"))
    project_key: Mapped[str] = mapped_column(String(40))
    issue_type: Mapped[str] = mapped_column(String(50))
    summary: Mapped[str] = mapped_column(String(255))
    description: Mapped[str] = mapped_column(Text, default="")
    priority: Mapped[str | None] = mapped_column(String(50))
    labels: Mapped[list[str]] = mapped_column(JSONType, default=list)
    extra_fields: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    link_type: Mapped[str] = mapped_column(String(20), default="requested")
    status: Mapped[str] = mapped_column(
        Enum(*DRAFT_STATUSES, name="draft_status", native_enum=False, create_constraint=True),
        default="pending_approval",
    )
    requested_by: Mapped[str] = mapped_column(String(200))
    requested_by_email: Mapped[str | None] = mapped_column(String(320))
    stakeholder_ids: Mapped[list[str]] = mapped_column(JSONType, default=list)
    approvals_required: Mapped[int] = mapped_column(default=1)  # the workspace's setting when it was drafted
    # What Jira will be sent (fields with the rendered description), the priority suggestion and the
    # duplicate candidates, as shown to the requester and the approvers.
    preview: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    suggestion: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    duplicates: Mapped[list[dict[str, Any]]] = mapped_column(JSONType, default=list)
    jira_key: Mapped[str | None] = mapped_column(String(60))
    jira_issue_id: Mapped[str | None] = mapped_column(String(40))
    jira_url: Mapped[str | None] = mapped_column(String(500))
    error: Mapped[str | None] = mapped_column(Text)
    # Creating: claimed like inbox rows; the first attempt bounds the search for an issue a crash left behind.
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    first_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    locked_by: Mapped[str | None] = mapped_column(String(120))
    locked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class DraftApproval(db.Model):
    """An approver's decision on a draft."""

    __tablename__ = "draft_approvals"
    __table_args__ = (UniqueConstraint("draft_id", "approver_id", name="uq_draft_approvals_draft_approver"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_uuid)
    organization_id: Mapped[str] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    draft_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("issue_drafts.id", ondelete="CASCADE"))
    approver_id: Mapped[str] = mapped_column(String(200))
    decision: Mapped[str] = mapped_column(String(20))  # approved | rejected
    comment: Mapped[str | None] = mapped_column(Text)
    decided_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class AuditEntry(db.Model):
    """Who did what to which object, and when; never holds secrets."""

    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_log_org_created", "organization_id", "created_at"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_uuid)
    organization_id: Mapped[str | None] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    connection_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("jira_connections.id", ondelete="SET NULL"))
    actor_type: Mapped[str] = mapped_column(
        Enum(*ACTOR_TYPES, name="actor_type", native_enum=False, create_constraint=True)
    )
    actor_id: Mapped[str | None] = mapped_column(String(200))
    action: Mapped[str] = mapped_column(String(80))
    target_type: Mapped[str | None] = mapped_column(String(40))
    target_id: Mapped[str | None] = mapped_column(String(200))
    details: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
