"""Authentication: Basic (Cloud email + API token, Server username + password) and Server PATs."""

from __future__ import annotations

import requests

from jira_sandbox.auth import CLOUD_401_TEXT, SERVER_401_MESSAGE


def _get(server, path="/myself", **kwargs):
    api = 3 if server.state.flavour == "cloud" else 2
    return requests.get(f"{server.base_url}/rest/api/{api}{path}", timeout=10, **kwargs)


def test_cloud_rejects_anonymous_like_jira(cloud_site):
    response = _get(cloud_site)
    assert response.status_code == 401
    assert response.text == CLOUD_401_TEXT
    assert response.headers["X-Seraph-LoginReason"] == "AUTHENTICATION_DENIED"


def test_server_rejects_anonymous_with_json(server_site):
    response = _get(server_site)
    assert response.status_code == 401
    assert response.json() == {"errorMessages": [SERVER_401_MESSAGE], "errors": {}}


def test_cloud_basic_with_api_token(cloud_site):
    me = _get(cloud_site, auth=(cloud_site.email, cloud_site.api_token)).json()
    assert me["emailAddress"] == cloud_site.email and me["accountId"] == cloud_site.state.admin_id


def test_cloud_basic_with_wrong_token_is_401(cloud_site):
    response = _get(cloud_site, auth=(cloud_site.email, "not-the-token"))
    assert response.status_code == 401
    assert response.headers["X-Seraph-LoginReason"] == "AUTHENTICATED_FAILED"


def test_cloud_does_not_take_a_password_or_pat(cloud_site):
    assert _get(cloud_site, auth=(cloud_site.email, cloud_site.password)).status_code == 401
    assert _get(cloud_site, headers={"Authorization": f"Bearer {cloud_site.pat}"}).status_code == 401


def test_server_basic_with_password(server_site):
    me = _get(server_site, auth=(server_site.username, server_site.password)).json()
    assert me["name"] == "admin" and "accountId" not in me


def test_server_pat(server_site):
    me = _get(server_site, headers={"Authorization": f"Bearer {server_site.pat}"}).json()
    assert me["name"] == "admin"
    assert _get(server_site, headers={"Authorization": "Bearer wrong"}).status_code == 401


def test_server_info_is_anonymous(cloud_site, server_site):
    cloud = _get(cloud_site, "/serverInfo").json()
    server = _get(server_site, "/serverInfo").json()
    assert cloud["deploymentType"] == "Cloud"
    assert server["deploymentType"] == "Server" and server["versionNumbers"] == [9, 12, 2]


def test_control_endpoints_need_the_admin_token(cloud_site):
    url = f"{cloud_site.base_url}/_sandbox/stats"
    assert requests.get(url, timeout=10).status_code == 403
    assert requests.get(url, headers=cloud_site.admin_headers, timeout=10).status_code == 200


def test_users_made_through_control_can_log_in(fresh_server):
    user = requests.post(f"{fresh_server.base_url}/_sandbox/users", headers=fresh_server.admin_headers,
                         json={"displayName": "Casey CSM", "email": "casey@example.test", "name": "casey"},
                         timeout=10).json()
    me = _get(fresh_server, headers={"Authorization": f"Bearer {user['pat']}"}).json()
    assert me["displayName"] == "Casey CSM"
    found = _get(fresh_server, "/user", params={"username": "casey"},
                 headers={"Authorization": f"Bearer {user['pat']}"}).json()
    assert found["key"] == user["key"]
