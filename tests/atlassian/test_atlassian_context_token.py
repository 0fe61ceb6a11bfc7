"""The app-signed context token for the Customers panel's htmx follow-ups."""

from __future__ import annotations

import pytest

from connect_app.atlassian import (
    CONTEXT_QSH,
    AtlassianAuthError,
    issue_context_token,
    verify_context_token,
)

from .conftest import NOW

SECRET = "app-context-key-" + "k" * 40


def _issue(**overrides):
    fields = {
        "secret": SECRET,
        "client_key": "tenant-a",
        "account_id": "557058:account-1",
        "issue_key": "CS-1",
        "clock": lambda: NOW,
    }
    fields.update(overrides)
    return issue_context_token(**fields)


def _verify(token, **overrides):
    fields = {"secret": SECRET, "clock": lambda: NOW}
    fields.update(overrides)
    return verify_context_token(token, **fields)


def _refused(token, **overrides) -> str:
    with pytest.raises(AtlassianAuthError) as excinfo:
        _verify(token, **overrides)
    return excinfo.value.reason


def test_round_trip():
    context = _verify(_issue(), client_key="tenant-a", issue_key="CS-1")
    assert (context.client_key, context.account_id, context.issue_key) == (
        "tenant-a",
        "557058:account-1",
        "CS-1",
    )


def test_anonymous_viewer_round_trip():
    assert _verify(_issue(account_id=None)).account_id is None


def test_expires_after_ttl():
    token = _issue(ttl=900)
    assert _verify(token, clock=lambda: NOW + 900).issue_key == "CS-1"
    assert _refused(token, clock=lambda: NOW + 931) == "token expired"


def test_wrong_secret_refused():
    assert _refused(_issue(), secret="another-app-key-" + "x" * 40) == "bad signature"


@pytest.mark.parametrize(("binding", "value"), [("issue_key", "CS-2"), ("client_key", "tenant-b")])
def test_bound_to_tenant_and_issue(binding, value):
    assert _refused(_issue(), **{binding: value}) == "context mismatch"


def test_jira_page_token_cannot_be_used_as_context_token(make_tenant_token):
    # Even signed with the very key the app verifies context tokens with.
    jira_token = make_tenant_token(secret=SECRET, qsh=CONTEXT_QSH)
    assert _refused(jira_token) == "wrong token type"


def test_forged_typ_without_our_audience_refused(make_tenant_token):
    token = make_tenant_token(secret=SECRET, headers={"typ": "cscx-context+jwt"})
    assert _refused(token) == "wrong token type"
