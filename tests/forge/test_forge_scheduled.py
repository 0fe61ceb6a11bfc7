"""The hourly scheduled trigger: a fresh system token for the periodic sync, and the sync when it is due."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
import requests
import yaml
from sqlalchemy import func, select

from connect_app.connections.access import jira_client
from connect_app.connections.forge_installations import claim_due_sync
from connect_app.connections.records import TokenUnavailable
from connect_app.extensions import db
from connect_app.jira_app.forge.manifest import render_manifest
from connect_app.models import JiraConnection, SyncRun
from connect_app.models.types import utcnow
from jira_sandbox.forge_schedule import FIRST_CALL_AFTER_S, scheduler_for
from tests.factories import make_connection, make_organization
from tests.tracking.support import wait_for

from .conftest import APP_ID, mint


def set_connection(s, **values) -> None:
    """Change the site's connection row."""
    with s.live.app.app_context():
        connection = db.session.scalar(select(JiraConnection))
        for name, value in values.items():
            setattr(connection, name, value)
        db.session.commit()
        db.session.remove()


def sync_runs(s) -> list[str]:
    """The status of every sync run."""
    with s.live.app.app_context():
        runs = db.session.scalars(select(SyncRun.status).order_by(SyncRun.started_at)).all()
        db.session.remove()
    return list(runs)


def trigger(s, token: str) -> requests.Response:
    """The scheduled trigger's call to the remote, with a FIT minted by the sandbox."""
    return requests.post(f"{s.live.base_url}/forge/scheduled", json={"context": {"moduleKey": "cscx-hourly"}},
                         headers={"Authorization": f"Bearer {token}"}, timeout=30)


def test_the_manifest_calls_the_remote_every_hour_with_a_system_token():
    manifest = yaml.safe_load(render_manifest("https://jira-app.cscx.example", APP_ID))
    (scheduled,) = manifest["modules"]["scheduledTrigger"]
    assert (scheduled["interval"], scheduled["endpoint"]) == ("hour", "cscx-scheduled")
    (endpoint,) = [e for e in manifest["modules"]["endpoint"] if e["key"] == "cscx-scheduled"]
    assert endpoint["route"] == {"path": "/forge/scheduled"}
    assert endpoint["auth"] == {"appSystemToken": {"enabled": True}}


def test_the_trigger_brings_a_fresh_token_when_the_cached_one_ran_out(forge_installed):
    s = forge_installed
    # Hours without an invocation: the cached token is past its documented lifetime, Jira calls must wait.
    stale = s.connection().access_token
    set_connection(s, token_expires_at=utcnow() - timedelta(minutes=1), next_sync_at=utcnow() + timedelta(hours=1))
    with s.live.app.app_context(), pytest.raises(TokenUnavailable):
        jira_client(db.session.scalar(select(JiraConnection)))

    fired = s.forge("POST", "/scheduled", json={}).json()["fired"]
    assert [(f["module_key"], f["status"]) for f in fired] == [("cscx-hourly", 200)]
    connection = s.connection()
    assert connection.access_token.startswith("forge-sys-") and connection.access_token != stale
    assert connection.token_expires_at > utcnow() + timedelta(minutes=110)
    with s.live.app.app_context():
        client = jira_client(db.session.scalar(select(JiraConnection)))
        assert client.server_info()["baseUrl"] == s.site.base_url  # the sandbox took the new token
        db.session.remove()
    assert sync_runs(s) == []  # the sync was not due


def test_a_due_sync_runs_once_however_often_the_trigger_comes(forge_installed):
    s = forge_installed
    s.create_issue("Refund fails", ["customer_acme"])
    s.settle()
    set_connection(s, next_sync_at=utcnow() - timedelta(minutes=1))
    first = trigger(s, mint(s.site))
    assert first.status_code == 200 and first.json() == {"sync": "enqueued"}
    assert trigger(s, mint(s.site)).json() == {"sync": "not_due"}
    wait_for(lambda: sync_runs(s) == ["ok"], message="the sync the trigger enqueued")
    assert s.connection().next_sync_at > utcnow() + timedelta(minutes=10)
    assert trigger(s, mint(s.site)).json() == {"sync": "not_due"}
    assert sync_runs(s) == ["ok"]


def test_an_unlinked_site_only_refreshes_its_token(forge_site_factory):
    s = forge_site_factory(linked=False)
    assert trigger(s, mint(s.site)).json() == {"sync": "not_due"}
    assert sync_runs(s) == []


def test_the_trigger_route_refuses_a_users_token(forge_installed):
    s = forge_installed
    set_connection(s, next_sync_at=None)
    response = trigger(s, mint(s.site, principal=s.site.state.admin_id))
    assert response.status_code == 403 and response.json()["error"]["code"] == "forbidden"
    # ... also when it comes through the UI's invokeRemote, which may name any path.
    status, _ = s.invoke("/forge/scheduled", s.site.state.admin_id, "POST", {})
    assert status == 403
    assert s.connection().next_sync_at is None and sync_runs(s) == []
    # A trigger's token (app.module.type core:endpoint) is let in even if it named a user.
    set_connection(s, next_sync_at=utcnow() + timedelta(hours=1))
    assert trigger(s, mint(s.site, principal=s.site.state.admin_id, ui=False)).json() == {"sync": "not_due"}


def test_the_sandbox_fires_the_trigger_five_minutes_after_install_then_hourly(forge_installed):
    s = forge_installed
    set_connection(s, next_sync_at=utcnow() + timedelta(hours=1))
    scheduler = scheduler_for(s.site.state)
    now = time.time()
    assert scheduler.tick(now + 60) == []
    fired = scheduler.tick(now + FIRST_CALL_AFTER_S + 1)
    assert [(f["module_key"], f["status"]) for f in fired] == [("cscx-hourly", 200)]
    assert scheduler.tick(now + FIRST_CALL_AFTER_S + 1800) == []
    assert [f["status"] for f in scheduler.tick(now + FIRST_CALL_AFTER_S + 3602)] == [200]


def test_a_due_sync_is_claimed_by_one_caller(app):
    with app.app_context():
        org = make_organization()
        due = make_connection(org, kind="forge", client_key=None, installation_id="ari:x", next_sync_at=None)
        unlinked = make_connection(None, kind="forge", client_key=None, installation_id="ari:y", status="pending")
        assert claim_due_sync(due, timedelta(minutes=15)) is True
        assert claim_due_sync(due, timedelta(minutes=15)) is False
        assert claim_due_sync(unlinked, timedelta(minutes=15)) is False
        claimed_until = db.session.get(JiraConnection, due.id).next_sync_at
        assert claimed_until > utcnow() + timedelta(minutes=14)
        assert db.session.scalar(select(func.count()).select_from(JiraConnection)
                                 .where(JiraConnection.next_sync_at.is_not(None))) == 1
