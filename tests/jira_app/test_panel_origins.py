"""The Jira origins the Customers panel will tell its size to (panel.js posts to no other)."""

from __future__ import annotations

from types import SimpleNamespace

from connect_app.jira_app.connect.panel import jira_origins


def site(base_url, display_url=None):
    return SimpleNamespace(base_url=base_url, display_url=display_url)


def test_origins_are_spelled_as_a_browser_spells_them():
    assert jira_origins(site("https://Acme.atlassian.net:443/", "https://jira.acme.com/jira")) == [
        "https://acme.atlassian.net", "https://jira.acme.com"]
    assert jira_origins(site("http://127.0.0.1:8080", "http://127.0.0.1:8080/")) == ["http://127.0.0.1:8080"]
    assert jira_origins(site("http://[::1]:2990/jira")) == ["http://[::1]:2990"]


def test_only_web_origins_count():
    assert jira_origins(site("javascript:alert(1)", "")) == []
    assert jira_origins(site("https:///no-host", "data:text/html,x")) == []
