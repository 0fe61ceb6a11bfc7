"""Atlassian Connect, host side: install apps from descriptors, sign lifecycle calls, accept app JWTs.

What the sandbox does the way Jira Cloud does (signed install, enforced since Oct 2021):
`installed` / `uninstalled` carry an RS256 JWT whose header `kid` names a public key served at
`/_connect/install-keys/<kid>` (our stand-in for connect-install-keys.atlassian.com); claims
`iss` = clientKey, `aud` = the app's baseUrl, `qsh` bound to that POST. `enabled` / `disabled`,
webhooks and iframe URLs carry HS256 JWTs signed with the install's sharedSecret. Apps call
the REST API with `Authorization: JWT` (HS256, `iss` = app key, real qsh).
Independent of `connect_app` on purpose: QSH comes from `atlassian_jwt`, so the two cross-check.
"""

from __future__ import annotations

import hmac
import logging
import secrets
import time
import uuid
from dataclasses import asdict, dataclass, field

import jwt
import requests
from atlassian_jwt.url_utils import hash_url
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from flask import Blueprint, Response, abort, g, jsonify, request

from jira_sandbox.auth import AuthFailed, Principal
from jira_sandbox.connect_jwt import TOKEN_TTL_S, qsh_for, sign_for_app
from jira_sandbox.control import ADMIN_HEADER
from jira_sandbox.errors import JiraError

log = logging.getLogger(__name__)

HTTP_TIMEOUT_S = 10
PLUGINS_VERSION = "1001.0.0-SNAPSHOT"
# Deliberate defects a test can ask for on lifecycle tokens (the product's negative tests).
LIFECYCLE_FAULTS = ("bad_signature", "wrong_aud", "wrong_qsh", "wrong_key", "wrong_iss", "expired",
                    "unknown_kid", "hs256", "no_token")
WRITE_METHODS = ("POST", "PUT", "PATCH", "DELETE")


@dataclass
class Install:
    """One installed Connect app, as Jira remembers it."""

    key: str
    name: str
    base_url: str
    client_key: str
    shared_secret: str
    user_id: str
    descriptor: dict
    lifecycle: dict = field(default_factory=dict)
    webhooks: list = field(default_factory=list)
    entity_properties: list = field(default_factory=list)
    glances: list = field(default_factory=list)
    panels: list = field(default_factory=list)
    scopes: list = field(default_factory=list)
    api_migrations: dict = field(default_factory=dict)
    enabled: bool = True

    def summary(self) -> dict:
        """What `GET /_sandbox/apps` shows (everything but the descriptor)."""
        data = asdict(self)
        data.pop("descriptor")
        return data


def require_admin(bp: Blueprint) -> None:
    """Guard a `/_sandbox/...` blueprint with the admin token header, like the core control plane."""

    @bp.before_request
    def _check():
        state = site_state()
        given = request.headers.get(ADMIN_HEADER, "")
        if not hmac.compare_digest(given.encode(), state.admin_token.encode()):
            return jsonify({"errorMessages": [f"Missing or wrong {ADMIN_HEADER} header."], "errors": {}}), 403
        return None


def site_state():
    """The SandboxState serving this request."""
    from flask import current_app
    return current_app.extensions["jira_sandbox"]


