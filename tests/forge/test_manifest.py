"""The Forge manifest: rendered for a base URL and app id, in step with the Connect app, valid for Atlassian."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from connect_app.cli import main
from connect_app.jira_app.descriptor import render_descriptor
from connect_app.jira_app.forge.manifest import forge_dir, render_manifest, resource_files
from tests.sandbox.app_receiver import AppReceiver

from .conftest import APP_ID, sandbox

ROOT = Path(__file__).resolve().parents[2]
BASE_URL = "https://jira-app.cscx.example"
VALIDATOR = ROOT / "descriptor/forge/validate.js"


@pytest.fixture
def manifest() -> dict:
    """The rendered manifest, parsed."""
    return yaml.safe_load(render_manifest(BASE_URL + "/", APP_ID))


def test_renders_the_app_id_and_the_remote(manifest):
    assert manifest["app"]["id"] == APP_ID
    assert manifest["remotes"] == [{"key": "cscx", "baseUrl": BASE_URL, "operations": ["storage"],
                                    "storage": {"inScopeEUD": True}}]


def test_keeps_the_connect_key_so_existing_installs_upgrade(manifest):
    connect = render_descriptor(BASE_URL)
    assert manifest["app"]["connect"] == {"key": connect["key"], "remote": "cscx"}


def test_indexes_the_same_issue_property_with_the_same_aliases(manifest):
    (connect_property,) = render_descriptor(BASE_URL)["modules"]["jiraEntityProperties"]
    (configuration,) = connect_property["keyConfigurations"]
    (forge_property,) = manifest["modules"]["jira:entityProperty"]
    assert forge_property["entityType"] == connect_property["entityType"] == "issue"
    assert forge_property["propertyKey"] == configuration["propertyKey"]
    assert [(v["path"], v["type"], v["searchAlias"]) for v in forge_property["values"]] == [
        (e["objectName"], e["type"], e["alias"]) for e in configuration["extractions"]]


def test_declares_the_panel_triggers_and_no_more_scopes_than_needed(manifest):
    modules = manifest["modules"]
    (context,) = modules["jira:issueContext"]
    assert (context["resource"], context["resolver"], context["title"]) == ("panel", {"endpoint": "cscx-ui"},
                                                                            "Customers")
    endpoints = {e["key"]: e for e in modules["endpoint"]}
    assert {e["remote"] for e in endpoints.values()} == {"cscx"}
    assert endpoints["cscx-ui"]["auth"] == {"appUserToken": {"enabled": True}, "appSystemToken": {"enabled": True}}
    routes = {(t["endpoint"], event) for t in modules["trigger"] for event in t["events"]}
    assert routes == {("cscx-issue-events", "avi:jira:created:issue"), ("cscx-issue-events", "avi:jira:updated:issue"),
                      ("cscx-issue-events", "avi:jira:deleted:issue"), ("cscx-lifecycle", "avi:forge:installed:app"),
                      ("cscx-lifecycle", "avi:forge:upgraded:app")}
    assert endpoints["cscx-issue-events"]["route"] == {"path": "/forge/events/issue"}
    assert endpoints["cscx-lifecycle"]["route"] == {"path": "/forge/lifecycle"}
    assert modules["preUninstall"] == [{"key": "cscx-pre-uninstall", "endpoint": "cscx-lifecycle"}]
    assert modules["scheduledTrigger"] == [{"key": "cscx-hourly", "endpoint": "cscx-scheduled", "interval": "hour"}]
    (admin_page,) = modules["jira:adminPage"]  # the configure page: a Jira admin links the site to a workspace
    assert (admin_page["resource"], admin_page["resolver"], admin_page["useAsConfig"]) == (
        "panel", {"endpoint": "cscx-ui"}, True)
    assert manifest["permissions"] == {"scopes": ["read:jira-work", "write:jira-work", "read:app-system-token",
                                                  "read:app-user-token"]}
    assert manifest["resources"] == [{"key": "panel", "path": "panel/build"}]


@pytest.mark.parametrize(("base_url", "app_id"), [
    ("https://jira-app.cscx.example", "6c4f1a52-93b2-4c1e-8a7d-0e5f2b9c1d34"),
    ("https://jira-app.cscx.example", "ari:cloud:ecosystem::app/x\nremotes: []"),
    ("jira-app.cscx.example", APP_ID),
    ("https://jira-app.cscx.example/?x=1", APP_ID),
])
def test_refuses_what_is_not_an_app_id_or_a_base_url(base_url, app_id):
    with pytest.raises(ValueError):
        render_manifest(base_url, app_id)


def test_the_panel_is_a_custom_ui_on_a_pinned_bridge_calling_the_remote():
    panel = forge_dir() / "panel"
    package = (panel / "package.json").read_text()
    assert '"@forge/bridge": "7.2.0"' in package
    script = (panel / "src/panel.js").read_text()
    assert "from '@forge/bridge'" in script
    assert "invokeRemote(" in script
    assert "/forge/ui/panel?" in script and "/forge/ui/configure" in script
    assert '<script type="module" src="./panel.js">' in (panel / "public/index.html").read_text()
    assert '"build": "esbuild src/panel.js --bundle' in package


def test_cli_prints_the_rendered_manifest(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(main, ["descriptor", "--forge", "--base-url", BASE_URL + "/", "--app-id", APP_ID])
    assert result.exit_code == 0, result.output
    assert result.output == render_manifest(BASE_URL, APP_ID)
    monkeypatch.delenv("FORGE_APP_ID", raising=False)
    missing = CliRunner().invoke(main, ["descriptor", "--forge", "--base-url", BASE_URL])
    assert missing.exit_code == 2
    assert "--app-id" in missing.output
    wrong = CliRunner().invoke(main, ["descriptor", "--forge", "--base-url", BASE_URL, "--app-id", "nope"])
    assert wrong.exit_code == 2
    assert "ari:cloud:ecosystem::app/" in wrong.output


def app_folder(tmp_path: Path) -> Path:
    """A Forge app folder as `forge deploy` sees it: the rendered manifest and the panel's resource folder.

    The panel's bundle is built by its own npm package (esbuild); the validator checks the folder and
    its HTML entry, so the unbundled files (what the sandbox serves) stand in for the build here.
    """
    folder = tmp_path / "app"
    build = folder / "panel/build"
    build.mkdir(parents=True)
    (folder / "manifest.yml").write_text(render_manifest(BASE_URL, APP_ID))
    for name, text in resource_files("panel").items():
        (build / name).write_text(text)
    return folder


def run_validator(folder: Path) -> subprocess.CompletedProcess:
    """Atlassian's @forge/manifest validation, offline, from the app folder (resources resolve against it)."""
    node = shutil.which("node")
    if node is None:
        pytest.fail("node is not installed: the Forge manifest is validated with Node.js (`./run test` needs it)")
    if not (ROOT / "node_modules/@forge/manifest/package.json").is_file():
        pytest.fail("@forge/manifest is not installed: run `npm ci` in the repository (./run test does)")
    return subprocess.run([node, str(VALIDATOR), "manifest.yml"], cwd=folder, capture_output=True, text=True,
                          timeout=120, check=False)


def test_passes_atlassians_manifest_validation(tmp_path):
    result = run_validator(app_folder(tmp_path))
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip().endswith("success=true")


def test_the_validator_really_validates(tmp_path):
    folder = app_folder(tmp_path)
    shutil.rmtree(folder / "panel")
    result = run_validator(folder)
    assert result.returncode == 1
    assert "missing resource 'panel/build'" in result.stdout
    assert "success=false" in result.stdout


def test_the_sandbox_installs_it_and_calls_the_lifecycle_route(forge_site, verify):
    with AppReceiver() as remote:
        response = sandbox(forge_site, "POST", "/install", data=render_manifest(remote.base_url, APP_ID),
                           headers={"Content-Type": "application/yaml"})
        assert response.status_code == 201, response.text
        (call,) = remote.on("/forge/lifecycle")
    assert call.json()["eventType"] == "avi:forge:installed:app"
    assert verify(call.headers["Authorization"].removeprefix("Bearer ")).installation_id == \
        response.json()["installation_id"]
    assert response.json()["connect_key"] == "ai.cscx.jira"


def test_the_demo_can_install_the_app_the_forge_way():
    result = CliRunner().invoke(main, ["demo", "--help"])
    assert result.exit_code == 0 and "--forge" in result.output
