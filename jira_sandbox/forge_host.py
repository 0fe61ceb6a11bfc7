"""Forge, host side: install apps from manifests, mint Forge Invocation Tokens, publish their keys.

What the sandbox does the way Forge does (Forge remote essentials): every call to a remote
carries `Authorization: Bearer <FIT>`, an RS256 JWT signed with a key published in a JWKS
(`/_forge/jwks.json` here, our stand-in for forge.cdn.prod.atlassian-dev.net; `/_forge/stg/jwks.json`
for the staging key set, used when `app.apiBaseUrl` is on api.stg.atlassian.com), with
`iss` = `forge/invocation-token`, `aud` = the app id and the documented claims (`app.id`,
`app.installationId`, `app.apiBaseUrl`, `app.installation.contexts`, `app.environment`, `app.module`
(type `xen:macro` from a UI module, else `core:endpoint`), `context.cloudId`, `context.siteUrl`,
`context.moduleKey`, and for UI calls `context.extension` and `principal`). Endpoints with `appSystemToken` enabled also
get an opaque `x-forge-oauth-system` token (and `x-forge-oauth-user` with `appUserToken` when a user is
in session); the REST API accepts both as Bearer tokens under `/ex/jira/{cloudId}` until they expire.
Installing a manifest whose `app.connect.key` is an installed Connect app upgrades that app: its
Connect modules (webhooks, panels, lifecycle) stop, and the Forge app acts as the same app user.
Installing also takes the manifest's Custom UI resources (their files, as `forge deploy` uploads them).
Its control routes and key sets are served by `forge_control`; issue triggers are delivered by `forge_events`,
scheduled triggers by `forge_schedule`; the Custom UI is hosted in the issue view and the admin page by
`forge_ui`, its @forge/bridge stand-in is `forge_bridge`.
Independent of `connect_app` on purpose, so the product's verifier is cross-checked.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import re
import secrets
import time
import uuid
from dataclasses import dataclass, field

import jwt
import requests
import yaml
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from flask import g, jsonify, request
from jwt.algorithms import RSAAlgorithm

from jira_sandbox.auth import AuthFailed, Principal
from jira_sandbox.connect_host import host_for as connect_host_for
from jira_sandbox.errors import JiraError

log = logging.getLogger(__name__)

HTTP_TIMEOUT_S = 5  # Forge gives a remote's event endpoint 5 s
FIT_TTL_S = 300
SYSTEM_TOKEN_TTL_S = 3 * 3600  # documented: valid at least 2 h, at most 4 h
USER_TOKEN_TTL_S = 3600
TOKEN_PREFIXES = ("forge-sys-", "forge-usr-")
EX_ENVIRON_KEY = "jira_sandbox.ex_cloud_id"  # set by oauth.ExRouter for /ex/jira/<cloudId>/... requests
ISSUER = "forge/invocation-token"
STAGING_API_BASE = "https://api.stg.atlassian.com"
INSTALLED_EVENT = "avi:forge:installed:app"
UPGRADED_EVENT = "avi:forge:upgraded:app"
# A Custom UI resource's files: relative paths, text, a few MB at most (Forge's quotas are per deployment).
_RESOURCE_PATH = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9._-]*(/[A-Za-z0-9_-][A-Za-z0-9._-]*)*")
MAX_RESOURCE_BYTES = 5 * 1024 * 1024
# `app.module.type` of a FIT: the UI module's for front-end invocations (the docs' example), else core:endpoint.
UI_MODULE_TYPE = "xen:macro"
ENDPOINT_MODULE_TYPE = "core:endpoint"
# Deliberate defects a test can ask for on a FIT (the product's negative tests).
FIT_FAULTS = ("wrong_key", "wrong_aud", "wrong_iss", "expired", "not_yet_valid", "unknown_kid", "alg_none",
              "hs256_public_key", "no_header", "bad_signature")


def installation_ari(installation: uuid.UUID) -> str:
    """The ARI of an installation (`app.installationId`)."""
    return f"ari:cloud:ecosystem::installation/{installation}"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _compose(header: dict, claims: dict, sign) -> str:
    """A JWT built by hand, for the forgeries PyJWT rightly refuses to make."""
    signing_input = f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(claims).encode())}"
    return f"{signing_input}.{_b64(sign(signing_input.encode()))}"


@dataclass
class SigningKey:
    """One RSA key pair and the kid it is published under."""

    kid: str
    private_key: rsa.RSAPrivateKey = field(repr=False)

    @classmethod
    def new(cls, prefix: str) -> SigningKey:
        """A fresh 2048-bit key with a new kid."""
        return cls(f"{prefix}/{uuid.uuid4()}", rsa.generate_private_key(public_exponent=65537, key_size=2048))

    def jwk(self) -> dict:
        """The public JWK of this key."""
        return {**RSAAlgorithm.to_jwk(self.private_key.public_key(), as_dict=True), "kid": self.kid,
                "alg": "RS256", "use": "sig"}

    def public_pem(self) -> bytes:
        """The public key as PEM (what an attacker gets from the JWKS)."""
        return self.private_key.public_key().public_bytes(serialization.Encoding.PEM,
                                                          serialization.PublicFormat.SubjectPublicKeyInfo)


@dataclass
class ForgeInstall:
    """One Forge app installed on the site, with what its manifest declares."""

    app_id: str
    installation_id: str
    environment_id: str
    version: int
    manifest: dict
    remotes: dict = field(default_factory=dict)      # key -> baseUrl
    endpoints: dict = field(default_factory=dict)    # key -> {"remote", "path", "system", "user"}
    triggers: list = field(default_factory=list)     # {"key", "endpoint", "events"}
    connect_key: str | None = None
    user_id: str | None = None  # the app user it acts as with its system token
    scopes: list = field(default_factory=list)
    upgraded_from_connect: bool = False
    resources: dict = field(default_factory=dict)  # resource key -> {relative path: text}

    def summary(self) -> dict:
        """What `GET /_sandbox/forge` shows."""
        return {"app_id": self.app_id, "installation_id": self.installation_id, "version": self.version,
                "environment_id": self.environment_id, "remotes": self.remotes, "endpoints": self.endpoints,
                "triggers": self.triggers, "connect_key": self.connect_key, "user_id": self.user_id,
                "upgraded_from_connect": self.upgraded_from_connect,
                "resources": {key: sorted(files) for key, files in self.resources.items()}}


class ForgeHost:
    """The site's Forge installs, the FIT key sets and every call made to a remote."""

    def __init__(self, state):
        self.state = state
        self.keys = [SigningKey.new("forge-prod")]
        self.staging_keys = [SigningKey.new("forge-stg")]
        # Never published under any kid: the "wrong_key" fault signs with it.
        self._stray_key = SigningKey.new("forge-stray")
        self.installs: dict[str, ForgeInstall] = {}
        self.calls: list[dict] = []
        self.jwks_requests = {"prod": 0, "staging": 0}
        self.system_tokens: dict[str, dict] = {}
        self.user_tokens: dict[str, dict] = {}
        self.token_config = {"system_ttl_s": SYSTEM_TOKEN_TTL_S, "user_ttl_s": USER_TOKEN_TTL_S}
        self.install_listeners: list = []  # called with each ForgeInstall once it is installed or upgraded

    # ---- keys ----------------------------------------------------------------------------

    def jwks(self, staging: bool = False) -> dict:
        """The published key set (counted, so tests can see cache refreshes)."""
        with self.state.lock:
            self.jwks_requests["staging" if staging else "prod"] += 1
            return {"keys": [k.jwk() for k in (self.staging_keys if staging else self.keys)]}

    def rotate(self, staging: bool = False, retire_old: bool = False) -> str:
        """Publish a new signing key (new tokens use it); the old one stays unless retired."""
        key = SigningKey.new("forge-stg" if staging else "forge-prod")
        with self.state.lock:
            ring = self.staging_keys if staging else self.keys
            if retire_old:
                ring.clear()
            ring.insert(0, key)
        return key.kid

    # ---- tokens --------------------------------------------------------------------------

    def api_base_url(self, staging: bool = False) -> str:
        """Where the app calls Jira back (`app.apiBaseUrl`)."""
        return f"{STAGING_API_BASE if staging else self.state.base_url}/ex/jira/{self.state.cloud_id}"

    def claims(self, app_id: str, installation_id: str, environment_id: str, *, principal: str | None = None,
               staging: bool = False, module_key: str | None = None, ui: bool = False, ttl: int = FIT_TTL_S) -> dict:
        """The documented FIT claims for a call to a remote of `app_id` (`ui`: from a UI module's invokeRemote)."""
        now = int(time.time())
        claims = {
            "app": {
                "id": app_id, "installationId": installation_id, "apiBaseUrl": self.api_base_url(staging),
                "appVersion": "1.0.0", "environment": {"type": "DEVELOPMENT", "id": environment_id},
                "installation": {"id": installation_id, "contexts": [{"cloudId": self.state.cloud_id}]},
                "module": {"type": UI_MODULE_TYPE if ui else ENDPOINT_MODULE_TYPE, "key": module_key or "remote"},
            },
            "context": {"cloudId": self.state.cloud_id, "siteUrl": self.state.base_url},
            "iss": ISSUER, "aud": app_id, "iat": now, "nbf": now, "exp": now + ttl, "jti": str(uuid.uuid4()),
        }
        if module_key:
            claims["context"]["moduleKey"] = module_key
        if principal:
            claims["principal"] = principal
        return claims

    def sign(self, claims: dict, *, staging: bool = False, fault: str | None = None) -> str | None:
        """Sign FIT claims with the current key, optionally with a deliberate defect."""
        if fault and fault not in FIT_FAULTS:
            raise JiraError(400, [f"fault must be one of {', '.join(FIT_FAULTS)}"])
        claims = json.loads(json.dumps(claims))
        key = (self.staging_keys if staging else self.keys)[0]
        headers = {"kid": key.kid, "typ": "JWT"}
        signer = key.private_key
        now = int(time.time())
        if fault == "no_header":
            return None
        if fault == "wrong_aud":
            claims["aud"] = f"ari:cloud:ecosystem::app/{uuid.uuid4()}"
        elif fault == "wrong_iss":
            claims["iss"] = "forge/not-an-invocation-token"
        elif fault == "expired":
            claims["iat"], claims["nbf"], claims["exp"] = now - 3600, now - 3600, now - 1800
        elif fault == "not_yet_valid":
            claims["iat"], claims["nbf"], claims["exp"] = now + 1800, now + 1800, now + 3600
        elif fault == "unknown_kid":
            headers["kid"] = f"forge-prod/{uuid.uuid4()}"
        elif fault == "wrong_key":
            signer = self._stray_key.private_key  # signed with a key that is not published, under a kid that is
        elif fault == "alg_none":
            return _compose({"alg": "none", "typ": "JWT", "kid": key.kid}, claims, lambda _: b"")
        elif fault == "hs256_public_key":
            # The key-confusion attack: HMAC "signed" with the RSA public key everyone can download.
            pem = key.public_pem()
            return _compose({"alg": "HS256", "typ": "JWT", "kid": key.kid}, claims,
                            lambda data: hmac.new(pem, data, hashlib.sha256).digest())
        token = jwt.encode(claims, signer, algorithm="RS256", headers=headers)
        if fault == "bad_signature":
            head, body, sig = token.split(".")
            token = ".".join((head, body, ("A" if sig[0] != "A" else "B") + sig[1:]))
        return token

    def system_token(self, install: ForgeInstall) -> str:
        """A fresh opaque `x-forge-oauth-system` token for an installation."""
        token = "forge-sys-" + secrets.token_urlsafe(32)
        with self.state.lock:
            self.system_tokens[token] = {"app_id": install.app_id, "installation_id": install.installation_id,
                                         "expires_at": time.time() + self.token_config["system_ttl_s"]}
        return token

    def user_token(self, install: ForgeInstall, account_id: str) -> str:
        """A fresh opaque `x-forge-oauth-user` token: the app acting as `account_id`."""
        token = "forge-usr-" + secrets.token_urlsafe(32)
        with self.state.lock:
            self.user_tokens[token] = {"app_id": install.app_id, "installation_id": install.installation_id,
                                       "account_id": account_id,
                                       "expires_at": time.time() + self.token_config["user_ttl_s"]}
        return token

    def authenticate(self, request_, state) -> Principal | None:
        """Authenticator: Forge system and user tokens, only via `/ex/jira/<cloudId>` (like api.atlassian.com)."""
        header = request_.headers.get("Authorization", "")
        token = header[7:].strip() if header.lower().startswith("bearer ") else ""
        if not token.startswith(TOKEN_PREFIXES):
            return None
        if request_.environ.get(EX_ENVIRON_KEY) is None:
            raise AuthFailed("Forge tokens are only accepted under /ex/jira/{cloudId}")
        with state.lock:
            record = self.system_tokens.get(token) or self.user_tokens.get(token)
            install = self.installs.get(record["app_id"]) if record else None
        if record is None or install is None or install.installation_id != record["installation_id"] or \
                record["expires_at"] < time.time():
            raise AuthFailed("Invalid or expired Forge token")
        user_id = record.get("account_id") or install.user_id
        return Principal(user_id=user_id, kind="forge", app_key=install.app_id, scopes=list(install.scopes),
                         cloud_id=request_.environ.get(EX_ENVIRON_KEY))

    # ---- install ---------------------------------------------------------------------------

    def get(self, app_id: str | None) -> ForgeInstall | None:
        """The install of `app_id`."""
        with self.state.lock:
            return self.installs.get(app_id) if app_id else None

    def install(self, manifest_text: str, fault: str | None = None,
                resources: dict | None = None) -> tuple[ForgeInstall, int]:
        """Install (or upgrade) an app from its manifest and resources; deliver the lifecycle event to its remote."""
        manifest = parse_manifest(manifest_text)
        app_id = manifest["app"]["id"]
        previous = self.get(app_id)
        # Like `forge deploy`, an upgrade uploads every resource again; one that sends none keeps the last ones.
        files = _resource_files(manifest, resources) if resources is not None else \
            (previous.resources if previous else {})
        connect_key = (manifest["app"].get("connect") or {}).get("key")
        connect_install = connect_host_for(self.state).get(connect_key) if connect_key else None
        if previous:
            user_id = previous.user_id
        elif connect_install is not None:
            user_id = connect_install.user_id  # the upgraded app keeps its app user
        else:
            user_id = self._app_user(manifest)
        install = ForgeInstall(
            app_id=app_id,
            installation_id=previous.installation_id if previous else installation_ari(uuid.uuid4()),
            environment_id=previous.environment_id if previous else str(uuid.uuid4()),
            version=previous.version + 1 if previous else 1, manifest=manifest,
            connect_key=connect_key, user_id=user_id,
            scopes=list((manifest.get("permissions") or {}).get("scopes") or []),
            upgraded_from_connect=bool(connect_install) or bool(previous and previous.upgraded_from_connect),
            resources=files, **_declared(manifest))
        event = UPGRADED_EVENT if previous else INSTALLED_EVENT
        status = self.deliver(install, event, self.lifecycle_payload(install, event), fault=fault)
        if status is not None and not 200 <= status < 300:
            raise JiraError(400, [f"The app's {event} trigger answered {status}; installation failed."])
        with self.state.lock:
            self.installs[app_id] = install
            if connect_install is not None:
                # Upgraded to Forge: the Connect descriptor's modules stop (webhooks, panels, callbacks).
                connect_host_for(self.state).installs.pop(connect_key, None)
        for listener in self.install_listeners:
            listener(install)
        log.info("sandbox.forge.installed", extra={"app_id": app_id, "upgrade": bool(previous)})
        return install, status or 0

    def _app_user(self, manifest: dict) -> str:
        # A Forge app acts as its own "app" user in Jira, like a Connect app.
        app_id = manifest["app"]["id"]
        suffix = app_id.rsplit("/", 1)[-1][:8]
        user = self.state.add_user(f"Forge app {suffix}", f"forge-{suffix}@forge.sandbox.test", name=f"forge_{suffix}")
        user["accountType"] = "app"
        return user["accountId"]

    def uninstall(self, app_id: str, fault: str | None = None) -> int | None:
        """Uninstall: call the preUninstall endpoint (non-blocking, as on Forge), then forget the install."""
        install = self.get(app_id)
        if install is None:
            raise JiraError(404, [f"No Forge app {app_id} is installed."])
        status = None
        for module in (install.manifest.get("modules") or {}).get("preUninstall") or []:
            endpoint = install.endpoints.get(module.get("endpoint")) or {}
            base = install.remotes.get(endpoint.get("remote"))
            if base and endpoint.get("path"):
                payload = {"id": str(uuid.uuid4()), "eventType": "avi:forge:uninstalled:app",
                           "context": {"cloudId": self.state.cloud_id, "siteUrl": self.state.base_url},
                           "app": {"id": install.app_id}, "installationId": install.installation_id}
                status = self.post(install, base + endpoint["path"], payload, endpoint, fault=fault,
                                   module_key=module.get("key"), event="avi:forge:uninstalled:app")
        with self.state.lock:
            self.installs.pop(app_id, None)
            for tokens in (self.system_tokens, self.user_tokens):
                for token in [t for t, r in tokens.items() if r["app_id"] == app_id]:
                    del tokens[token]
        return status

    def lifecycle_payload(self, install: ForgeInstall, event: str) -> dict:
        """The body Forge posts for `avi:forge:installed:app` / `avi:forge:upgraded:app`."""
        return {"id": str(uuid.uuid4()), "eventType": event, "installerAccountId": self.state.admin_id,
                "context": {"cloudId": self.state.cloud_id, "siteUrl": self.state.base_url},
                "app": {"id": install.app_id, "version": f"{install.version}.0.0"},
                "environment": {"id": install.environment_id}, "installationId": install.installation_id}

    def deliver(self, install: ForgeInstall, event: str, payload: dict, fault: str | None = None) -> int | None:
        """POST an event to every trigger endpoint subscribed to it; the last status, None when none is."""
        status = None
        for trigger in install.triggers:
            if event not in trigger["events"]:
                continue
            endpoint = install.endpoints.get(trigger["endpoint"]) or {}
            base = install.remotes.get(endpoint.get("remote"))
            if not base or not endpoint.get("path"):
                continue
            status = self.post(install, base + endpoint["path"], payload, endpoint, fault=fault,
                               module_key=trigger["key"], event=event)
        return status

    def invocation_headers(self, install: ForgeInstall, endpoint: dict, *, fault: str | None = None,
                           module_key: str | None = None, principal: str | None = None,
                           extension: dict | None = None, ui: bool = False) -> dict:
        """The headers Forge sends a remote: the FIT, and the OAuth tokens the endpoint enables."""
        claims = self.claims(install.app_id, install.installation_id, install.environment_id,
                             principal=principal, module_key=module_key, ui=ui or extension is not None)
        if extension:
            claims["context"]["extension"] = extension
        token = self.sign(claims, fault=fault)
        headers = {"Content-Type": "application/json"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        if endpoint.get("system"):
            headers["x-forge-oauth-system"] = self.system_token(install)
        if endpoint.get("user") and principal:  # only with a user in session, never on triggers
            headers["x-forge-oauth-user"] = self.user_token(install, principal)
        return headers

    def post(self, install: ForgeInstall, url: str, payload: dict, endpoint: dict, *, fault: str | None = None,
             module_key: str | None = None, event: str | None = None, principal: str | None = None,
             timeout: float = HTTP_TIMEOUT_S) -> int:
        """One call to a remote with a FIT (and the system token when the endpoint asks for it)."""
        headers = self.invocation_headers(install, endpoint, fault=fault, module_key=module_key, principal=principal)
        try:
            status = requests.post(url, json=payload, headers=headers, timeout=timeout).status_code
        except requests.RequestException as exc:
            log.warning("sandbox.forge.call_failed", extra={"url": url, "error": type(exc).__name__})
            status = 0
        self.record_call(install, event=event, url=url, status=status, fault=fault)
        return status

    def record_call(self, install: ForgeInstall, **call) -> None:
        """Remember one call to a remote (`GET /_sandbox/forge` lists them)."""
        with self.state.lock:
            self.calls.append({"app_id": install.app_id, **call, "time": time.time()})


def parse_manifest(text: str) -> dict:
    """Parse a manifest's YAML and check the little the sandbox relies on; JiraError(400) otherwise."""
    try:
        manifest = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise JiraError(400, [f"The manifest is not valid YAML: {exc}"]) from None
    app = manifest.get("app") if isinstance(manifest, dict) else None
    if not isinstance(app, dict) or not isinstance(app.get("id"), str) or \
            not app["id"].startswith("ari:cloud:ecosystem::app/"):
        raise JiraError(400, ["The manifest needs app.id, the app's ARI."])
    return manifest


def _resource_files(manifest: dict, resources: object) -> dict:
    """The uploaded files of the manifest's resources ({key: {path: text}}); JiraError(400) for anything else."""
    declared = {r.get("key") for r in manifest.get("resources") or [] if isinstance(r, dict)}
    if not isinstance(resources, dict):
        raise JiraError(400, ["resources must be an object: resource key -> {relative path: file text}"])
    files, total = {}, 0
    for key, entries in resources.items():
        if key not in declared:
            raise JiraError(400, [f"The manifest declares no resource {key!r}."])
        if not isinstance(entries, dict) or "index.html" not in entries:
            raise JiraError(400, [f"Resource {key!r} needs its files, with index.html at the top."])
        for path, text in entries.items():
            if not isinstance(path, str) or not _RESOURCE_PATH.fullmatch(path) or not isinstance(text, str):
                raise JiraError(400, [f"Resource {key!r} has a file that is not a relative path with text."])
            total += len(text.encode())
        files[key] = dict(entries)
    if total > MAX_RESOURCE_BYTES:
        raise JiraError(400, ["The resources are too big."])
    return files


def _declared(manifest: dict) -> dict:
    """Remotes, endpoints and triggers (lifecycle and product events) a manifest declares."""
    modules = manifest.get("modules") or {}
    remotes = {r["key"]: str(r.get("baseUrl", "")).rstrip("/") for r in manifest.get("remotes") or []
               if isinstance(r, dict) and r.get("key")}
    endpoints = {}
    for endpoint in modules.get("endpoint") or []:
        auth = endpoint.get("auth") or {}
        endpoints[endpoint["key"]] = {
            "remote": endpoint.get("remote"), "path": (endpoint.get("route") or {}).get("path"),
            "system": bool((auth.get("appSystemToken") or {}).get("enabled")),
            "user": bool((auth.get("appUserToken") or {}).get("enabled")),
        }
    triggers = [{"key": t["key"], "endpoint": t.get("endpoint"), "events": list(t.get("events") or []),
                 "ignore_self": bool((t.get("filter") or {}).get("ignoreSelf"))}
                for t in modules.get("trigger") or []]
    return {"remotes": remotes, "endpoints": endpoints, "triggers": triggers}


def _enforce_forge_scopes():
    """A Forge app reads with read:jira-work and writes with write:jira-work (its manifest's scopes)."""
    principal = getattr(g, "principal", None)
    if principal is None or principal.kind != "forge":
        return None
    needed = "write:jira-work" if request.method in ("POST", "PUT", "PATCH", "DELETE") and not \
        request.path.endswith(("/search", "/search/jql")) else "read:jira-work"
    if needed not in (principal.scopes or ()):
        return jsonify({"code": 401, "message": "Unauthorized; scope does not match"}), 401
    return None


def host_for(state) -> ForgeHost:
    """The ForgeHost of a site (created by `register`)."""
    return state.forge_host


def register(app, state) -> None:
    """Create the site's ForgeHost and its authenticator; register the Forge modules built on it."""
    state.forge_host = ForgeHost(state)
    # Before OAuth's authenticator, which refuses every Bearer token under /ex it did not issue.
    state.authenticators.append(state.forge_host.authenticate)
    app.before_request(_enforce_forge_scopes)
    from jira_sandbox import (  # they build on this module
        forge_bridge,
        forge_control,
        forge_events,
        forge_schedule,
        forge_ui,
    )
    forge_control.register(app, state)
    forge_events.register(app, state)
    forge_schedule.register(app, state)
    forge_bridge.register(app, state)
    forge_ui.register(app, state)
