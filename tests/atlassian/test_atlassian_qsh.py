"""QSH: Atlassian's 78 interoperability vectors plus the canonical-request rules."""

from __future__ import annotations

import json
from pathlib import Path

import jwt as pyjwt
import pytest

from connect_app.atlassian import canonical_request, query_string_hash, verify_request_token

VECTORS_PATH = Path(__file__).resolve().parents[1] / "fixtures" / "atlassian" / "qsh-vectors.json"
VECTORS = json.loads(VECTORS_PATH.read_text())
SECRET = VECTORS["secret"]


class VectorTenant:
    """The tenant that signed the vectors."""

    shared_secret = SECRET


def test_fixture_has_all_78_vectors():
    assert len(VECTORS["tests"]) == 78


@pytest.mark.parametrize("vector", VECTORS["tests"], ids=[t["name"] for t in VECTORS["tests"]])
def test_official_vector(vector):
    signed_url = vector["signedUrl"]
    token = signed_url.split("jwt=", 1)[1]
    claims = pyjwt.decode(token, SECRET, algorithms=["HS256"], options={"verify_exp": False})

    assert canonical_request("GET", signed_url) == vector["canonicalUrl"]
    assert query_string_hash("GET", signed_url) == claims["qsh"]
    # End to end through the verifier, at the moment the vector was signed.
    verified = verify_request_token(
        token,
        method="GET",
        url=signed_url,
        tenant_lookup=lambda iss: VectorTenant() if iss == claims["iss"] else None,
        clock=lambda: claims["iat"],
    )
    assert verified.client_key == claims["iss"]


def test_method_is_uppercased():
    assert canonical_request("post", "/user") == "POST&/user&"


@pytest.mark.parametrize(
    ("target", "base_path", "expected_uri"),
    [
        ("https://addon.example.com/jira-connector", "https://addon.example.com/jira-connector", "/"),
        ("https://addon.example.com/jira-connector/", "/jira-connector", "/"),
        ("https://addon.example.com/jira-connector/issue", "/jira-connector", "/issue"),
        ("https://addon.example.com/jira-connector/issue/", "/jira-connector/", "/issue"),
        ("/jira-connectorX/issue", "/jira-connector", "/jira-connectorX/issue"),
        ("https://example.com", "", "/"),
        ("/a&b", "", "/a%26b"),
    ],
)
def test_canonical_uri_rules(target, base_path, expected_uri):
    assert canonical_request("GET", target, base_path=base_path) == f"GET&{expected_uri}&"


def test_jwt_param_is_excluded_and_query_arguments_merge():
    assert canonical_request("GET", "/p?b=2&jwt=abc", {"a": ["y", "x"], "jwt": "zzz"}) == "GET&/p&a=x,y&b=2"


def test_mapping_and_raw_query_agree():
    raw = canonical_request("GET", "/search?jql=project+%3D+CS&fields=a&fields=b")
    mapped = canonical_request("GET", "/search", {"jql": "project = CS", "fields": ["b", "a"]})
    assert raw == mapped == "GET&/search&fields=a,b&jql=project%20%3D%20CS"


def test_documented_example():
    url = "/path/to/service?zee_last=param&repeated=parameter 1&first=param&repeated=parameter 2"
    assert canonical_request("GET", url) == (
        "GET&/path/to/service&first=param&repeated=parameter%201,parameter%202&zee_last=param"
    )
