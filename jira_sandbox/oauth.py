"""OAuth 2.0 (3LO) provider standing in for auth.atlassian.com and api.atlassian.com.

`GET /authorize` auto-consents (302 back with `code` and `state`; PKCE S256/plain supported),
`POST /oauth/token` takes `authorization_code` and `refresh_token` grants (JSON or form),
`GET /oauth/token/accessible-resources` lists this site, and `/ex/jira/<cloudId>/rest/...` is
routed to the site's REST API with Bearer auth. Refresh tokens rotate as Atlassian's do: each
use returns a new one and retires the old; reusing a retired token within the leeway (10 min)
is tolerated, later it revokes the whole grant (`403 invalid_grant`).
Knobs: `POST /_sandbox/oauth/config` (access_token_ttl_s, reuse_leeway_s, deny_consent,
consent_user), `POST /_sandbox/oauth/revoke`, clients via `POST /_sandbox/oauth/clients`.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
from dataclasses import asdict, dataclass, field
from urllib.parse import urlencode

from flask import Blueprint, g, jsonify, redirect, request

from jira_sandbox.auth import AuthFailed, Principal
from jira_sandbox.connect_host import require_admin, site_state
from jira_sandbox.errors import JiraError

AUDIENCE = "api.atlassian.com"
EX_PREFIX = "/ex/jira/"
EX_ENVIRON_KEY = "jira_sandbox.ex_cloud_id"
CODE_TTL_S = 600
REFRESH_INACTIVITY_S = 90 * 24 * 3600
SCOPE_MISMATCH = "Unauthorized; scope does not match"
INVALID_REFRESH = "Unknown or invalid refresh token."


@dataclass
class OAuthConfig:
    """Provider behaviour for tests."""

    access_token_ttl_s: int = 3600
    reuse_leeway_s: float = 600
    deny_consent: bool = False
    consent_user: str | None = None  # account id that consents; the site admin when None


@dataclass
class Grant:
    """One user's consent to one client: the family every rotated token belongs to."""

    id: str
    client_id: str
    user_id: str
    scopes: list
    revoked: bool = False
    refresh_tokens: list = field(default_factory=list)


