"""Outbound signing: every request atlassian-python-api sends verifies on a receiving server."""

from __future__ import annotations

import json
import string
from dataclasses import dataclass, field

import jwt as pyjwt
import pytest
import requests
from atlassian import Jira
from hypothesis import given, settings
from hypothesis import strategies as st
from werkzeug.wrappers import Request, Response

from connect_app.atlassian import (
    AtlassianAuthError,
    ConnectJwtAuth,
    query_string_hash,
    sign_request,
    token_from_request,
    verify_request_token,
)

from .conftest import NOW, Tenant, serve_wsgi

APP_KEY = "com.cscx.jira"
APP_SECRET = "shared-secret-from-installed-" + "q" * 32
CONTEXT_PATH = "/jira"


@dataclass
class Receiver:
    """A stand-in Jira site that verifies each request's token exactly as Jira would."""

    base_url: str = ""
    seen: list[dict] = field(default_factory=list)

    def wsgi(self, environ, start_response):
        request = Request(environ)
        # The request target as it came off the wire: path still percent-encoded, query raw.
        target = environ["REQUEST_URI"]
        try:
            token = token_from_request(request.headers, request.args)
            verified = verify_request_token(
                token,
                method=request.method,
                url=target,
                # Jira looks the app up by iss (the app key) to find the shared secret.
                tenant_lookup={APP_KEY: Tenant(APP_KEY, APP_SECRET)}.get,
                base_path=CONTEXT_PATH,
            )
        except AtlassianAuthError as err:
            response = Response(json.dumps({"error": err.reason}), status=401, mimetype="application/json")
            return response(environ, start_response)
        record = {
            "method": request.method,
            "target": target,
            "args": request.args.to_dict(flat=False),
            "iss": verified.client_key,
            "sub": verified.account_id,
        }
        self.seen.append(record)
        return Response(json.dumps(record), mimetype="application/json")(environ, start_response)


@pytest.fixture(scope="module")
def receiver():
    """One receiving server for the module (shared with the hypothesis property test)."""
    receiver = Receiver()
    with serve_wsgi(receiver.wsgi) as url:
        receiver.base_url = url + CONTEXT_PATH
        yield receiver


@pytest.fixture
def signed_session(receiver):
    """A requests session whose every request is signed for the receiver's site."""
    receiver.seen.clear()
    with requests.Session() as session:
        session.auth = ConnectJwtAuth(issuer=APP_KEY, secret=APP_SECRET, base_url=receiver.base_url)
        yield session


def test_sign_request_claims():
    token = sign_request(
        "get",
        "https://site.atlassian.net/rest/api/3/issue/CS-1?fields=summary",
        issuer=APP_KEY,
        secret=APP_SECRET,
        base_url="https://site.atlassian.net",
        sub="557058:bot",
        clock=lambda: NOW,
    )
    claims = pyjwt.decode(token, APP_SECRET, algorithms=["HS256"], options={"verify_exp": False})
    assert claims == {
        "iss": APP_KEY,
        "iat": NOW,
        "exp": NOW + 180,
        "sub": "557058:bot",
        "qsh": query_string_hash("GET", "/rest/api/3/issue/CS-1?fields=summary"),
    }


def test_context_path_of_the_tenant_site_is_stripped():
    token = sign_request(
        "GET",
        "https://dc.example.com/jira/rest/api/2/myself",
        issuer=APP_KEY,
        secret=APP_SECRET,
        base_url="https://dc.example.com/jira",
    )
    qsh = pyjwt.decode(token, APP_SECRET, algorithms=["HS256"])["qsh"]
    assert qsh == query_string_hash("GET", "/rest/api/2/myself")


@pytest.mark.parametrize(
    "url", ["https://evil.example.com/rest/api/3/myself", "https://dc.example.com/other/rest/api/2/myself"]
)
def test_refuses_to_sign_outside_the_tenant_site(url):
    with pytest.raises(ValueError, match="refusing to sign"):
        sign_request("GET", url, issuer=APP_KEY, secret=APP_SECRET, base_url="https://dc.example.com/jira")


def test_atlassian_python_api_requests_all_verify(receiver, signed_session):
    jira = Jira(url=receiver.base_url, session=signed_session, cloud=True)

    issue = jira.get_issue("CS-1", fields="summary,status", expand="names")
    search = jira.get(
        "rest/api/3/search/jql",
        params={"jql": 'project = CS AND summary ~ "login fails*"', "fields": ["summary", "status"]},
    )
    jira.post("rest/api/3/issue/CS-1/comment", data={"body": "from CSCX"}, params={"notify": "false"})

    assert issue["iss"] == APP_KEY and issue["args"]["fields"] == ["summary,status"]
    assert search["args"]["fields"] == ["summary", "status"]
    assert [(r["method"], r["target"].split("?")[0]) for r in receiver.seen] == [
        ("GET", "/jira/rest/api/2/issue/CS-1"),
        ("GET", "/jira/rest/api/3/search/jql"),
        ("POST", "/jira/rest/api/3/issue/CS-1/comment"),
    ]


def test_each_request_gets_its_own_token(receiver, signed_session):
    tokens = []
    signed_session.hooks["response"].append(
        lambda response, **_: tokens.append(response.request.headers["Authorization"])
    )
    signed_session.get(f"{receiver.base_url}/rest/api/3/myself", timeout=5).raise_for_status()
    signed_session.get(f"{receiver.base_url}/rest/api/3/myself?expand=groups", timeout=5).raise_for_status()
    assert len(set(tokens)) == 2


def test_token_replayed_on_another_request_is_refused(receiver):
    token = sign_request(
        "GET",
        f"{receiver.base_url}/rest/api/3/issue/CS-1",
        issuer=APP_KEY,
        secret=APP_SECRET,
        base_url=receiver.base_url,
    )
    with requests.Session() as session:
        response = session.get(
            f"{receiver.base_url}/rest/api/3/issue/CS-2", headers={"Authorization": f"JWT {token}"}, timeout=5
        )
    assert response.status_code == 401
    assert response.json() == {"error": "qsh mismatch"}


_TEXT = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=12)
_QUERY = st.dictionaries(
    keys=_TEXT.filter(lambda key: key != "jwt"),
    values=st.one_of(_TEXT, st.lists(_TEXT, min_size=1, max_size=3)),
    max_size=5,
)
_SEGMENT = st.text(
    alphabet=string.ascii_letters + string.digits + "-._~ &!$'()*+,;=:@", min_size=1, max_size=10
)


@settings(max_examples=75, deadline=None)
@given(query=_QUERY, segment=_SEGMENT, method=st.sampled_from(["GET", "POST", "PUT", "DELETE"]))
def test_property_signing_and_receiving_always_agree(receiver, query, segment, method):
    with requests.Session() as session:
        session.auth = ConnectJwtAuth(issuer=APP_KEY, secret=APP_SECRET, base_url=receiver.base_url)
        url = f"{receiver.base_url}/rest/api/3/thing/{requests.utils.quote(segment, safe='&!$()*+,;=:@')}"
        response = session.request(method, url, params=query, timeout=5)
    assert response.status_code == 200, response.text
