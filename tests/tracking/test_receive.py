"""The webhook receiver: only verified deliveries are stored, once; bad bodies get a clear 4xx."""

from __future__ import annotations

import json
import time

import jwt
import pytest
from sqlalchemy import func, select
from werkzeug.wrappers import Response

from connect_app.atlassian.webhook_auth import hub_signature
from connect_app.extensions import db
from connect_app.models import WebhookDelivery
from tests.factories import make_connection, make_organization
from tests.jira_app.signing import tenant_token
from tests.serving import ThreadedServer
from tests.tracking.support import wait_for

PATH = "/api/integrations/jira/webhook"
OAUTH_SECRET = "oauth-client-secret-for-tests-0123456789"
CLOUD_ID = "11111111-2222-3333-4444-555555555555"


@pytest.fixture
def broken_jira():
    """A Jira that refuses every call (400), over real HTTP."""
    with ThreadedServer(Response('{"errorMessages": ["broken"]}', status=400)) as server:
        yield server.base_url


@pytest.fixture(autouse=True)
def drained_jobs(app, broken_jira):
    """Wait for the background jobs a test started before its app and Jira go away."""
    yield
    pool = app.extensions.get("cscx_background")
    if pool is not None:
        pool.shutdown(wait=True)


def payload(key="CS-1", ts=1_700_000_000_000, **extra):
    """A minimal jira:issue_updated body."""
    return {"timestamp": ts, "webhookEvent": "jira:issue_updated", "issue": {"id": "10001", "key": key}} | extra


def body_of(data) -> bytes:
    return json.dumps(data).encode()


def stored() -> int:
    db.session.remove()
    return db.session.scalar(select(func.count()).select_from(WebhookDelivery))


def connect_post(client, connection, data, *, url=PATH, identifier="wh-1", secret=None, client_key=None):
    token = tenant_token("POST", url, client_key=client_key or connection.client_key,
                         secret=secret or connection.shared_secret)
    headers = {"Authorization": f"JWT {token}", "Content-Type": "application/json"}
    if identifier:
        headers["X-Atlassian-Webhook-Identifier"] = identifier
    return client.post(url, data=data if isinstance(data, bytes) else body_of(data), headers=headers)


@pytest.fixture
def tenants(app, broken_jira):
    # Jira answers 400 to the jobs' fetches (these payloads are partial): they fail fast, never hang.
    app.config["ALLOW_PRIVATE_JIRA_URLS"] = True  # that Jira is on 127.0.0.1
    org = make_organization()
    return (make_connection(org, base_url=broken_jira, shared_secret="tenant-a-shared-secret-0123456789abcdef"),
            make_connection(org, base_url=broken_jira, shared_secret="tenant-b-shared-secret-0123456789abcdef"))


def test_connect_delivery_is_stored_once(client, tenants):
    tenant, _ = tenants
    first = connect_post(client, tenant, payload())
    assert first.status_code == 202 and first.json["status"] == "accepted"
    again = connect_post(client, tenant, payload())  # Jira's retry: same identifier
    assert again.status_code == 200 and again.json == {"status": "duplicate", "id": first.json["id"]}
    assert stored() == 1


def test_without_an_identifier_the_body_hash_dedupes(client, tenants):
    tenant, _ = tenants
    assert connect_post(client, tenant, payload(), identifier=None).status_code == 202
    assert connect_post(client, tenant, payload(), identifier=None).status_code == 200
    assert connect_post(client, tenant, payload(ts=1_700_000_000_001), identifier=None).status_code == 202
    assert stored() == 2


def test_forged_replayed_and_unsigned_deliveries_are_refused(client, tenants):
    tenant, other = tenants
    forged = connect_post(client, tenant, payload(), secret="not-the-shared-secret-0123456789abcdef")
    assert forged.status_code == 401 and forged.json["error"]["message"] == "bad signature"
    # Tenant A's token presented as tenant B's delivery: B's secret does not verify it.
    assert connect_post(client, tenant, payload(), client_key=other.client_key).status_code == 401
    # Tenant A's genuine token on a URL naming B's connection.
    url = f"{PATH}?connection={other.id}"
    assert connect_post(client, tenant, payload(), url=url).status_code == 401
    # A token whose qsh was made for another path.
    token = tenant_token("POST", "/connect/installed", client_key=tenant.client_key, secret=tenant.shared_secret)
    response = client.post(PATH, data=body_of(payload()), headers={"Authorization": f"JWT {token}"})
    assert response.status_code == 401 and response.json["error"]["message"] == "qsh mismatch"
    assert client.post(PATH, data=body_of(payload())).status_code == 401
    assert stored() == 0


def test_server_webhooks_need_the_connection_hmac(client, app, broken_jira):
    org = make_organization()
    server = make_connection(org, kind="server", client_key=None, webhook_secret="server-secret-1",
                             base_url=broken_jira)
    other = make_connection(org, kind="server", client_key=None, webhook_secret="server-secret-2",
                            base_url=broken_jira)
    body = body_of(payload())
    good = {"X-Hub-Signature": hub_signature("server-secret-1", body)}
    assert client.post(f"{PATH}?connection={server.id}", data=body, headers=good).status_code == 202
    assert client.post(f"{PATH}?connection={other.id}", data=body, headers=good).status_code == 401
    assert client.post(PATH, data=body, headers=good).status_code == 401  # no connection named
    tampered = body_of(payload(key="CS-2"))
    assert client.post(f"{PATH}?connection={server.id}", data=tampered, headers=good).status_code == 401
    sha1 = {"X-Hub-Signature": "sha1=" + "0" * 40}
    assert client.post(f"{PATH}?connection={server.id}", data=body, headers=sha1).status_code == 401
    assert stored() == 1


