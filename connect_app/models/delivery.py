"""Inbound webhooks, outbound pushes, subscriptions and in-app notifications."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Enum, ForeignKey, Index, LargeBinary, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from connect_app.extensions import db
from connect_app.models.types import JSONType, UTCDateTime, new_uuid, utcnow

INBOX_STATUSES = ("pending", "processing", "done", "failed", "dead")
OUTBOX_STATUSES = ("pending", "delivering", "delivered", "dead")
SUBSCRIPTION_SCOPES = ("issue", "customer", "owner")


class WebhookDelivery(db.Model):
    """A verified webhook delivery, stored before it is acknowledged; processed by a job."""

    __tablename__ = "webhook_inbox"
    __table_args__ = (
        UniqueConstraint("connection_id", "delivery_id", name="uq_webhook_inbox_connection_delivery"),
        # A signed body is one delivery whatever identifier header comes with it (the header is not signed).
        UniqueConstraint("connection_id", "body_sha256", name="uq_webhook_inbox_connection_body"),
        Index("ix_webhook_inbox_status_next", "status", "next_attempt_at"),
        # Batch claims: oldest due first, and not while another delivery of the same issue is in flight.
        Index("ix_webhook_inbox_status_received", "status", "received_at"),
        Index("ix_webhook_inbox_issue_status", "connection_id", "jira_key", "status"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_uuid)
    connection_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("jira_connections.id", ondelete="CASCADE"))
    delivery_id: Mapped[str] = mapped_column(String(200))  # X-Atlassian-Webhook-Identifier or content hash
    body_sha256: Mapped[str | None] = mapped_column(String(64))  # hex SHA-256 of the body as received
    event_type: Mapped[str] = mapped_column(String(80))
    jira_key: Mapped[str | None] = mapped_column(String(60))
    event_ts: Mapped[int | None] = mapped_column(BigInteger)  # Jira's `timestamp` (ms)
    payload: Mapped[dict[str, Any]] = mapped_column(JSONType)  # as received, or cleaned when it had to be
    # The body exactly as Jira signed it, kept only when `payload` had to be cleaned to be storable
    # (NUL, unpaired surrogates, NaN or out-of-range numbers: see platform.storable).
    raw_body: Mapped[bytes | None] = mapped_column(LargeBinary)
    status: Mapped[str] = mapped_column(
        Enum(*INBOX_STATUSES, name="inbox_status", native_enum=False, create_constraint=True), default="pending"
    )
    attempts: Mapped[int] = mapped_column(default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    locked_by: Mapped[str | None] = mapped_column(String(120))
    locked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    processed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class OutboxMessage(db.Model):
    """A push to CSCX.AI, written in the transaction that caused it and delivered by a job."""

    __tablename__ = "outbox"
    __table_args__ = (Index("ix_outbox_status_next", "status", "next_attempt_at"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_uuid)
    organization_id: Mapped[str] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    topic: Mapped[str] = mapped_column(String(80))  # e.g. jira.issue.resolved, customer.context
    idempotency_key: Mapped[str] = mapped_column(String(200), unique=True)
    payload: Mapped[dict[str, Any]] = mapped_column(JSONType)
    status: Mapped[str] = mapped_column(
        Enum(*OUTBOX_STATUSES, name="outbox_status", native_enum=False, create_constraint=True), default="pending"
    )
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=utcnow)
    last_error: Mapped[str | None] = mapped_column(Text)
    locked_by: Mapped[str | None] = mapped_column(String(120))
    locked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class Subscription(db.Model):
    """Someone wants to hear about an issue, a customer, or (default) the customers they own."""

    __tablename__ = "subscriptions"
    __table_args__ = (
        UniqueConstraint("organization_id", "user_id", "target", name="uq_subscriptions_org_user_target"),
        Index("ix_subscriptions_org_target", "organization_id", "target"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_uuid)
    organization_id: Mapped[str] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    user_id: Mapped[str] = mapped_column(String(200))
    user_email: Mapped[str | None] = mapped_column(String(320))
    scope: Mapped[str] = mapped_column(
        Enum(*SUBSCRIPTION_SCOPES, name="subscription_scope", native_enum=False, create_constraint=True)
    )
    # "issue:<connection id>:<KEY>", "customer:<customer id>" or "owner": one string so the
    # uniqueness of a subscription is one constraint on every backend.
    target: Mapped[str] = mapped_column(String(300))
    connection_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("jira_connections.id", ondelete="CASCADE"))
    jira_key: Mapped[str | None] = mapped_column(String(60))
    customer_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"))
    event_kinds: Mapped[list[str]] = mapped_column(JSONType, default=list)  # empty: every kind
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Notification(db.Model):
    """One in-app notification for one person about one issue event; unique so nobody hears twice."""

    __tablename__ = "notifications"
    __table_args__ = (
        UniqueConstraint("organization_id", "user_id", "event_id", name="uq_notifications_org_user_event"),
        Index("ix_notifications_org_user_created", "organization_id", "user_id", "created_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_uuid)
    organization_id: Mapped[str] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    user_id: Mapped[str] = mapped_column(String(200))
    event_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("issue_events.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(40))
    jira_key: Mapped[str] = mapped_column(String(60))
    title: Mapped[str] = mapped_column(String(500))
    details: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    read_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
