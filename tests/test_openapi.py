"""The OpenAPI document: it covers every /api route, holds together, and describes what the API really sends."""

from __future__ import annotations

import re
from collections.abc import Iterator

import jsonschema
import pytest

from connect_app.api.openapi import load_spec
from tests.conftest import auth_headers
from tests.factories import make_connection, make_customer, make_organization

HTTP_METHODS = ("get", "put", "post", "delete", "patch", "options", "head", "trace")
FLASK_PARAM = re.compile(r"<(?:[^:<>]+:)?([^<>]+)>")
TEMPLATE_PARAM = re.compile(r"{([^{}]+)}")
UNAUTHENTICATED = {("/api/integrations/jira/webhook", "post"), ("/api/integrations/jira/callback", "get"),
                   ("/api/integrations/jira/authorize", "get"), ("/api/openapi.json", "get")}


@pytest.fixture(scope="module")
def spec() -> dict:
    """The document as the package ships it (the served copy is compared in its own test)."""
    return load_spec()


def operations(spec: dict) -> Iterator[tuple[str, str, dict]]:
    """Every (path, method, operation) of the document."""
    for path, item in spec["paths"].items():
        for method in HTTP_METHODS:
            if method in item:
                yield path, method, item[method]


def resolve(spec: dict, ref: str) -> object:
    """The target of a local `$ref` (a JSON pointer into the document); KeyError if it points nowhere."""
    assert ref.startswith("#/"), f"only local references are used: {ref}"
    node: object = spec
    for token in ref[2:].split("/"):
        token = token.replace("~1", "/").replace("~0", "~")
        node = node[int(token)] if isinstance(node, list) else node[token]  # type: ignore[index]
    return node


def refs(node: object) -> Iterator[str]:
    """Every `$ref` value anywhere under node."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str):
                yield value
            else:
                yield from refs(value)
    elif isinstance(node, list):
        for value in node:
            yield from refs(value)


def deref(spec: dict, node: dict) -> dict:
    """node, or what its `$ref` points to."""
    return resolve(spec, node["$ref"]) if "$ref" in node else node  # type: ignore[return-value]


def response_schema(spec: dict, path: str, method: str, status: int) -> dict:
    """The JSON schema the document gives for one response of one operation."""
    response = deref(spec, spec["paths"][path][method]["responses"][str(status)])
    return response["content"]["application/json"]["schema"]


def validate(spec: dict, schema: dict, instance: object) -> None:
    """Validate instance against a schema of the document (its `$ref`s resolve inside the document)."""
    root = {"allOf": [schema], "components": spec["components"]}
    jsonschema.Draft202012Validator(root, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER
                                    ).validate(instance)


def check_response(spec: dict, path: str, method: str, response) -> dict:
    """Assert the response's status is documented for the operation and its body matches the schema."""
    body = response.get_json()
    validate(spec, response_schema(spec, path, method, response.status_code), body)
    return body


# ---- (1) coverage: every registered /api route is documented


def test_every_api_route_is_documented_with_each_method(app, spec):
    registered = {
        (FLASK_PARAM.sub(r"{\1}", rule.rule), method.lower())
        for rule in app.url_map.iter_rules() if rule.rule.startswith("/api/")
        for method in rule.methods - {"HEAD", "OPTIONS"}
    }
    documented = {(path, method) for path, method, _ in operations(spec)}
    assert registered - documented == set(), "routes missing from the OpenAPI document"
    assert documented - registered == set(), "documented operations the app does not serve"


def test_the_served_document_is_the_packaged_one(client, spec):
    response = client.get("/api/openapi.json")
    assert response.status_code == 200
    assert response.get_json() == spec


# ---- (2) the document holds together as OpenAPI


