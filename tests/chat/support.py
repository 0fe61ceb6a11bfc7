"""Helpers for the chat tests: service tokens of the chat's workspace, one message sent and checked, a site."""

from __future__ import annotations

from connect_app.api.openapi import load_spec
from tests.conftest import token_for
from tests.factories import make_connection
from tests.test_openapi import check_response

WS = "ws-chat"
PATH = "/api/jira/chat"
UNREACHABLE = "http://127.0.0.1:9"  # a Jira that refuses at once: on-demand fetches fail fast, offline
SECRET = "s" * 40


def site(org, **overrides):
    """A Connect site at UNREACHABLE."""
    return make_connection(org, base_url=UNREACHABLE, shared_secret=SECRET, **overrides)


def headers(user: str = "maya", workspace: str = WS, role: str = "csm") -> dict[str, str]:
    return {"Authorization": f"Bearer {token_for(workspace, role, user, email=f'{user}@cscx.example')}"}


def say(client, text: str, *, user: str = "maya", workspace: str = WS, status: int = 200, **body) -> dict:
    """Send one chat message and check the answer against the OpenAPI document."""
    response = client.post(PATH, json={"text": text, **body}, headers=headers(user, workspace))
    assert response.status_code == status, response.get_json()
    return check_response(load_spec(), PATH, "post", response)
