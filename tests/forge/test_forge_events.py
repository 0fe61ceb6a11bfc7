"""Forge issue events as Jira webhooks (pure), and the cached system token as the Forge client's credential."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from connect_app.atlassian.forge_events import UnusableForgeEvent, forge_event_id, webhook_payload
from connect_app.connections.access import forge_system_token, jira_client
from connect_app.connections.forge_installations import SYSTEM_TOKEN_LIFETIME, remember_system_token
from connect_app.connections.records import TokenUnavailable
from connect_app.models.types import utcnow
from tests.factories import make_connection

EVENT = {"id": "evt-1", "eventType": "avi:jira:updated:issue", "atlassianId": "557058:eve",
         "issue": {"id": "10001", "key": "CS-1", "fields": {"summary": "x", "updated": "2026-12-01T10:00:00.000+0000"}},
         "changelog": {"id": "20001", "items": [{"field": "status", "fieldId": "status"}]}}


def test_an_issue_event_becomes_the_webhook_jira_would_send():
    payload = webhook_payload(EVENT)
    assert payload["webhookEvent"] == "jira:issue_updated"
    # Only the issue's identity: the pipeline reads the full issue from Jira.
    assert payload["issue"] == {"id": "10001", "key": "CS-1"}
    assert payload["changelog"] == EVENT["changelog"]
    assert payload["user"] == {"accountId": "557058:eve"}
    assert payload["timestamp"] == int(datetime(2026, 12, 1, 10, tzinfo=UTC).timestamp() * 1000)


@pytest.mark.parametrize("event", [None, [], {"eventType": "avi:jira:created:comment", "issue": {}},
                                   {"eventType": "avi:jira:created:issue"}])
def test_anything_else_is_refused(event):
    with pytest.raises(UnusableForgeEvent):
        webhook_payload(event)


def test_retries_of_one_event_share_its_id():
    assert forge_event_id(EVENT) == forge_event_id({**EVENT, "retryContext": {"retryCount": 2}}) == "forge:evt-1"
    no_id = {k: v for k, v in EVENT.items() if k != "id"}
    assert forge_event_id(no_id) == forge_event_id({**no_id, "retryContext": {"retryCount": 1}})
    assert forge_event_id(no_id).startswith("forge:sha256:")
    assert forge_event_id(no_id) != forge_event_id({**no_id, "changelog": {"id": "20002", "items": []}})


def test_the_forge_client_uses_the_cached_system_token_until_it_expires(app):
    connection = make_connection(None, kind="forge", installation_id="ari:cloud:ecosystem::installation/x",
                                 base_url="https://api.atlassian.com/ex/jira/cloud-1", cloud_id="cloud-1")
    with pytest.raises(TokenUnavailable):
        jira_client(connection)
    assert remember_system_token(connection, "forge-sys-one")
    client = jira_client(connection)
    assert client.session.headers["Authorization"] == "Bearer forge-sys-one"
    assert jira_client(connection, user_token="forge-usr-eve").session.headers["Authorization"] == \
        "Bearer forge-usr-eve"
    # A newer token within the refresh step is not written (no write per invocation)...
    assert not remember_system_token(connection, "forge-sys-two")
    # ...one that buys real life is.
    assert remember_system_token(connection, "forge-sys-three", received_at=utcnow() + timedelta(minutes=30))
    assert forge_system_token(connection) == "forge-sys-three"
    connection.token_expires_at = utcnow() - timedelta(seconds=1)
    with pytest.raises(TokenUnavailable):
        forge_system_token(connection)
    assert timedelta(hours=2) == SYSTEM_TOKEN_LIFETIME
