"""Workspace lookups shared by every tenant-scoped domain function."""

from __future__ import annotations

from sqlalchemy.exc import IntegrityError

from connect_app.extensions import db
from connect_app.models import Organization


def ensure_organization(workspace_id: str, name: str | None = None) -> Organization:
    """The workspace's organization row, created on first use (CSCX.AI signs the workspace id)."""
    org = db.session.get(Organization, workspace_id)
    if org is not None:
        return org
    org = Organization(id=workspace_id, name=name or workspace_id, settings={})
    db.session.add(org)
    try:
        db.session.commit()
    except IntegrityError:  # another request created it first
        db.session.rollback()
        org = db.session.get(Organization, workspace_id)
    return org