class ConnectHost:
    """The site's Connect installs, its install signing keys and the lifecycle calls it made."""

    def __init__(self, state):
        self.state = state
        self.installs: dict[str, Install] = {}
        self.lifecycle_calls: list[dict] = []
        self.kid = str(uuid.uuid4())
        self._private_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        # A second key, never published under any kid: the "wrong_key" fault signs with it.
        self._stray_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.client_key = str(uuid.uuid5(uuid.NAMESPACE_URL, f"jira-sandbox:{state.cloud_id}"))

    def public_pem(self, kid: str) -> str | None:
        """PEM of the install public key named `kid`, or None."""
        if kid != self.kid:
            return None
        return self._private_key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()

    def get(self, key: str | None) -> Install | None:
        """The install of app `key`."""
        with self.state.lock:
            return self.installs.get(key) if key else None

    def all(self) -> list[Install]:
        """Every install."""
        with self.state.lock:
            return list(self.installs.values())

    # ---- install / uninstall -------------------------------------------------------------

    def install(self, descriptor_url: str, fault: str | None = None, new_secret: bool = False) -> Install:
        """Fetch a descriptor and install (or re-install) the app; raises JiraError when it fails."""
        if fault and fault not in LIFECYCLE_FAULTS:
            raise JiraError(400, [f"fault must be one of {', '.join(LIFECYCLE_FAULTS)}"])
        try:
            response = requests.get(descriptor_url, timeout=HTTP_TIMEOUT_S)
            response.raise_for_status()
            descriptor = response.json()
        except (requests.RequestException, ValueError) as exc:
            raise JiraError(400, [f"Could not fetch the app descriptor: {exc}"]) from None
        if not isinstance(descriptor, dict) or not descriptor.get("key") or not descriptor.get("baseUrl"):
            raise JiraError(400, ["The app descriptor needs a key and a baseUrl."])
        previous = self.get(descriptor["key"])
        # A re-install keeps the tenant's secret unless asked to rotate it; a first install
        # (including after an uninstall) always gets a fresh one.
        secret = previous.shared_secret if previous and not new_secret else secrets.token_urlsafe(32)
        install = self._from_descriptor(descriptor, secret, previous)
        status = self._lifecycle(install, "installed", fault=fault)
        if status not in (200, 204):
            raise JiraError(400, [f"The app's installed callback answered {status}; installation failed."])
        with self.state.lock:
            self.installs[install.key] = install
        if install.lifecycle.get("enabled"):
            self._lifecycle(install, "enabled")
        log.info("sandbox.connect.installed", extra={"app_key": install.key, "reinstall": bool(previous)})
        return install

    def uninstall(self, key: str, fault: str | None = None) -> None:
        """Send `disabled` then the signed `uninstalled` callback and forget the install."""
        install = self.get(key)
        if install is None:
            raise JiraError(404, [f"No app with key '{key}' is installed."])
        if install.lifecycle.get("disabled") and install.enabled:
            self._lifecycle(install, "disabled")
        self._lifecycle(install, "uninstalled", fault=fault)
        with self.state.lock:
            self.installs.pop(key, None)

    def set_enabled(self, key: str, enabled: bool) -> Install:
        """Enable or disable an installed app, calling its lifecycle hook."""
        install = self.get(key)
        if install is None:
            raise JiraError(404, [f"No app with key '{key}' is installed."])
        install.enabled = enabled
        event = "enabled" if enabled else "disabled"
        if install.lifecycle.get(event):
            self._lifecycle(install, event)
        return install

    def _from_descriptor(self, d: dict, secret: str, previous: Install | None) -> Install:
        modules = d.get("modules") or {}
        user_id = previous.user_id if previous else self._app_user(d)
        panels = [dict(p, moduleType="webPanels") for p in modules.get("webPanels", [])
                  if p.get("location", "").startswith("atl.jira.view.issue")]
        panels += [dict(p, moduleType="jiraIssueContents") for p in modules.get("jiraIssueContents", [])]
        return Install(
            key=d["key"], name=d.get("name", d["key"]), base_url=d["baseUrl"].rstrip("/"),
            client_key=self.client_key, shared_secret=secret, user_id=user_id, descriptor=d,
            lifecycle=dict(d.get("lifecycle") or {}), webhooks=list(modules.get("webhooks", [])),
            entity_properties=list(modules.get("jiraEntityProperties", [])),
            glances=list(modules.get("jiraIssueGlances", [])), panels=panels,
            scopes=[s.upper() for s in d.get("scopes", ["READ"])],
            api_migrations=dict(d.get("apiMigrations") or {}),
        )

    def _app_user(self, d: dict) -> str:
        # Every Connect app acts as its own "app" user in Jira.
        user = self.state.add_user(d.get("name", d["key"]), f"{d['key']}@connect.sandbox.test",
                                   name=f"addon_{d['key']}")
        user["accountType"] = "app"
        return user["accountId"]

    # ---- lifecycle calls -----------------------------------------------------------------

    def lifecycle_payload(self, install: Install, event: str) -> dict:
        """The JSON body Jira posts to a lifecycle URL."""
        base = self.state.base_url
        return {
            "key": install.key, "clientKey": install.client_key, "sharedSecret": install.shared_secret,
            "serverVersion": "100287" if self.state.flavour == "cloud" else "9.12.2",
            "pluginsVersion": PLUGINS_VERSION, "baseUrl": base, "displayUrl": base,
            "productType": "jira", "description": f"Atlassian JIRA at {base}",
            "serviceEntitlementNumber": "SEN-0000000", "eventType": event,
        }

    def _lifecycle(self, install: Install, event: str, fault: str | None = None) -> int:
        url = install.base_url + install.lifecycle.get(event, "") if install.lifecycle.get(event) else None
        if url is None:
            return 204
        signed = event in ("installed", "uninstalled")
        token = self.install_token(install, "POST", url, fault) if signed else \
            sign_for_app(install, "POST", url, sub=self.state.admin_id)
        headers = {"Content-Type": "application/json"}
        if token:
            headers["Authorization"] = f"JWT {token}"
        try:
            response = requests.post(url, json=self.lifecycle_payload(install, event), headers=headers,
                                     timeout=HTTP_TIMEOUT_S)
            status = response.status_code
        except requests.RequestException as exc:
            log.warning("sandbox.connect.lifecycle_failed", extra={"event": event, "error": str(exc)})
            status = 0
        with self.state.lock:
            self.lifecycle_calls.append({"app_key": install.key, "event": event, "url": url, "status": status,
                                         "fault": fault, "time": time.time()})
        return status

    def install_token(self, install: Install, method: str, url: str, fault: str | None = None) -> str | None:
        """The RS256 signed-install JWT for a lifecycle call, optionally with a deliberate defect."""
        now = int(time.time())
        claims = {"iss": install.client_key, "aud": install.base_url, "sub": self.state.admin_id,
                  "qsh": qsh_for(method, url, install.base_url), "context": {}, "iat": now,
                  "exp": now + TOKEN_TTL_S}
        headers = {"kid": self.kid, "typ": "JWT"}
        key = self._private_key
        if fault == "no_token":
            return None
        if fault == "wrong_aud":
            claims["aud"] = "https://not-this-app.example.com"
        elif fault == "wrong_qsh":
            claims["qsh"] = hash_url("POST", "/some/other/path")
        elif fault == "wrong_iss":
            claims["iss"] = str(uuid.uuid4())
        elif fault == "expired":
            claims["iat"], claims["exp"] = now - 3600, now - 1800
        elif fault == "unknown_kid":
            headers["kid"] = str(uuid.uuid4())
        elif fault == "wrong_key":
            key = self._stray_key
        elif fault == "hs256":
            # The pre-2021 attack: HS256 signed with the secret that travels in the same body.
            return jwt.encode(claims, install.shared_secret, algorithm="HS256", headers={"typ": "JWT"})
        token = jwt.encode(claims, key, algorithm="RS256", headers=headers)
        if fault == "bad_signature":
            head, body, sig = token.split(".")
            token = ".".join((head, body, ("A" if sig[0] != "A" else "B") + sig[1:]))
        return token

    # ---- inbound app JWTs ----------------------------------------------------------------

    def authenticate(self, request_, state) -> Principal | None:
        """Authenticator for `Authorization: JWT <HS256>` (or `?jwt=`) from an installed app."""
        header = request_.headers.get("Authorization", "")
        if header[:4].lower() == "jwt ":
            token = header[4:].strip()
        elif "jwt" in request_.args and not header:
            token = request_.args["jwt"]
        else:
            return None
        # Fixed order: parse unverified, pin the algorithm, find the tenant by iss, verify the
        # signature and expiry with that tenant's secret, and only then trust the qsh.
        try:
            alg = jwt.get_unverified_header(token).get("alg")
            issuer = jwt.decode(token, options={"verify_signature": False}).get("iss")
        except jwt.PyJWTError:
            raise AuthFailed("Malformed JWT") from None
        if alg != "HS256":
            raise AuthFailed("JWT algorithm must be HS256")
        install = self.get(issuer)
        if install is None or not install.enabled:
            raise AuthFailed("JWT issuer is not an installed app")
        try:
            claims = jwt.decode(token, install.shared_secret, algorithms=["HS256"], leeway=30,
                                options={"verify_aud": False, "require": ["exp", "iat", "qsh"]})
        except jwt.ExpiredSignatureError:
            raise AuthFailed("JWT expired") from None
        except jwt.PyJWTError:
            raise AuthFailed("JWT signature invalid") from None
        # Jira hashes the path as sent (getRequestURI, still percent-encoded), not the decoded one.
        target = request_.environ.get("RAW_URI") or request_.environ.get("REQUEST_URI") or (
            request_.path + (f"?{request_.query_string.decode()}" if request_.query_string else ""))
        expected = qsh_for(request_.method, target, state.base_url)
        if not hmac.compare_digest(str(claims["qsh"]), expected):
            raise AuthFailed("JWT qsh does not match the request")
        if install.user_id not in state.users:  # a /_sandbox/reset dropped the app user
            install.user_id = self._app_user(install.descriptor)
        return Principal(user_id=install.user_id, kind="jwt", app_key=install.key, scopes=install.scopes)


