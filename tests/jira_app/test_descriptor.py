"""The Connect descriptor: valid against Atlassian's schema, routes that exist, the checked-in render in step."""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path

import jsonschema
import pytest
from click.testing import CliRunner

from connect_app.cli import main
from connect_app.jira_app.descriptor import render_descriptor

ROOT = Path(__file__).resolve().parents[2]
SCHEMA = json.loads((ROOT / "tests/fixtures/atlassian/connect-jira-global-schema.json").read_text())
# Atlassian's active migrations page documents these two keys; the published schema copy predates them.
DOCUMENTED_MIGRATIONS = {"signed-install", "context-qsh"}


def url_paths(node) -> list[str]:
    """Every relative URL in the descriptor, without its query string."""
    found = []
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "url" and isinstance(value, str) and value.startswith("/"):
                found.append(value.split("?")[0])
            else:
                found += url_paths(value)
    elif isinstance(node, list):
        for item in node:
            found += url_paths(item)
    return found


@pytest.fixture
def descriptor():
    """The descriptor rendered for a production-like base URL."""
    return render_descriptor("https://cscx.example/jira")


def test_validates_against_the_connect_schema(descriptor):
    errors = list(jsonschema.Draft4Validator(SCHEMA).iter_errors(descriptor))
    # The pristine schema objects to nothing but the two documented migration flags ...
    assert [(list(e.path), set(re.findall(r"'([^']+)'", e.message)) & DOCUMENTED_MIGRATIONS) for e in errors] == [
        (["apiMigrations"], DOCUMENTED_MIGRATIONS)
    ]
    # ... and with them declared, it validates completely.
    schema = copy.deepcopy(SCHEMA)
    for key in DOCUMENTED_MIGRATIONS:
        schema["properties"]["apiMigrations"]["properties"][key] = {"type": "boolean"}
    jsonschema.Draft4Validator(schema).validate(descriptor)


def test_declares_what_the_app_needs(descriptor):
    assert descriptor["authentication"] == {"type": "jwt"}
    assert set(descriptor["lifecycle"]) == {"installed", "uninstalled", "enabled", "disabled"}
    assert descriptor["apiMigrations"] == {"signed-install": True, "context-qsh": True, "gdpr": True}
    assert descriptor["scopes"] == ["READ", "WRITE"]  # labels and properties need WRITE; nothing more
    modules = descriptor["modules"]
    assert modules["webPanels"][0]["location"] == "atl.jira.view.issue.right.context"
    assert modules["jiraIssueGlances"][0]["key"] == "cscx-customers-glance"
    extraction = modules["jiraEntityProperties"][0]["keyConfigurations"][0]["extractions"]
    assert {"objectName": "slugs", "type": "string", "alias": "cscxCustomer"} in extraction
    assert {w["event"] for w in modules["webhooks"]} == {"jira:issue_created", "jira:issue_updated",
                                                         "jira:issue_deleted"}
    assert {w["url"] for w in modules["webhooks"]} == {"/api/integrations/jira/webhook"}


def test_every_url_resolves_to_a_route(app, descriptor):
    adapter = app.url_map.bind("cscx.example")
    methods = {"/connect/installed": "POST", "/connect/uninstalled": "POST", "/connect/enabled": "POST",
               "/connect/disabled": "POST", "/api/integrations/jira/webhook": "POST"}
    paths = url_paths(descriptor) + list(descriptor["lifecycle"].values())
    unresolved = []
    for path in paths:
        try:
            adapter.match(path, method=methods.get(path, "GET"))
        except Exception:  # collect every miss for one clear failure message
            unresolved.append(path)
    assert not unresolved, unresolved


def test_checked_in_render_is_in_step():
    checked_in = json.loads((ROOT / "atlassian-connect.json").read_text())
    assert checked_in == render_descriptor("http://127.0.0.1:5000")


def test_cli_renders_for_a_base_url(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(main, ["descriptor", "--base-url", "https://jira-app.cscx.example/"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["baseUrl"] == "https://jira-app.cscx.example"


def test_app_serves_it_for_its_own_base_url(client):
    response = client.get("/atlassian-connect.json")
    assert response.status_code == 200
    assert response.json["baseUrl"] == "http://127.0.0.1:5000"
