"""Key rotation: re-encrypt every secret column under the newest ENCRYPTION_KEY."""

from __future__ import annotations

from sqlalchemy import Text, literal, literal_column, select, update

from connect_app import crypto
from connect_app.extensions import db
from connect_app.models import JiraConnection, OAuthState
from connect_app.models.types import EncryptedText


def _encrypted_columns(model) -> list:
    return [c for c in model.__table__.columns if isinstance(c.type, EncryptedText)]


def rotate_all() -> int:
    """Rotate every encrypted value in one transaction; returns how many values changed."""
    box = crypto.box()
    changed = 0
    for model in (JiraConnection, OAuthState):
        table = model.__table__
        columns = _encrypted_columns(model)
        # Read raw ciphertext (no type processing), rotate, write raw ciphertext back.
        raw = [literal_column(c.name, Text) for c in columns]
        rows = db.session.execute(select(table.c.id, *raw)).all()
        for row in rows:
            values = {}
            for column in columns:
                token = getattr(row, column.name)
                if token:
                    values[column.name] = box.rotate(token)
            if values:
                db.session.execute(
                    update(table).where(table.c.id == row.id).values(
                        {table.c[name]: literal(v, type_=Text) for name, v in values.items()}
                    )
                )
                changed += len(values)
    db.session.commit()
    return changed
