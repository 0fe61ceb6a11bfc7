"""Jira fields: each site's field catalog, and the field-by-field change history of issues.

Jira names a custom field only in `GET /field` (an issue carries `customfield_10042`, not "Customer
Tier"), so each connection keeps the catalog its last sync fetched; pages and the API read names and
value types from it without calling Jira. The change history keeps every changelog item (who changed
which field from what to what, when); status changes also stay in `issue_status_history`, which the
time-in-status and SLA clocks read.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from connect_app.extensions import db
from connect_app.models.types import UTCDateTime, new_uuid, utcnow


class JiraField(db.Model):
    """One field of a connection's Jira site as `GET /field` lists it (system and custom)."""

    __tablename__ = "jira_fields"
    __table_args__ = (Index("ix_jira_fields_connection_name", "connection_id", "name_key"),)

    connection_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("jira_connections.id", ondelete="CASCADE"),
                                                     primary_key=True)
    field_id: Mapped[str] = mapped_column(String(255), primary_key=True)  # customfield_10042, status, ...
    name: Mapped[str] = mapped_column(String(255))
    name_key: Mapped[str] = mapped_column(String(255))  # casefolded name: settings name fields in any case
    custom: Mapped[bool] = mapped_column(default=False)
    schema_type: Mapped[str | None] = mapped_column(String(60))  # string, number, date, datetime, user, array, ...
    schema_items: Mapped[str | None] = mapped_column(String(60))  # what an array holds
    custom_type: Mapped[str | None] = mapped_column(String(255))  # e.g. ...customfieldtypes:datepicker
    refreshed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class IssueFieldChange(db.Model):
    """One item of an issue's changelog: a field changed from one value to another, by someone, at a time."""

    __tablename__ = "issue_field_changes"
    __table_args__ = (
        # A webhook and a later sync see the same history id: the second write is a no-op.
        UniqueConstraint("issue_id", "change_id", "field_key", "seq", name="uq_issue_field_changes_item"),
        Index("ix_issue_field_changes_issue_changed", "issue_id", "changed_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_uuid)
    connection_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("jira_connections.id", ondelete="CASCADE"))
    issue_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("jira_issues.id", ondelete="CASCADE"))
    change_id: Mapped[str] = mapped_column(String(60))  # Jira's changelog history id
    field_key: Mapped[str] = mapped_column(String(255))  # the item's fieldId, or its field name where Jira gives none
    seq: Mapped[int] = mapped_column(default=0)  # nth item of this field in the history (one per component, ...)
    field: Mapped[str] = mapped_column(String(255))  # the field as the changelog names it
    from_value: Mapped[str | None] = mapped_column(Text)  # Jira's fromString (display text), shortened
    to_value: Mapped[str | None] = mapped_column(Text)
    author_id: Mapped[str | None] = mapped_column(String(200))
    author_name: Mapped[str | None] = mapped_column(String(200))
    changed_at: Mapped[datetime] = mapped_column(UTCDateTime)