def test_document_structure(spec):
    assert re.fullmatch(r"3\.[01]\.\d+", spec["openapi"])
    assert spec["info"]["title"] and spec["info"]["version"]
    operation_ids = [op["operationId"] for _, _, op in operations(spec)]
    assert len(operation_ids) == len(set(operation_ids)), "operationIds must be unique"
    for path, method, operation in operations(spec):
        where = f"{method.upper()} {path}"
        assert path.startswith("/api/"), where
        assert operation.get("summary"), where
        responses = operation.get("responses")
        assert responses, f"{where} has no responses"
        for status, response in responses.items():
            assert re.fullmatch(r"[1-5]\d\d|default", status), f"{where}: bad status {status}"
            assert "description" in deref(spec, response), f"{where} {status}: no description"
        parameters = [deref(spec, p) for p in operation.get("parameters", [])]
        declared = {p["name"] for p in parameters if p["in"] == "path"}
        assert declared == set(TEMPLATE_PARAM.findall(path)), f"{where}: path parameters differ from the template"
        for parameter in parameters:
            assert parameter["in"] in ("path", "query", "header", "cookie"), where
            assert "schema" in parameter, where
            if parameter["in"] == "path":
                assert parameter.get("required") is True, f"{where}: path parameters are required"


def test_every_reference_resolves(spec):
    found = list(refs(spec))
    assert found
    for ref in found:
        try:
            resolve(spec, ref)
        except (KeyError, IndexError):
            pytest.fail(f"unresolved $ref {ref}")


def test_component_schemas_are_valid_json_schema(spec):
    for name, schema in spec["components"]["schemas"].items():
        try:
            jsonschema.Draft202012Validator.check_schema(schema)
        except jsonschema.SchemaError as error:
            pytest.fail(f"components/schemas/{name}: {error.message}")
    for _, _, operation in operations(spec):
        body = operation.get("requestBody", {}).get("content", {}).get("application/json", {})
        if "example" in body:
            validate(spec, body["schema"], body["example"])


def test_security_is_declared_and_applied(spec):
    schemes = spec["components"]["securitySchemes"]
    assert schemes["bearerAuth"] == schemes["bearerAuth"] | {"type": "http", "scheme": "bearer"}
    assert spec["security"] == [{"bearerAuth": []}]
    for path, method, operation in operations(spec):
        for requirement in operation.get("security", spec["security"]):
            assert set(requirement) <= set(schemes), f"{method} {path}: unknown security scheme"
        if (path, method) in UNAUTHENTICATED:
            assert operation.get("security") == [], f"{method} {path} does not take a service token"
        else:
            assert "security" not in operation, f"{method} {path} should inherit bearerAuth"
            assert "401" in operation["responses"], f"{method} {path}: a bad token is a 401"


# ---- (3) real responses match the document


def test_customers_responses_match(client, spec):
    org = make_organization(id="ws-1")
    acme = make_customer(org, name="Acme Corp", slug="acme", renewal_date=None,
                         stakeholders=[{"name": "Ada", "email": "ada@acme.example", "role": "VP"}])
    make_customer(org, name="Acme Labs", tier=None, health_score=None)

    listed = check_response(spec, "/api/customers", "get", client.get("/api/customers?q=acme",
                                                                       headers=auth_headers(role="csm")))
    assert [c["name"] for c in listed["customers"]] == ["Acme Corp", "Acme Labs"]

    one = client.get(f"/api/customers/{acme.id}", headers=auth_headers(role="support"))
    assert check_response(spec, "/api/customers/{customer_id}", "get", one)["id"] == str(acme.id)

    batch = {"customers": [{"name": "Globex", "external_id": "g-1", "arr": "$1,200.50", "tier": "Mid-Market"},
                           {"name": "Initech", "stakeholders": "Peter <peter@initech.example> (eng)"}]}
    validate(spec, resolve(spec, "#/paths/~1api~1customers/post/requestBody/content/application~1json/schema"),
             batch)
    counts = check_response(spec, "/api/customers", "post", client.post("/api/customers", json=batch,
                                                                        headers=auth_headers()))
    assert counts == {"created": 2, "updated": 0, "total": 2}

    rejected = client.post("/api/customers", json={"customers": [{"name": ""}]}, headers=auth_headers())
    assert rejected.status_code == 422
    assert check_response(spec, "/api/customers", "post", rejected)["error"]["code"] == "invalid_customers"
    validate(spec, {"type": "array", "items": {"$ref": "#/components/schemas/RejectedRow"}},
             rejected.get_json()["error"]["details"])

    forbidden = client.post("/api/customers", json=batch, headers=auth_headers(role="csm"))
    assert forbidden.status_code == 403
    check_response(spec, "/api/customers", "post", forbidden)
    unauthenticated = client.get("/api/customers")
    assert unauthenticated.status_code == 401
    check_response(spec, "/api/customers", "get", unauthenticated)


