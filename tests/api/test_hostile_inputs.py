"""Hostile input gets a precise 4xx (or is stored), never a 500, on SQLite and on PostgreSQL alike.

PostgreSQL refuses what SQLite stores (NUL, unpaired surrogates, numbers beyond 64 bits, NaN), so every
case runs on both backends (`app` is parametrised by backend).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import time

import pytest
from sqlalchemy import func, select

from connect_app.api.openapi import load_spec
from connect_app.customers.records import MAX_LENGTHS, PATTERNS
from connect_app.extensions import db
from connect_app.models import Customer, LinkingRule
from tests.conftest import SIGNING_SECRET, auth_headers
from tests.factories import make_customer, make_organization

JSON = "application/json"


def error_of(response) -> tuple[int, str, str]:
    """(status, code, message) of an error answer."""
    body = response.get_json()
    return response.status_code, body["error"]["code"], body["error"]["message"]


def post_raw(client, path: str, text: str, **headers):
    """POST a body exactly as written (not through json.dumps, which would refuse or escape it)."""
    return client.post(path, data=text.encode("utf-8", "surrogatepass"), content_type=JSON,
                       headers=auth_headers() | headers)


def customers(workspace: str = "ws-1") -> list[tuple[str, str, str | None]]:
    """(name, slug, external id) of a workspace's customers, by name."""
    db.session.remove()
    return [tuple(r) for r in db.session.execute(
        select(Customer.name, Customer.slug, Customer.external_id)
        .where(Customer.organization_id == workspace).order_by(Customer.name))]


# ---- JSON bodies: what no database can store is a 400 naming the problem, in every view -----------------

UNSTORABLE_BODIES = {
    '{"name": "Acme\\u0000Corp"}': "strings must not contain NUL characters",
    '{"name": "Acme\\ud800"}': "strings must not contain unpaired surrogates",
    '{"name": "Acme", "arr": 1e400}': "the number 1e400 is out of range",
    '{"name": "Acme", "health_score": 100000000000000000000}': "is outside 64 bits",
    '{"name": "Acme", "arr": NaN}': "NaN is not a JSON number",
    '{"name": "Acme", "arr": -Infinity}': "-Infinity is not a JSON number",
    '{"name\\u0000": "Acme"}': "strings must not contain NUL characters",
    "[" * 100_000: "nests deeper than 64 levels",
    '{"name": "Acme", "stakeholders": ' + "[" * 70 + "]" * 70 + "}": "nests deeper than 64 levels",
}


@pytest.mark.parametrize("text", list(UNSTORABLE_BODIES), ids=list(range(len(UNSTORABLE_BODIES))))
def test_unstorable_json_is_a_precise_400(client, text):
    status, code, message = error_of(post_raw(client, "/api/customers", text))
    assert (status, code) == (400, "invalid_json")
    assert UNSTORABLE_BODIES[text] in message
    assert customers() == []


def test_views_that_read_json_silently_refuse_it_as_precisely(client):
    # These views call get_json(silent=True): the refusal must not turn into "the body must be JSON".
    for path in ("/api/jira/subscriptions", "/api/jira/notifications/read", "/api/integrations/jira/connect"):
        status, code, message = error_of(post_raw(client, path, '{"scope": "owner\\u0000"}'))
        assert (status, code, message) == (400, "invalid_json", "strings must not contain NUL characters"), path
        status, code, message = error_of(post_raw(client, path, "[" * 5000))
        assert (status, code) == (400, "invalid_json") and "nests deeper" in message, path


# ---- URLs: NUL in a path segment or a query parameter -------------------------------------------------

@pytest.mark.parametrize("url", ["/api/customers?q=ac%00me", "/api/customers/%00", "/api/jira/issue/CS-1%00",
                                 "/api/customers?q%00=x", "/app/customers/%00"])
