"""The API fuzzed from its own OpenAPI document (Schemathesis), in-process, on every database backend.

Every documented operation gets generated requests, valid and invalid, with every Schemathesis check:
no 5xx, no schema-violating request accepted, no valid one refused, every status, header and body as
documented. The number of examples is bounded (FUZZ_EXAMPLES, 25 each by default) and derandomised, so
a run is repeatable and takes about a minute per backend; raise it locally to dig deeper.
"""

from __future__ import annotations

import os

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.specs.openapi.checks import positive_data_acceptance

from connect_app.api.openapi import SPEC_PATH
from tests.conftest import auth_headers
from tests.factories import make_customer, make_organization

WORKSPACE = "ws-fuzz"
EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "25"))
SCHEMA = schemathesis.openapi.from_path(str(SPEC_PATH))
# NUL is refused in every string (a 400, tests/api/test_hostile_inputs.py); generated requests leave it out
# so that they reach the views.
SCHEMA.config.generation.update(allow_x00=False)
# Rules a JSON schema cannot state, and the status each view answers when a schema-valid request breaks
# them: the OAuth state must be one we signed; a Jira base URL must resolve to a public address (nothing
# resolves here); impact weights must add up to 1 and bands be ordered; a subscription's connection must
# be one of the workspace's; an SLA policy's time zone, business hours and holiday country must exist and
# its status fields suit its metric; custom fields must exist in a synced Jira.
SEMANTIC_REFUSALS = {
    ("GET", "/api/integrations/jira/callback"): {400},
    ("GET", "/api/integrations/jira/authorize"): {400},
    ("POST", "/api/integrations/jira/connect"): {422},
    ("PUT", "/api/jira/impact/settings"): {400},
    ("POST", "/api/jira/subscriptions"): {422},
    ("POST", "/api/jira/sla/policies"): {400},
    ("PUT", "/api/jira/sla/policies/{policy_id}"): {400},
    ("PUT", "/api/jira/settings/custom-fields"): {422},
}


@pytest.fixture
def fuzzed_app(app):
    """The app with Cloud OAuth configured (so connecting is not a 503) and a workspace with customers."""
    app.config.update(ATLASSIAN_OAUTH_CLIENT_ID="fuzz-client-id",
                      ATLASSIAN_OAUTH_CLIENT_SECRET="fuzz-client-secret-0123456789abcdef")
    organization = make_organization(id=WORKSPACE)
    for name in ("Acme Corp", "Globex", "Initech"):
        make_customer(organization, name=name)
    return app


# Documented for every operation (the document's description), and beyond what a JSON schema states for a
# free-form or open object: a JSON body a database could not store (a number beyond 64 bits, NaN, nesting
# deeper than 64 levels) is a 400 `invalid_json` saying which.
STORABLE_RULES = ("is outside 64 bits", "nests deeper than", "NaN", "Infinity", "unpaired surrogate")


def _storable_rule(response) -> bool:
    if response.status_code != 400:
        return False
    error = (response.json() or {}).get("error") or {}
    return error.get("code") == "invalid_json" and any(rule in error.get("message", "") for rule in STORABLE_RULES)


def _unknown_id(case, response) -> bool:
    """A customer `id` names one of the workspace's customers (to update it): any other uuid is a 422 on that
    field alone, the same whether it exists in another workspace or nowhere."""
    if (case.method.upper(), case.path) != ("POST", "/api/customers") or response.status_code != 422:
        return False
    details = ((response.json() or {}).get("error") or {}).get("details") or []
    return bool(details) and all(set(row.get("errors", {})) == {"id"} for row in details)


@SCHEMA.parametrize()
@settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
          suppress_health_check=list(HealthCheck))
def test_every_operation_conforms_to_the_document(case, fuzzed_app):
    # The WSGI app of this test (its backend): for this call and for the checks that send more requests.
    case.operation.schema.app = case.operation.app = fuzzed_app
    headers = auth_headers(workspace=WORKSPACE)
    response = case.call(headers=headers)
    refusals = SEMANTIC_REFUSALS.get((case.method.upper(), case.path), set())
    refused_by_rule = response.status_code in refusals or _storable_rule(response) or _unknown_id(case, response)
    excluded = [positive_data_acceptance] if refused_by_rule else []
    case.validate_response(response, headers=headers, excluded_checks=excluded)
