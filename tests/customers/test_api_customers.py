"""Customers API: authentication, validation, all-or-nothing upserts, tenant scoping, search."""

from __future__ import annotations

import time

import jwt

from tests.conftest import SIGNING_SECRET, auth_headers


def post(client, body, **kwargs):
    """POST /api/customers as an admin of ws-1 unless headers are given."""
    headers = kwargs.pop("headers", auth_headers())
    return client.post("/api/customers", json=body, headers=headers, **kwargs)


def test_requires_a_bearer_token(client):
    response = client.get("/api/customers")
    assert response.status_code == 401
    assert response.json["error"]["message"] == "missing bearer token"
    assert "invalid_token" in response.headers["WWW-Authenticate"]


def test_refuses_bad_tokens(client):
    now = int(time.time())
    claims = {"sub": "u", "role": "admin", "workspace": "ws-1", "exp": now + 60}
    cases = {
        "invalid token": jwt.encode(claims, "wrong-secret-wrong-secret-wrong-secret", algorithm="HS256"),
        "token expired": jwt.encode(claims | {"exp": now - 120}, SIGNING_SECRET, algorithm="HS256"),
        "token lacks the workspace claim": jwt.encode(
            {k: v for k, v in claims.items() if k != "workspace"}, SIGNING_SECRET, algorithm="HS256"),
        "unknown role": jwt.encode(claims | {"role": "root"}, SIGNING_SECRET, algorithm="HS256"),
    }
    unsigned = jwt.encode(claims, key=None, algorithm="none")
    cases["invalid token "] = unsigned
    for reason, token in cases.items():
        response = client.get("/api/customers", headers={"Authorization": f"Bearer {token}"})
        assert response.status_code == 401, reason
        assert response.json["error"]["message"] == reason.strip()


def test_only_admins_write(client):
    response = post(client, {"name": "Acme"}, headers=auth_headers(role="csm"))
    assert response.status_code == 403


def test_upsert_one_and_many(client):
    assert post(client, {"name": "Acme Corp", "external_id": "c-1", "arr": 1000}).json == {
        "created": 1, "updated": 0, "total": 1}
    response = post(client, {"customers": [{"name": "Acme Corporation", "external_id": "c-1"},
                                           {"name": "Globex", "tier": "smb", "health_score": 40}]})
    assert response.json == {"created": 1, "updated": 1, "total": 2}
    listed = client.get("/api/customers", headers=auth_headers(role="csm")).json["customers"]
    assert [c["name"] for c in listed] == ["Acme Corporation", "Globex"]


def test_invalid_batch_changes_nothing(client):
    post(client, {"name": "Keep Me", "external_id": "k-1", "arr": 5})
    response = post(client, {"customers": [{"name": "Fine", "external_id": "k-2"},
                                           {"name": "", "health_score": 300},
                                           {"name": "Keep Me", "external_id": "k-1", "arr": -1}]})
    assert response.status_code == 422
    details = {d["line"]: d["errors"] for d in response.json["error"]["details"]}
    assert set(details) == {2, 3}
    assert "name" in details[2] and "health_score" in details[2]
    listed = client.get("/api/customers", headers=auth_headers()).json["customers"]
    assert [(c["name"], c["arr"]) for c in listed] == [("Keep Me", 5.0)]


def test_body_must_be_json(client):
    response = client.post("/api/customers", data="x", headers=auth_headers(), content_type="text/plain")
    assert response.status_code == 400
    assert response.json["error"]["code"] == "invalid_json"


def test_workspaces_never_see_each_other(client):
    post(client, {"name": "Secret Customer"}, headers=auth_headers(workspace="ws-a"))
    other = client.get("/api/customers?q=secret", headers=auth_headers(workspace="ws-b")).json
    assert other["customers"] == []
    mine = client.get("/api/customers?q=secret", headers=auth_headers(workspace="ws-a")).json["customers"]
    assert len(mine) == 1
    customer_id = mine[0]["id"]
    assert client.get(f"/api/customers/{customer_id}", headers=auth_headers(workspace="ws-b")).status_code == 404
    assert client.get(f"/api/customers/{customer_id}", headers=auth_headers(workspace="ws-a")).status_code == 200


def test_search_prefers_prefix_matches_and_escapes_wildcards(client):
    post(client, {"customers": [{"name": n} for n in ("Acme Corp", "Big Acme", "Acorn", "100% Juice", "Zeta")]})
    names = [c["name"] for c in client.get("/api/customers?q=ac", headers=auth_headers()).json["customers"]]
    assert names == ["Acme Corp", "Acorn", "Big Acme"]
    names = [c["name"] for c in client.get("/api/customers?q=%25", headers=auth_headers()).json["customers"]]
    assert names == ["100% Juice"]


def test_paging_parameters_are_validated(client):
    response = client.get("/api/customers?limit=1000", headers=auth_headers())
    assert response.status_code == 400
    assert "limit must be between 1 and 100" in response.json["error"]["message"]