def test_a_captured_signed_body_replayed_with_fresh_identifiers_is_stored_once(client, app, broken_jira):
    # Server/DC signs only the body (no timestamp): whoever captured one delivery can resend it at will,
    # with any identifier header they like.
    org = make_organization()
    server = make_connection(org, kind="server", client_key=None, webhook_secret="server-secret-1",
                             base_url=broken_jira)
    other = make_connection(org, kind="server", client_key=None, webhook_secret="server-secret-2",
                            base_url=broken_jira)
    url, other_url = f"{PATH}?connection={server.id}", f"{PATH}?connection={other.id}"
    body = body_of(payload())
    signed = {"X-Hub-Signature": hub_signature("server-secret-1", body), "Content-Type": "application/json"}
    first = client.post(url, data=body, headers=signed | {"X-Atlassian-Webhook-Identifier": "wh-original"})
    assert first.status_code == 202
    for identifier in ("wh-replay-1", "wh-replay-2", None):
        headers = signed | ({"X-Atlassian-Webhook-Identifier": identifier} if identifier else {})
        replay = client.post(url, data=body, headers=headers)
        assert replay.status_code == 200 and replay.json == {"status": "duplicate", "id": first.json["id"]}
    assert stored() == 1
    # A new event (another body) is stored, and the same body for another connection is that connection's.
    newer = body_of(payload(ts=1_700_000_000_500))
    assert client.post(url, data=newer, headers={"X-Hub-Signature": hub_signature("server-secret-1", newer),
                                                  "X-Atlassian-Webhook-Identifier": "wh-replay-3"}).status_code == 202
    assert client.post(other_url, data=body,
                       headers={"X-Hub-Signature": hub_signature("server-secret-2", body)}).status_code == 202
    assert stored() == 3


def test_a_connect_body_replayed_under_another_identifier_is_a_duplicate(client, tenants):
    tenant, _ = tenants
    first = connect_post(client, tenant, payload(), identifier="wh-1")
    again = connect_post(client, tenant, payload(), identifier="wh-2")
    assert again.status_code == 200 and again.json == {"status": "duplicate", "id": first.json["id"]}
    assert stored() == 1


def oauth_token(iss=f"jira:{CLOUD_ID}", ttl=180, secret=OAUTH_SECRET):
    now = int(time.time())
    return jwt.encode({"iss": iss, "aud": "client-id", "iat": now, "exp": now + ttl}, secret, algorithm="HS256")


def test_oauth_dynamic_webhooks_are_bound_to_their_site(client, app, broken_jira):
    app.config.update(ATLASSIAN_OAUTH_CLIENT_ID="client-id", ATLASSIAN_OAUTH_CLIENT_SECRET=OAUTH_SECRET,
                      ATLASSIAN_API_URL=broken_jira)
    org = make_organization()
    oauth = make_connection(org, kind="oauth", client_key=None, cloud_id=CLOUD_ID, webhooks=[{"id": 1001}],
                            base_url=broken_jira)
    url = f"{PATH}?connection={oauth.id}"
    body = body_of(payload(matchedWebhookIds=[1001]))

    def post(token, data=body):
        return client.post(url, data=data, headers={"Authorization": f"Bearer {token}"})

    assert post(oauth_token()).status_code == 202
    assert post(oauth_token(iss="jira:99999999-0000-0000-0000-000000000000")).status_code == 401
    assert post(oauth_token(secret="another-apps-client-secret-0123456789")).status_code == 401
    assert post(oauth_token(ttl=-120)).status_code == 401
    assert post(oauth_token(), body_of(payload(ts=2, matchedWebhookIds=[2002]))).status_code == 401
    assert stored() == 1


@pytest.mark.parametrize(("data", "status", "message"), [
    (b"{not json", 400, "the body is not valid JSON"),
    (b"[1, 2]", 400, "the body must be a JSON object"),
    (b'{"timestamp": 1}', 400, "webhookEvent is missing"),
    (b'{"webhookEvent": "jira:issue_updated", "issue": {}}', 400, "an issue event needs issue.key or issue.id"),
    (b'{"webhookEvent": "jira:issue_updated", "timestamp": "yesterday", "issue": {"key": "A-1"}}', 400,
     "timestamp must be milliseconds since the epoch"),
])
def test_malformed_bodies_get_a_clear_400(client, tenants, data, status, message):
    tenant, _ = tenants
    response = connect_post(client, tenant, data)
    assert response.status_code == status and response.json["error"]["message"] == message
    assert stored() == 0


def test_oversized_bodies_are_refused(client, tenants):
    tenant, _ = tenants
    big = body_of(payload(padding="x" * (1024 * 1024 + 10)))
    response = connect_post(client, tenant, big)
    assert response.status_code == 413
    assert stored() == 0


def test_a_processing_failure_stays_in_the_inbox_with_its_error(client, tenants):
    tenant, _ = tenants
    # The payload is partial, so the job must fetch the issue from Jira, which fails.
    response = connect_post(client, tenant, payload())
    assert response.status_code == 202

    def failed():
        db.session.remove()
        row = db.session.scalar(select(WebhookDelivery))
        return row if row.status == "failed" else None
    row = wait_for(failed, 30, "the delivery to fail")
    assert row.attempts == 1 and "broken" in row.last_error and row.next_attempt_at is not None
