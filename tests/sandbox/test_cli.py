"""`python -m jira_sandbox` prints one JSON line and serves a seeded site."""

from __future__ import annotations

import requests

from connect_app.demo import SandboxSite


def test_cli_prints_connection_line_and_serves():
    with SandboxSite(flavour="server", issues=25, seed=4) as site:
        assert set(site.info) >= {"base_url", "email", "api_token", "pat", "admin_token"}
        me = requests.get(f"{site.base_url}/rest/api/2/myself", timeout=10,
                          headers={"Authorization": f"Bearer {site.info['pat']}"}).json()
        assert me["name"] == "admin"
        info = requests.get(f"{site.base_url}/_sandbox/info", headers=site.admin_headers, timeout=10).json()
        assert info["issues"] == 25 and info["flavour"] == "server"


def test_cli_state_file_survives_a_restart(tmp_path):
    state_file = str(tmp_path / "site.pickle")
    args = ("--state-file", state_file)
    with SandboxSite(issues=10, seed=2, extra_args=args) as site:
        auth = (site.info["email"], site.info["api_token"])
        requests.put(f"{site.base_url}/rest/api/3/issue/CS-1/properties/kept", json=1, auth=auth, timeout=10)
    with SandboxSite(issues=0, extra_args=args) as site:
        auth = (site.info["email"], site.info["api_token"])
        response = requests.get(f"{site.base_url}/rest/api/3/issue/CS-1/properties/kept", auth=auth, timeout=10)
        assert response.json() == {"key": "kept", "value": 1}
