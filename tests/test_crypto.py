"""Secrets at rest are encrypted; keys rotate without losing anything."""

from __future__ import annotations

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import text

from connect_app import crypto
from connect_app.extensions import db
from connect_app.models import JiraConnection
from connect_app.platform.keys import rotate_all
from tests.factories import make_connection, make_organization

PLAINTEXT = "super-secret-shared-value-1234567890"


def raw_column(connection_id, column: str) -> str:
    """The stored bytes of a column, read without the model's type processing."""
    return db.session.execute(
        text(f"SELECT {column} FROM jira_connections WHERE id = :id"),
        {"id": connection_id.hex if db.engine.dialect.name == "sqlite" else connection_id},
    ).scalar_one()


def test_secret_columns_never_hold_plaintext(app):
    org = make_organization()
    connection = make_connection(org, shared_secret=PLAINTEXT, access_token="at-" + PLAINTEXT,
                                 refresh_token="rt-" + PLAINTEXT, api_token="pat-" + PLAINTEXT,
                                 webhook_secret="wh-" + PLAINTEXT)
    for column in ("shared_secret_encrypted", "access_token_encrypted", "refresh_token_encrypted",
                   "api_token_encrypted", "webhook_secret_encrypted"):
        stored = raw_column(connection.id, column)
        assert PLAINTEXT not in stored
        assert stored.startswith("gAAAA")  # a Fernet token
    connection_id = connection.id
    db.session.expunge_all()
    assert db.session.get(JiraConnection, connection_id).shared_secret == PLAINTEXT


def test_rotation_re_encrypts_under_the_new_key(app):
    org = make_organization()
    old_key = app.config["ENCRYPTION_KEYS"][0]
    connection_id = make_connection(org, shared_secret=PLAINTEXT).id
    before = raw_column(connection_id, "shared_secret_encrypted")
    new_key = crypto.new_key()
    crypto.configure([new_key, old_key])
    try:
        assert rotate_all() >= 1
        after = raw_column(connection_id, "shared_secret_encrypted")
        assert after != before
        assert Fernet(new_key.encode()).decrypt(after.encode()).decode() == PLAINTEXT
        crypto.configure([new_key])  # the old key can now be retired
        db.session.expunge_all()
        assert db.session.get(JiraConnection, connection_id).shared_secret == PLAINTEXT
    finally:
        crypto.configure([old_key])


def test_wrong_key_gives_a_clear_error_without_the_secret(app):
    org = make_organization()
    old_key = app.config["ENCRYPTION_KEYS"][0]
    connection_id = make_connection(org, shared_secret=PLAINTEXT).id
    crypto.configure([crypto.new_key()])
    try:
        db.session.expunge_all()
        with pytest.raises(crypto.SecretBoxError) as info:
            db.session.get(JiraConnection, connection_id)
        assert PLAINTEXT not in str(info.value)
    finally:
        crypto.configure([old_key])
        db.session.rollback()


def test_malformed_keys_are_refused():
    with pytest.raises(crypto.SecretBoxError, match="32 bytes"):
        crypto.SecretBox(["c2hvcnQ="])
    with pytest.raises(crypto.SecretBoxError, match="not set"):
        crypto.SecretBox([])