def host_for(state) -> ConnectHost:
    """The ConnectHost of a site (created by `register`)."""
    return state.connect_host


def install_app(state, descriptor_url: str, fault: str | None = None, new_secret: bool = False) -> Install:
    """Install an app into `state` from its descriptor URL (Python entry point for tests)."""
    return host_for(state).install(descriptor_url, fault=fault, new_secret=new_secret)


bp = Blueprint("sandbox_connect", __name__, url_prefix="/_sandbox/apps")
require_admin(bp)
keys_bp = Blueprint("sandbox_install_keys", __name__)


def _body() -> dict:
    body = request.get_json(silent=True)
    return body if isinstance(body, dict) else {}


@bp.post("/install")
def install_view():
    """Install an app: {"descriptor_url", "fault"?, "new_secret"?} -> the install (incl. sharedSecret)."""
    body = _body()
    if not body.get("descriptor_url"):
        raise JiraError(400, ["descriptor_url is required"])
    install = install_app(site_state(), body["descriptor_url"], body.get("fault"), bool(body.get("new_secret")))
    return jsonify(install.summary()), 201


@bp.get("")
def list_view():
    """Every install plus the lifecycle calls made so far."""
    host = host_for(site_state())
    return jsonify({"installs": [i.summary() for i in host.all()], "lifecycle_calls": list(host.lifecycle_calls),
                    "kid": host.kid})