class OAuthProvider:
    """Clients, authorization codes, grants and tokens of the sandbox's OAuth server."""

    def __init__(self, state):
        self.state = state
        self.config = OAuthConfig()
        self.clients: dict[str, dict] = {}
        self.codes: dict[str, dict] = {}
        self.grants: dict[str, Grant] = {}
        self.access: dict[str, dict] = {}
        self.refresh: dict[str, dict] = {}

    def register_client(self, redirect_uris: list[str], name: str = "OAuth app", client_id: str | None = None,
                        client_secret: str | None = None) -> dict:
        """Create an OAuth 2.0 integration; returns its client_id and client_secret."""
        client = {"client_id": client_id or secrets.token_urlsafe(24), "name": name,
                  "client_secret": client_secret or secrets.token_urlsafe(48), "redirect_uris": list(redirect_uris)}
        with self.state.lock:
            self.clients[client["client_id"]] = client
        return dict(client)

    def client_secret(self, client_id: str) -> str | None:
        """The secret of a client (dynamic webhooks to OAuth apps are signed with it)."""
        client = self.clients.get(client_id)
        return client["client_secret"] if client else None

    # ---- authorize / token ---------------------------------------------------------------

    def authorize(self, args) -> str:
        """The redirect URL for an authorization request (a code, or error=access_denied)."""
        client = self.clients.get(args.get("client_id", ""))
        redirect_uri = args.get("redirect_uri", "")
        # Never redirect to an unregistered URI: that would make the sandbox an open redirector.
        if client is None or redirect_uri not in client["redirect_uris"]:
            raise JiraError(400, ["Unknown client_id or unregistered redirect_uri."])
        if args.get("audience") != AUDIENCE or args.get("response_type") != "code" or not args.get("scope"):
            raise JiraError(400, ["audience=api.atlassian.com, response_type=code and scope are required."])
        method = args.get("code_challenge_method", "plain" if args.get("code_challenge") else None)
        if method not in (None, "plain", "S256"):
            raise JiraError(400, ["code_challenge_method must be S256 or plain."])
        params = {"state": args["state"]} if "state" in args else {}
        if self.config.deny_consent:
            params.update(error="access_denied", error_description="The user did not grant access.")
        else:
            code = secrets.token_urlsafe(32)
            with self.state.lock:
                self.codes[code] = {"client_id": client["client_id"], "redirect_uri": redirect_uri,
                                    "scopes": args["scope"].split(), "challenge": args.get("code_challenge"),
                                    "method": method, "user_id": self.config.consent_user or self.state.admin_id,
                                    "expires": time.time() + CODE_TTL_S}
            params = {"code": code, **params}
        return redirect_uri + ("&" if "?" in redirect_uri else "?") + urlencode(params)

    def token(self, body: dict) -> tuple[dict, int]:
        """The token endpoint: (JSON body, status)."""
        client = self.clients.get(body.get("client_id", ""))
        if client is None or not hmac.compare_digest(str(body.get("client_secret", "")), client["client_secret"]):
            return {"error": "access_denied", "error_description": "Unauthorized"}, 401
        grant_type = body.get("grant_type")
        with self.state.lock:
            if grant_type == "authorization_code":
                return self._exchange_code(client, body)
            if grant_type == "refresh_token":
                return self._rotate(client, str(body.get("refresh_token", "")))
        return {"error": "unsupported_grant_type", "error_description": "Unsupported grant type."}, 400

    def _exchange_code(self, client: dict, body: dict) -> tuple[dict, int]:
        code = self.codes.pop(str(body.get("code", "")), None)  # single use
        invalid = {"error": "invalid_grant", "error_description": "Invalid authorization code"}, 403
        if code is None or code["client_id"] != client["client_id"] or code["expires"] < time.time():
            return invalid
        if body.get("redirect_uri") != code["redirect_uri"]:
            return invalid
        if code["challenge"] and not _pkce_ok(code["challenge"], code["method"], body.get("code_verifier")):
            return {"error": "invalid_grant", "error_description": "Failed to verify code verifier"}, 403
        grant = Grant(secrets.token_hex(8), client["client_id"], code["user_id"], code["scopes"])
        self.grants[grant.id] = grant
        return self._issue(grant), 200

    def _rotate(self, client: dict, token: str) -> tuple[dict, int]:
        now = time.time()
        record = self.refresh.get(token)
        grant = self.grants.get(record["grant"]) if record else None
        invalid = {"error": "invalid_grant", "error_description": INVALID_REFRESH}, 403
        if grant is None or grant.revoked or grant.client_id != client["client_id"] or record["expires"] < now:
            return invalid
        if record["rotated_at"] is not None and now - record["rotated_at"] > self.config.reuse_leeway_s:
            # A retired token replayed after the leeway looks like theft: revoke the whole family.
            self.revoke_grant(grant)
            return invalid
        record["rotated_at"] = record["rotated_at"] or now
        return self._issue(grant), 200

    def _issue(self, grant: Grant) -> dict:
        now = time.time()
        access = secrets.token_urlsafe(48)
        self.access[access] = {"grant": grant.id, "expires": now + self.config.access_token_ttl_s}
        body = {"access_token": access, "expires_in": self.config.access_token_ttl_s, "token_type": "Bearer",
                "scope": " ".join(grant.scopes)}
        if "offline_access" in grant.scopes:
            refresh = secrets.token_urlsafe(48)
            self.refresh[refresh] = {"grant": grant.id, "rotated_at": None, "expires": now + REFRESH_INACTIVITY_S}
            grant.refresh_tokens.append(refresh)
            body["refresh_token"] = refresh
        return body

    def revoke_grant(self, grant: Grant) -> None:
        """Revoke a grant: every access and refresh token of it stops working."""
        grant.revoked = True
        for token in [t for t, rec in self.access.items() if rec["grant"] == grant.id]:
            del self.access[token]

    # ---- bearer auth ---------------------------------------------------------------------

    def authenticate(self, request_, state) -> Principal | None:
        """Authenticator: Bearer access tokens this provider issued, only via `/ex/jira/<cloudId>`."""
        cloud_id = request_.environ.get(EX_ENVIRON_KEY)
        header = request_.headers.get("Authorization", "")
        if not header.lower().startswith("bearer "):
            return None
        with state.lock:
            record = self.access.get(header[7:].strip())
            grant = self.grants.get(record["grant"]) if record else None
        if cloud_id is None:
            # 3LO tokens are only good at api.atlassian.com; other Bearer tokens (Server PATs)
            # are not ours to judge.
            return None
        if grant is None or grant.revoked or record["expires"] < time.time():
            raise AuthFailed("Invalid or expired access token")
        return Principal(user_id=grant.user_id, kind="oauth", app_key=grant.client_id, scopes=list(grant.scopes),
                         cloud_id=cloud_id)


def _pkce_ok(challenge: str, method: str, verifier: str | None) -> bool:
    if not verifier:
        return False
    if method == "S256":
        digest = hashlib.sha256(verifier.encode()).digest()
        verifier = base64.urlsafe_b64encode(digest).decode().rstrip("=")
    return hmac.compare_digest(verifier, challenge)


class ExRouter:
    """WSGI middleware: `/ex/jira/<cloudId>/rest/...` is served by the site's own routes."""

    def __init__(self, wsgi_app, state):
        self.wsgi_app = wsgi_app
        self.state = state

    def __call__(self, environ, start_response):
        path = environ.get("PATH_INFO", "")
        if path.startswith(EX_PREFIX):
            cloud_id, _, rest = path[len(EX_PREFIX):].partition("/")
            environ = dict(environ, PATH_INFO="/" + rest)
            environ[EX_ENVIRON_KEY] = cloud_id
        return self.wsgi_app(environ, start_response)