def test_nul_in_the_url_is_a_400(client, url):
    response = client.get(url, headers=auth_headers())
    assert response.status_code == 400
    if url.startswith("/api/"):
        assert response.get_json()["error"]["code"] == "invalid_parameter"
    else:  # a page: its error page says why
        assert b"the URL must not contain NUL characters" in response.data


def test_405_names_the_allowed_methods(client):
    response = client.delete("/api/customers", headers=auth_headers())
    assert response.status_code == 405
    assert set(response.headers["Allow"].split(", ")) >= {"GET", "POST"}
    assert response.get_json()["error"]["code"] == "method_not_allowed"


# ---- service-token claims ------------------------------------------------------------------------------

def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def signed_token(payload_json: str) -> str:
    """An HS256 token over a payload written by hand (claims PyJWT would not encode)."""
    header = _b64(b'{"alg":"HS256","typ":"JWT"}')
    signing_input = f"{header}.{_b64(payload_json.encode('utf-8', 'surrogatepass'))}"
    signature = hmac.new(SIGNING_SECRET.encode(), signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{_b64(signature)}"


@pytest.mark.parametrize("claims, reason", [
    ('"workspace": "ws\\u0000x", "sub": "u-1", "exp": {exp}', "bad workspace claim"),
    ('"workspace": "ws\\ud800", "sub": "u-1", "exp": {exp}', "bad workspace claim"),
    ('"workspace": {{"obj": 1}}, "sub": "u-1", "exp": {exp}', "bad workspace claim"),
    ('"workspace": "ws-1", "sub": "u\\u0000", "exp": {exp}', "bad sub claim"),
    ('"workspace": "ws-1", "sub": ["u"], "exp": {exp}', "invalid token"),
    ('"workspace": "ws-1", "sub": " ", "exp": {exp}', "bad sub claim"),
    ('"workspace": "ws-1", "sub": "u-1", "email": "a\\u0000@b.c", "exp": {exp}', "bad email claim"),
    ('"workspace": "ws-1", "sub": "u-1", "exp": 1e400', "invalid token"),
    ('"workspace": "ws-1", "sub": "u-1", "exp": NaN', "invalid token"),
    ('"workspace": "ws-1", "sub": "u-1", "exp": {exp}, "iat": 1e400', "invalid token"),
])
def test_hostile_token_claims_are_a_401(client, claims, reason):
    payload = "{" + '"role": "admin", ' + claims.format(exp=int(time.time()) + 600) + "}"
    response = client.get("/api/customers", headers={"Authorization": f"Bearer {signed_token(payload)}"})
    assert response.status_code == 401
    assert response.get_json()["error"]["message"] == reason
    db.session.remove()
    assert db.session.scalar(select(func.count()).select_from(Customer)) == 0


# ---- the OAuth callback (unauthenticated) ---------------------------------------------------------------

@pytest.mark.parametrize("state", ["%C3%A9.x", "%C3%A9", "abc.%E2%80%AE", "a%00.b"])
def test_oauth_callback_with_a_non_ascii_state_is_a_400(client, state):
    response = client.get(f"/api/integrations/jira/callback?state={state}&code=c")
    assert response.status_code == 400
    assert response.get_json()["error"]["code"] in ("invalid_state", "invalid_parameter")


# ---- customers: type confusion, control characters, clashes, ids ---------------------------------------

@pytest.mark.parametrize("row, field", [
    ({"name": {"obj": 1}}, "name"), ({"name": ["x"]}, "name"), ({"name": True}, "name"),
    ({"name": "Acme", "external_id": 12}, "external_id"), ({"name": "Acme", "arr": True}, "arr"),
    ({"name": "Acme", "health_score": [50]}, "health_score"), ({"name": "Acme", "stakeholders": {"a": 1}},
                                                              "stakeholders"),
    ("Acme", "_"), (["x"], "_"), (None, "_"),
])
def test_a_value_of_the_wrong_type_is_a_400_and_nothing_is_stored(client, row, field):
    response = client.post("/api/customers", json={"customers": [{"name": "Fine"}, row]}, headers=auth_headers())
    status, code, _ = error_of(response)
    assert (status, code) == (400, "invalid_body")
    [detail] = response.get_json()["error"]["details"]
    assert detail["line"] == 2 and list(detail["errors"]) == [field]
    assert customers() == []


def test_a_bare_object_of_the_wrong_type_is_a_400(client):
    status, code, _ = error_of(client.post("/api/customers", json={"name": {"obj": 1}}, headers=auth_headers()))
    assert (status, code) == (400, "invalid_body")
    assert customers() == []


@pytest.mark.parametrize("name", ["Acme\x07Corp", "Acme\u202eproC", "Acme\u2066Corp", "\x1bAcme", "Acme\x7f"])
def test_control_and_bidi_characters_in_names_are_refused(client, name):
    response = client.post("/api/customers", json={"name": name}, headers=auth_headers())
    assert response.status_code == 422
    errors = response.get_json()["error"]["details"][0]["errors"]
    assert "control or bidirectional" in errors["name"]
    assert customers() == []


def test_a_health_score_padded_with_any_unicode_whitespace_is_read_as_its_number(client):
    # Information separators (U+001C..U+001F) are whitespace to str.strip but not to float().
    padded = "\u2001\x1e\u2003\r\t\u1680\x85100\u1680\x0c\u2005\x1e"
    response = client.post("/api/customers", json={"name": "Padded", "health_score": padded}, headers=auth_headers())
    assert response.status_code == 200, response.get_json()
    db.session.remove()
    assert db.session.scalars(select(Customer.health_score).where(Customer.name == "Padded")).all() == [100]


def test_a_rename_onto_another_customers_name_is_a_409_naming_it(client):
    client.post("/api/customers", json={"customers": [{"name": "Acme", "external_id": "c-1"},
                                                      {"name": "Globex", "external_id": "c-2"}]},
                headers=auth_headers())
    response = client.post("/api/customers", json={"name": "ACME", "external_id": "c-2"}, headers=auth_headers())
    status, code, _ = error_of(response)
    assert (status, code) == (409, "customer_conflict")
    assert response.get_json()["error"]["details"] == [
        {"line": 1, "errors": {"slug": "'acme' belongs to another customer: customer 'Acme' (external id 'c-1')"}}]
    assert customers() == [("Acme", "acme", "c-1"), ("Globex", "globex", "c-2")]


def test_a_batch_that_swaps_two_slugs_is_a_409_and_changes_nothing(client):
    client.post("/api/customers", json={"customers": [{"name": "Acme", "external_id": "c-1"},
                                                      {"name": "Globex", "external_id": "c-2"}]},
                headers=auth_headers())
    swap = {"customers": [{"name": "Acme", "external_id": "c-1", "slug": "globex"},
                          {"name": "Globex", "external_id": "c-2", "slug": "acme"}]}
    response = client.post("/api/customers", json=swap, headers=auth_headers())
    assert error_of(response)[:2] == (409, "customer_conflict")
    details = {d["line"]: d["errors"] for d in response.get_json()["error"]["details"]}
    assert details[1] == {"slug": "'globex' belongs to another customer: customer 'Globex' (external id 'c-2')"}
    assert details[2] == {"slug": "'acme' belongs to another customer: customer 'Acme' (external id 'c-1')"}
    assert customers() == [("Acme", "acme", "c-1"), ("Globex", "globex", "c-2")]


def test_two_rows_taking_one_slug_clash_on_the_second(client):
    response = client.post("/api/customers", json={"customers": [{"name": "Acme", "external_id": "c-1"},
                                                                 {"name": "acme!", "external_id": "c-2"}]},
                           headers=auth_headers())
    assert error_of(response)[:2] == (409, "customer_conflict")
    assert response.get_json()["error"]["details"] == [
        {"line": 2, "errors": {"slug": "'acme' is also given on line 1"}}]
    assert customers() == []


def test_an_id_of_another_workspace_is_answered_as_an_id_that_exists_nowhere(client):
    foreign = make_customer(make_organization(id="ws-other"), name="Their Customer")
    foreign_id, foreign_slug, foreign_external = str(foreign.id), foreign.slug, foreign.external_id
    nowhere = "0b5d1d6e-1111-4c2e-9d61-5b7a2e4f9c10"
    answers = []
    for customer_id in (foreign_id, nowhere):
        response = client.post("/api/customers", json={"id": customer_id, "name": "Mine"}, headers=auth_headers())
        body = response.get_json()
        answers.append((response.status_code, body["error"]["code"], body["error"]["details"]))
    assert answers[0] == answers[1] == (422, "invalid_customers",
                                        [{"line": 1, "errors": {"id": "no customer of this workspace has this id"}}])
    assert customers() == []
    assert customers("ws-other") == [("Their Customer", foreign_slug, foreign_external)]


def test_an_id_on_update_is_honoured_or_refused(client):
    organization = make_organization(id="ws-1")
    acme_id = str(make_customer(organization, name="Acme", slug="acme", external_id="c-1").id)
    globex_id = str(make_customer(organization, name="Globex", slug="globex", external_id="c-2").id)
    # Honoured: the id finds the customer, whose external id and slug may then change.
    renamed = client.post("/api/customers", json={"id": acme_id, "name": "Acme Inc", "external_id": "crm-77"},
                          headers=auth_headers())
    assert renamed.status_code == 200 and renamed.get_json() == {"created": 0, "updated": 1, "total": 1}
    assert customers() == [("Acme Inc", "acme-inc", "crm-77"), ("Globex", "globex", "c-2")]
    # Refused: the id names one customer and the external id another's.
    response = client.post("/api/customers", json={"id": acme_id, "name": "Acme Inc", "external_id": "c-2"},
                           headers=auth_headers())
    assert error_of(response)[:2] == (409, "customer_conflict")
    assert "external_id" in response.get_json()["error"]["details"][0]["errors"]
    assert customers() == [("Acme Inc", "acme-inc", "crm-77"), ("Globex", "globex", "c-2")]
    # An id that is not the customer the slug key finds: the slug of another customer is a clash too.
    response = client.post("/api/customers", json={"id": globex_id, "name": "Globex", "slug": "acme-inc"},
                           headers=auth_headers())
    assert error_of(response)[:2] == (409, "customer_conflict")


def test_names_without_ascii_letters_get_a_slug(client):
    response = client.post("/api/customers", json={"customers": [{"name": "株式会社"}, {"name": "!!!"}]},
                           headers=auth_headers())
    assert response.status_code == 200
    slugs = [slug for _, slug, _ in customers()]
    assert all(re.fullmatch(r"customer-[0-9a-f]{12}", slug) for slug in slugs) and len(set(slugs)) == 2


def test_the_documented_patterns_are_the_ones_the_service_applies():
    upsert = load_spec()["components"]["schemas"]["CustomerUpsert"]["properties"]
    assert upsert["name"]["pattern"] == PATTERNS["name"]
    assert upsert["name"]["maxLength"] == MAX_LENGTHS["name"]
    assert upsert["external_id"]["pattern"] == PATTERNS["text"]
    assert upsert["slug"]["pattern"] == PATTERNS["slug"]
    assert upsert["tier"]["pattern"] == PATTERNS["tier"]
    assert upsert["csm_owner_email"]["pattern"] == PATTERNS["email"]
    assert upsert["arr"]["oneOf"][1]["pattern"] == PATTERNS["arr"]
    assert upsert["health_score"]["oneOf"][1]["pattern"] == PATTERNS["health_score"]
    assert upsert["renewal_date"]["anyOf"][0]["pattern"] == PATTERNS["date"]
    assert upsert["stakeholders"]["oneOf"][1]["pattern"] == PATTERNS["stakeholders"]


# ---- query parameters: flags, empty filters, unknown names, paging -----------------------------------

def test_an_unknown_flag_spelling_is_a_400_and_applies_nothing(client):
    customer_id = make_customer(make_organization(id="ws-1"), name="Acme").id
    rules = {"rules": [{"strategy": "label", "value": "customer_acme"}]}
    for spelling in ("on", "TRUE", "", "2"):
        response = client.put(f"/api/jira/linking/{customer_id}?dry_run={spelling}", json=rules,
                              headers=auth_headers())
        assert error_of(response)[:2] == (400, "invalid_parameter"), spelling
        assert response.get_json()["error"]["message"].startswith("dry_run must")
    db.session.remove()
    assert db.session.scalar(select(func.count()).select_from(LinkingRule)) == 0


@pytest.mark.parametrize("url, message", [
    ("/api/admin/outbox?status=", "status must not be empty"),
    ("/api/jira/drafts?status=", "status must not be empty"),
    ("/api/jira/drafts?status=approved,", "status must not be empty"),
    ("/api/jira/impact?project=", "project must not be empty"),
    ("/api/jira/sla?state=", "state must not be empty"),
    ("/api/jira/notifications?unread=on", "unread must be one of 0, 1, true, false"),
    ("/api/customers?limit=5&offest=5", "unknown query parameter 'offest'"),
    ("/api/customers?limit=5.0", "limit must be an integer"),
    ("/api/jira/sla?policy_id=nope", "policy_id must be a UUID"),
])
def test_empty_unknown_or_malformed_query_parameters_are_a_400(client, url, message):
    status, code, text = error_of(client.get(url, headers=auth_headers()))
    assert (status, code) == (400, "invalid_parameter")
    assert message in text


def test_substring_search_pages_through_every_match_once(client):
    organization = make_organization(id="ws-1")
    names = [f"Corp {n:02d}" for n in range(6)] + [f"Mega Corp {n:02d}" for n in range(7)] + ["Unrelated"]
    for name in names:
        make_customer(organization, name=name)
    seen, offset = [], 0
    for _ in range(10):  # bounded: a client paging until an empty page must get there
        page = client.get(f"/api/customers?q=corp&limit=5&offset={offset}", headers=auth_headers()).get_json()
        if not page["customers"]:
            break
        seen += [c["name"] for c in page["customers"]]
        offset += 5
    else:
        pytest.fail("paging never reached an empty page")
    # Prefix matches first, then the other substring matches; each exactly once.
    assert seen == [f"Corp {n:02d}" for n in range(6)] + [f"Mega Corp {n:02d}" for n in range(7)]


def test_every_documented_flag_lists_its_spellings():
    spec = load_spec()
    flags = [p for item in spec["paths"].values() for op in item.values() if isinstance(op, dict)
             for p in op.get("parameters", []) if p.get("name") in ("open", "refresh", "dry_run")]
    assert flags and all(set(p["schema"]["enum"]) == {"0", "1", "true", "false", "yes", "no"} for p in flags)


# ---- the CLI's JSON import --------------------------------------------------------------------------

def test_a_deeply_nested_json_import_is_refused_cleanly(cli_env, tmp_path):
    from click.testing import CliRunner

    from connect_app.cli import main

    path = tmp_path / "customers.json"
    path.write_text('{"customers": ' + "[" * 100_000 + "]" * 100_000 + "}")
    result = CliRunner().invoke(main, ["customers", "import", str(path), "--workspace", "ws-x"])
    assert result.exit_code == 1
    assert "nests deeper than 64 levels" in result.output
    assert not isinstance(result.exception, RecursionError)
    path.write_text(json.dumps({"customers": [{"name": "A"}]}).replace('"A"', '"A\\u0000"'))
    result = CliRunner().invoke(main, ["customers", "import", str(path), "--workspace", "ws-x"])
    assert result.exit_code == 1 and "NUL" in result.output