@bp.post("/<key>/uninstall")
def uninstall_view(key):
    """Uninstall an app: {"fault"?} applies to the signed `uninstalled` token."""
    host_for(site_state()).uninstall(key, fault=_body().get("fault"))
    return "", 204


@bp.post("/<key>/<any('enable','disable'):action>")
def enable_view(key, action):
    """Enable or disable an app (calls its enabled/disabled hook)."""
    return jsonify(host_for(site_state()).set_enabled(key, action == "enable").summary())


@bp.post("/<key>/sign")
def sign_view(key):
    """Sign a URL as Jira would for this app: {"method", "url", "context_qsh"?, "sub"?, "context"?}."""
    body = _body()
    install = host_for(site_state()).get(key)
    if install is None:
        raise JiraError(404, [f"No app with key '{key}' is installed."])
    token = sign_for_app(install, body.get("method", "GET"), body.get("url", install.base_url),
                         context_qsh=bool(body.get("context_qsh")), sub=body.get("sub"), context=body.get("context"))
    return jsonify({"jwt": token})


@keys_bp.get("/_connect/install-keys/<kid>")
def install_key(kid):
    """The PEM public key for `kid`, like https://connect-install-keys.atlassian.com/<kid>."""
    pem = host_for(site_state()).public_pem(kid)
    if pem is None:
        abort(404)
    return Response(pem, mimetype="text/plain")


def _enforce_app_scopes():
    """Coarse Connect scope check: an app without WRITE (or higher) may only read."""
    principal = getattr(g, "principal", None)
    if principal is None or principal.kind != "jwt" or request.method not in WRITE_METHODS:
        return None
    if set(principal.scopes or ()) & {"WRITE", "ADMIN", "PROJECT_ADMIN", "DELETE"}:
        return None
    if request.path.rstrip("/").endswith(("/webhook", "/webhook/refresh")):
        return None  # dynamic webhooks need only READ for Connect apps
    return jsonify({"errorMessages": ["The app is not allowed to perform this operation (scope)."],
                    "errors": {}}), 403


def register(app, state) -> None:
    """Create the site's ConnectHost, its authenticator, control endpoints and the install-keys route."""
    state.connect_host = ConnectHost(state)
    state.authenticators.append(state.connect_host.authenticate)
    app.register_blueprint(bp)
    app.register_blueprint(keys_bp)
    app.before_request(_enforce_app_scopes)
