"""Forge, host side, over HTTP: the `/_sandbox/forge` control routes and the published FIT key sets.

Control routes (admin token): `GET ""` (installs, calls, kids, JWKS fetch counts), `POST /install` (a
manifest and its resources), `/uninstall`, `/tokens/config`, `/token` (mint a FIT, with fault knobs),
`/keys/rotate`. Key sets: `/_forge/jwks.json` and `/_forge/stg/jwks.json`, like Forge's CDN.
"""

from __future__ import annotations

import uuid

from flask import Blueprint, jsonify, request

from jira_sandbox.connect_host import require_admin, site_state
from jira_sandbox.errors import JiraError
from jira_sandbox.forge_host import host_for, installation_ari
from jira_sandbox.forge_ui import admin_page_url

bp = Blueprint("sandbox_forge", __name__, url_prefix="/_sandbox/forge")
require_admin(bp)
keys_bp = Blueprint("sandbox_forge_keys", __name__)


def _body() -> dict:
    body = request.get_json(silent=True)
    return body if isinstance(body, dict) else {}


@bp.get("")
def list_view():
    """Every Forge install, the calls made to remotes, the published kids and JWKS fetch counts."""
    host = host_for(site_state())
    with host.state.lock:
        return jsonify({"installs": [i.summary() for i in host.installs.values()], "calls": list(host.calls),
                        "kids": [k.kid for k in host.keys], "staging_kids": [k.kid for k in host.staging_keys],
                        "jwks_requests": dict(host.jwks_requests),
                        "api_base_url": host.api_base_url(), "cloud_id": host.state.cloud_id})


@bp.post("/install")
def install_view():
    """Install a manifest: YAML as the body, or {"manifest": "<yaml>", "resources"?, "fault"?}; the lifecycle status.

    `resources` are the Custom UI files: {resource key: {relative path: text}}, index.html at the top.
    """
    body = _body() if request.is_json else {"manifest": request.get_data(as_text=True)}
    fault = body.get("fault") or request.args.get("fault")
    if not isinstance(body.get("manifest"), str) or not body["manifest"].strip():
        raise JiraError(400, ["a manifest is required"])
    state = site_state()
    install, status = host_for(state).install(body["manifest"], fault=fault, resources=body.get("resources"))
    return jsonify({**install.summary(), "lifecycle_status": status,
                    "admin_page_url": admin_page_url(state, install)}), 201


@bp.post("/uninstall")
def uninstall_view():
    """Uninstall an app: {"app_id", "fault"?}; its preUninstall endpoint is called first."""
    body = _body()
    status = host_for(site_state()).uninstall(str(body.get("app_id") or ""), fault=body.get("fault"))
    return jsonify({"pre_uninstall_status": status})


@bp.post("/tokens/config")
def token_config_view():
    """Token lifetimes: {"system_ttl_s"?, "user_ttl_s"?} (a short one lets a test see a token expire)."""
    host = host_for(site_state())
    for key, value in _body().items():
        if key not in host.token_config or isinstance(value, bool) or not isinstance(value, int | float):
            raise JiraError(400, [f"unknown or invalid token setting {key}"])
        host.token_config[key] = value
    return jsonify(host.token_config)


@bp.post("/token")
def token_view():
    """Mint a FIT: {"app_id", "installation_id"?, "principal"?, "ui"?, "staging"?, "fault"?} -> {"token", "claims"}."""
    body = _body()
    host = host_for(site_state())
    app_id = body.get("app_id")
    if not isinstance(app_id, str) or not app_id:
        raise JiraError(400, ["app_id is required"])
    install = host.get(app_id)
    installation_id = body.get("installation_id") or (
        install.installation_id if install else installation_ari(uuid.uuid5(uuid.NAMESPACE_URL, app_id)))
    environment_id = install.environment_id if install else str(uuid.uuid5(uuid.NAMESPACE_URL, installation_id))
    staging = bool(body.get("staging"))
    # A token naming a user is one a UI module's invokeRemote would bring, unless the test says otherwise.
    ui = bool(body["ui"]) if "ui" in body else bool(body.get("principal"))
    claims = host.claims(app_id, installation_id, environment_id, principal=body.get("principal"), staging=staging,
                         ui=ui)
    return jsonify({"token": host.sign(claims, staging=staging, fault=body.get("fault")), "claims": claims})


@bp.post("/keys/rotate")
def rotate_view():
    """Publish a new signing key: {"staging"?, "retire_old"?} -> {"kid"}."""
    body = _body()
    kid = host_for(site_state()).rotate(staging=bool(body.get("staging")), retire_old=bool(body.get("retire_old")))
    return jsonify({"kid": kid})


@keys_bp.get("/_forge/jwks.json")
def jwks_view():
    """The FIT key set, like https://forge.cdn.prod.atlassian-dev.net/.well-known/jwks.json."""
    return jsonify(host_for(site_state()).jwks())


@keys_bp.get("/_forge/stg/jwks.json")
def staging_jwks_view():
    """The staging FIT key set (tokens whose apiBaseUrl is on api.stg.atlassian.com)."""
    return jsonify(host_for(site_state()).jwks(staging=True))


def register(app, state) -> None:
    """Add the control routes and the key sets."""
    app.register_blueprint(bp)
    app.register_blueprint(keys_bp)
