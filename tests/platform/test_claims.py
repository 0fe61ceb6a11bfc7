"""Bulk insert-or-skip: every column type survives the trip, clashes are skipped, keys come back in order."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal

from sqlalchemy import select

from connect_app.extensions import db
from connect_app.models import Customer
from connect_app.platform import claims
from tests.factories import make_customer, make_organization


def _row(org, n: int, **overrides) -> dict:
    return {"id": uuid.uuid4(), "organization_id": org.id, "name": f"Bulk {n}", "name_key": f"bulk {n}",
            "slug": f"bulk-{n}", "arr": Decimal("1234567.89"), "renewal_date": date(2027, 2, 1),
            "stakeholders": [{"name": "Dana \"D\" O'Neil", "roles": ["champion"], "nested": {"ok": True}}],
            "created_at": datetime(2026, 12, 3, 9, 30, tzinfo=timezone(timedelta(hours=-5)))} | overrides


def test_rows_are_inserted_with_every_type_intact_and_clashes_skipped(app):
    org = make_organization()
    existing = make_customer(org, slug="bulk-1").id
    workspace = org.id
    rows = [_row(org, 0), _row(org, 1), _row(org, 2, health_score=None, tier=None), _row(org, 3, arr=Decimal("0.5"))]
    inserted = claims.insert_ignore_many(Customer, rows, conflict=("organization_id", "slug"))
    db.session.commit()
    # The clash on (workspace, slug) is skipped; the others come back in the order given.
    assert inserted == [rows[0]["id"], rows[2]["id"], rows[3]["id"]]
    db.session.expunge_all()
    stored = {c.slug: c for c in db.session.scalars(select(Customer).where(Customer.organization_id == workspace))}
    assert stored["bulk-1"].id == existing
    first = stored["bulk-0"]
    assert first.arr == Decimal("1234567.89") and stored["bulk-3"].arr == Decimal("0.50")
    assert first.renewal_date == date(2027, 2, 1)
    assert first.stakeholders == rows[0]["stakeholders"]
    assert first.created_at == datetime(2026, 12, 3, 14, 30, tzinfo=UTC)
    # Columns left out get their model defaults; explicit Nones stay None.
    assert first.updated_at is not None and first.external_id is None and stored["bulk-2"].tier is None


def test_nothing_to_insert_and_everything_clashing(app):
    org = make_organization()
    assert claims.insert_ignore_many(Customer, [], conflict=("organization_id", "slug")) == []
    rows = [_row(org, 7)]
    assert claims.insert_ignore_many(Customer, rows, conflict=("organization_id", "slug")) == [rows[0]["id"]]
    again = [_row(org, 7)]
    assert claims.insert_ignore_many(Customer, again, conflict=("organization_id", "slug")) == []