def test_subscription_responses_match(client, spec):
    org = make_organization(id="ws-1")
    customer = make_customer(org)
    request = {"scope": "customer", "customer_id": str(customer.id), "event_kinds": ["resolved", "reopened"]}
    validate(spec, {"$ref": "#/components/schemas/SubscriptionRequest"}, request)
    path = "/api/jira/subscriptions"

    created = client.post(path, json=request, headers=auth_headers(role="csm", user="u-7"))
    assert created.status_code == 201
    assert check_response(spec, path, "post", created)["customer_id"] == str(customer.id)
    again = client.post(path, json=request | {"event_kinds": []}, headers=auth_headers(role="csm", user="u-7"))
    assert again.status_code == 200
    assert check_response(spec, path, "post", again)["event_kinds"] == []
    owner = client.post(path, json={"scope": "owner", "event_kinds": ["none"]},
                        headers=auth_headers(role="csm", user="u-7"))
    assert check_response(spec, path, "post", owner)["target"] == "owner"

    listed = check_response(spec, path, "get", client.get(path, headers=auth_headers(role="csm", user="u-7")))
    assert listed["owner_default"] == {"event_kinds": ["none"], "customised": True}

    invalid = client.post(path, json={"scope": "issue"}, headers=auth_headers(role="csm", user="u-7"))
    assert invalid.status_code == 422
    assert check_response(spec, path, "post", invalid)["error"]["details"] == {
        "jira_key": "jira_key is required for an issue subscription"}


def test_connection_and_admin_responses_match(client, spec):
    org = make_organization(id="ws-1")
    make_connection(org)
    make_connection(org, kind="server", client_key=None, base_url="https://jira.example.com",
                    deployment="server", server_version="9.12.0", api_token="pat",
                    webhooks=[{"kind": "server", "api": "/rest/webhooks/1.0/webhook", "id": "7",
                               "events": ["jira:issue_updated"], "jql": ""}])

    listed = client.get("/api/integrations/jira/connections", headers=auth_headers(role="pm"))
    body = check_response(spec, "/api/integrations/jira/connections", "get", listed)
    assert {c["auth"] for c in body["connections"]} == {"connect_jwt", "personal_access_token"}

    code = client.post("/api/integrations/jira/link-codes", headers=auth_headers())
    assert code.status_code == 201
    check_response(spec, "/api/integrations/jira/link-codes", "post", code)

    outbox = client.get("/api/admin/outbox?status=dead", headers=auth_headers())
    assert check_response(spec, "/api/admin/outbox", "get", outbox) == {"counts": {}, "messages": []}
    webhooks = client.get("/api/admin/webhooks", headers=auth_headers())
    check_response(spec, "/api/admin/webhooks", "get", webhooks)
    notifications = client.get("/api/jira/notifications?unread=1", headers=auth_headers(role="csm"))
    check_response(spec, "/api/jira/notifications", "get", notifications)

    unsigned = client.post("/api/integrations/jira/webhook", json={"webhookEvent": "jira:issue_updated"})
    assert unsigned.status_code == 401
    check_response(spec, "/api/integrations/jira/webhook", "post", unsigned)