def provider_for(state) -> OAuthProvider:
    """The site's OAuth provider (created by `register`)."""
    return state.oauth


def register_client(state, redirect_uris: list[str], **kwargs) -> dict:
    """Register an OAuth client on a site (Python entry point for tests)."""
    return provider_for(state).register_client(redirect_uris, **kwargs)


public = Blueprint("sandbox_oauth", __name__)
control = Blueprint("sandbox_oauth_control", __name__, url_prefix="/_sandbox/oauth")
require_admin(control)


@public.get("/authorize")
def authorize():
    """Auto-consenting authorization endpoint (auth.atlassian.com/authorize)."""
    return redirect(provider_for(site_state()).authorize(request.args), code=302)


@public.post("/oauth/token")
def token():
    """Token endpoint (auth.atlassian.com/oauth/token), JSON or form body."""
    body = request.get_json(silent=True) if request.is_json else request.form.to_dict()
    payload, status = provider_for(site_state()).token(body or {})
    response = jsonify(payload)
    response.status_code = status
    response.headers["Cache-Control"] = "no-store"
    return response


@public.get("/oauth/token/accessible-resources")
def accessible_resources():
    """The sites the token's grant reaches: just this one."""
    state = site_state()
    provider = provider_for(state)
    header = request.headers.get("Authorization", "")
    with state.lock:
        record = provider.access.get(header[7:].strip()) if header.lower().startswith("bearer ") else None
        grant = provider.grants.get(record["grant"]) if record else None
    if grant is None or grant.revoked or record["expires"] < time.time():
        return jsonify({"code": 401, "message": "Unauthorized"}), 401
    return jsonify([{"id": state.cloud_id, "url": state.base_url, "name": "sandbox",
                     "scopes": [s for s in grant.scopes if s != "offline_access"],
                     "avatarUrl": "https://site-admin-avatar-cdn.prod.public.atl-paas.net/avatars/240/rocket.png"}])


@control.post("/clients")
def create_client():
    """Register a client: {"redirect_uris": [...], "name"?, "client_id"?, "client_secret"?}."""
    body = request.get_json(silent=True) or {}
    if not body.get("redirect_uris"):
        raise JiraError(400, ["redirect_uris is required"])
    return jsonify(register_client(site_state(), body["redirect_uris"], name=body.get("name", "OAuth app"),
                                   client_id=body.get("client_id"), client_secret=body.get("client_secret"))), 201


@control.route("/config", methods=["GET", "POST"])
def configure():
    """Read or set provider knobs (access_token_ttl_s, reuse_leeway_s, deny_consent, consent_user)."""
    provider = provider_for(site_state())
    for key, value in (request.get_json(silent=True) or {}).items():
        if not hasattr(provider.config, key):
            raise JiraError(400, [f"unknown oauth option: {key}"])
        setattr(provider.config, key, value)
    return jsonify(asdict(provider.config))


@control.post("/revoke")
def revoke():
    """Revoke grants: {"client_id"?, "user_id"?} (all grants when empty)."""
    body = request.get_json(silent=True) or {}
    state = site_state()
    provider = provider_for(state)
    with state.lock:
        grants = [gr for gr in provider.grants.values()
                  if body.get("client_id", gr.client_id) == gr.client_id
                  and body.get("user_id", gr.user_id) == gr.user_id]
        for grant in grants:
            provider.revoke_grant(grant)
    return jsonify({"revoked": len(grants)})


def _required_scope(path: str, method: str) -> str:
    if path.rstrip("/").endswith(("/webhook", "/webhook/refresh")):
        return "manage:jira-webhook"
    if method in ("POST", "PUT", "PATCH", "DELETE") and not path.endswith(("/search", "/search/jql")):
        return "write:jira-work"
    if path.endswith(("/myself", "/user", "/user/search")):
        return "read:jira-user"
    return "read:jira-work"


def _check_oauth_request():
    """Refuse /ex calls for another cloudId or without the scope the operation needs."""
    cloud_id = request.environ.get(EX_ENVIRON_KEY)
    if cloud_id is None:
        return None
    state = site_state()
    principal = g.get("principal")
    if cloud_id != state.cloud_id:
        return jsonify({"code": 404, "message": "Site not found or not accessible with this token."}), 404
    if principal is None or principal.kind != "oauth":
        return None
    if _required_scope(request.path, request.method) not in (principal.scopes or ()):
        return jsonify({"code": 401, "message": SCOPE_MISMATCH}), 401
    return None


def register(app, state) -> None:
    """Create the provider, its authenticator, the /ex router and the OAuth endpoints."""
    state.oauth = OAuthProvider(state)
    state.authenticators.append(state.oauth.authenticate)
    app.wsgi_app = ExRouter(app.wsgi_app, state)
    app.register_blueprint(public)
    app.register_blueprint(control)
    app.before_request(_check_oauth_request)
