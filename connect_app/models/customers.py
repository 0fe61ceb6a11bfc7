"""Customers (from CSCX.AI) and the rules that link Jira issues to them."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import CheckConstraint, Enum, ForeignKey, Index, Numeric, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from connect_app.extensions import db
from connect_app.models.types import JSONType, UTCDateTime, new_uuid, utcnow

LINK_TYPES = ("affected", "requested", "watching")
RULE_STRATEGIES = ("custom_field", "label", "component", "jql")
TIERS = ("enterprise", "mid_market", "smb", "startup")


class Customer(db.Model):
    """A customer account of a workspace, as CSCX.AI knows it."""

    __tablename__ = "customers"
    __table_args__ = (
        UniqueConstraint("organization_id", "slug", name="uq_customers_org_slug"),
        UniqueConstraint("organization_id", "external_id", name="uq_customers_org_external_id"),
        CheckConstraint("health_score >= 0 AND health_score <= 100", name="health_score_range"),
        CheckConstraint("arr >= 0", name="arr_non_negative"),
        Index("ix_customers_org_name_key", "organization_id", "name_key"),
        # The chat's cached name index is keyed by a workspace's customer count and latest change: read here.
        Index("ix_customers_org_updated", "organization_id", "updated_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_uuid)
    organization_id: Mapped[str] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(200))
    name_key: Mapped[str] = mapped_column(String(200))  # lower-cased name for prefix search
    slug: Mapped[str] = mapped_column(String(100))
    external_id: Mapped[str | None] = mapped_column(String(200))  # CSCX.AI's own id / CRM id
    arr: Mapped[Decimal] = mapped_column(Numeric(14, 2), default=Decimal("0"))
    tier: Mapped[str | None] = mapped_column(
        Enum(*TIERS, name="customer_tier", native_enum=False, create_constraint=True)
    )
    health_score: Mapped[int | None] = mapped_column()
    renewal_date: Mapped[date | None] = mapped_column()
    csm_owner_id: Mapped[str | None] = mapped_column(String(200))
    csm_owner_email: Mapped[str | None] = mapped_column(String(320))
    stakeholders: Mapped[list[dict[str, Any]]] = mapped_column(JSONType, default=list)
    # The Jira context last queued for CSCX.AI (digest and outbox message), so a change is pushed once.
    jira_context_digest: Mapped[str | None] = mapped_column(String(64))
    jira_context_message_id: Mapped[uuid.UUID | None] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class LinkingRule(db.Model):
    """One way a customer's issues are found in Jira: a custom-field value, label, component or JQL."""

    __tablename__ = "linking_rules"
    __table_args__ = (
        Index("ix_linking_rules_org_customer", "organization_id", "customer_id"),
        CheckConstraint(
            "(strategy = 'jql' AND jql IS NOT NULL) OR (strategy <> 'jql' AND value IS NOT NULL)",
            name="rule_has_operand",
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_uuid)
    organization_id: Mapped[str] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    customer_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"))
    connection_id: Mapped[uuid.UUID | None] = mapped_column(  # None: every connection of the workspace
        ForeignKey("jira_connections.id", ondelete="CASCADE")
    )
    strategy: Mapped[str] = mapped_column(
        Enum(*RULE_STRATEGIES, name="rule_strategy", native_enum=False, create_constraint=True)
    )
    field: Mapped[str | None] = mapped_column(String(200))  # custom field id or name, as the user wrote it
    field_id: Mapped[str | None] = mapped_column(String(100))  # resolved through /field, e.g. customfield_10001
    value: Mapped[str | None] = mapped_column(String(500))
    jql: Mapped[str | None] = mapped_column(Text)
    link_type: Mapped[str] = mapped_column(
        Enum(*LINK_TYPES, name="rule_link_type", native_enum=False, create_constraint=True)
    )
    position: Mapped[int] = mapped_column(default=0)
    created_by: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
