"""Service configuration, read once from the environment."""

from __future__ import annotations

import os
import re
import string
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from connect_app.logging_setup import FORMATS as LOG_FORMATS

ATLASSIAN_INSTALL_KEYS_URL = "https://connect-install-keys.atlassian.com"
ATLASSIAN_AUTH_URL = "https://auth.atlassian.com"
ATLASSIAN_API_URL = "https://api.atlassian.com"
FORGE_JWKS_URL = "https://forge.cdn.prod.atlassian-dev.net/.well-known/jwks.json"

# Settings without which a production process must not start: each one protects data
# (ENCRYPTION_KEY, SECRET_KEY, CSCX_SIGNING_SECRET) or names where we live (BASE_URL, DATABASE_URL).
PRODUCTION_REQUIRED = ("DATABASE_URL", "BASE_URL", "SECRET_KEY", "ENCRYPTION_KEY", "CSCX_SIGNING_SECRET")
FORGE_APP_ID_PATTERN = re.compile(r"ari:cloud:ecosystem::app/[0-9A-Za-z-]{1,64}")
CUSTOMER_URL_FIELDS = frozenset({"customer_id", "external_id", "slug"})
ORIGIN = re.compile(r"^https?://[A-Za-z0-9.-]+(:[0-9]{1,5})?$")


class ConfigError(Exception):
    """A setting is missing or malformed; the message names it and says how to fix it."""


@dataclass(frozen=True)
class EnvSetting:
    """One documented environment variable."""

    name: str
    default: str | None
    help: str


SETTINGS: tuple[EnvSetting, ...] = (
    EnvSetting("CSCX_ENV", "development", "development | production | test"),
    EnvSetting("DATABASE_URL", None, "SQLAlchemy URL; default: SQLite file instance/cscx-jira.db"),
    EnvSetting("REDIS_URL", None, "Redis URL for RQ jobs; unset: jobs run in-process"),
    EnvSetting("RQ_QUEUE", "cscx-jira", "RQ queue name"),
    EnvSetting("BASE_URL", "http://127.0.0.1:5000", "public URL of this service (the Connect app baseUrl)"),
    EnvSetting("SECRET_KEY", None, "Flask session / CSRF key"),
    EnvSetting("ENCRYPTION_KEY", None, "Fernet key(s) for secrets at rest; comma-separated, newest first"),
    EnvSetting("CSCX_PUSH_URL", None, "CSCX.AI endpoint receiving pushed events"),
    EnvSetting("CSCX_SIGNING_SECRET", None, "HS256 secret shared with CSCX.AI (API tokens, push HMAC)"),
    EnvSetting("CSCX_APP_ORIGIN", "https://app.cscx.ai",
               "CSCX.AI's origin: the only one allowed to frame the /app pages (CSP frame-ancestors)"),
    EnvSetting("CSCX_APP_URL", "https://app.cscx.ai/customers/{customer_id}",
               "a customer's page in CSCX.AI, linked from issues we create ({customer_id}, {external_id}, {slug})"),
    EnvSetting("ATLASSIAN_OAUTH_CLIENT_ID", None, "Atlassian OAuth 2.0 (3LO) client id"),
    EnvSetting("ATLASSIAN_OAUTH_CLIENT_SECRET", None, "Atlassian OAuth 2.0 (3LO) client secret"),
    EnvSetting("ATLASSIAN_INSTALL_KEYS_URL", ATLASSIAN_INSTALL_KEYS_URL, "where signed-install public keys live"),
    EnvSetting("ATLASSIAN_AUTH_URL", ATLASSIAN_AUTH_URL, "OAuth authorize/token host"),
    EnvSetting("ATLASSIAN_API_URL", ATLASSIAN_API_URL, "api.atlassian.com (accessible-resources, /ex/jira)"),
    EnvSetting("FORGE_APP_ID", None, "the Forge app id (ari:cloud:ecosystem::app/<uuid>, from `forge register`)"),
    EnvSetting("FORGE_JWKS_URL", FORGE_JWKS_URL, "where Forge invocation token public keys live (JWKS)"),
    EnvSetting("ALLOW_PRIVATE_JIRA_URLS", "false",
               "allow Jira base URLs on private/loopback addresses (and Connect sites outside Atlassian's domains)"),
    EnvSetting("LOG_LEVEL", "INFO", "logging level"),
    EnvSetting("LOG_FORMAT", None, "keyvalue | json; default: json in production, keyvalue elsewhere"),
    EnvSetting("METRICS_TOKEN", None, "bearer token Prometheus sends to GET /metrics (16+ characters); unset: 404"),
    EnvSetting("PROMETHEUS_MULTIPROC_DIR", None,
               "an empty directory the gunicorn and RQ worker processes of one host share their metrics in"),
    EnvSetting("INBOX_BATCH_SIZE", "200", "webhook deliveries applied per transaction by a drain (1-1000)"),
)


def _bounded_int(name: str, raw: str, low: int, high: int) -> int:
    try:
        value = int(raw.strip())
    except ValueError:
        raise ConfigError(f"{name} must be a whole number from {low} to {high}, not {raw!r}") from None
    if not low <= value <= high:
        raise ConfigError(f"{name} must be from {low} to {high}, not {value}")
    return value


def _truthy(value: str | None) -> bool:
    return (value or "").strip().lower() in {"1", "true", "yes", "on"}


class Config:
    """Configuration for one process, built from an environment mapping."""

    TESTING = False

    def __init__(self, environ: Mapping[str, str] | None = None, instance_path: str | Path = "instance"):
        env = dict(os.environ if environ is None else environ)
        self.instance_path = Path(instance_path)
        values = {s.name: (env.get(s.name) or s.default) for s in SETTINGS}
        self.CSCX_ENV = values["CSCX_ENV"]
        if self.CSCX_ENV not in {"development", "production", "test"}:
            raise ConfigError(f"CSCX_ENV must be development, production or test, not {self.CSCX_ENV!r}")
        if self.CSCX_ENV == "production":
            missing = [name for name in PRODUCTION_REQUIRED if not env.get(name)]
            if missing:
                raise ConfigError(
                    "missing required settings for production: " + ", ".join(missing)
                    + " (see `cscx-jira config` or the README's Configuration section)"
                )
        if self.CSCX_ENV == "production" and len(env["CSCX_SIGNING_SECRET"]) < 32:
            raise ConfigError("CSCX_SIGNING_SECRET must be at least 32 characters (HS256 needs a 256-bit key)")
        self.SQLALCHEMY_DATABASE_URI = normalise_database_url(
            values["DATABASE_URL"] or f"sqlite:///{(self.instance_path / 'cscx-jira.db').resolve()}"
        )
        self.REDIS_URL = values["REDIS_URL"]
        self.RQ_QUEUE = values["RQ_QUEUE"]
        self.BASE_URL = values["BASE_URL"].rstrip("/")
        self.SECRET_KEY = values["SECRET_KEY"]
        self.ENCRYPTION_KEYS = [k.strip() for k in (values["ENCRYPTION_KEY"] or "").split(",") if k.strip()]
        self.CSCX_PUSH_URL = values["CSCX_PUSH_URL"]
        self.CSCX_SIGNING_SECRET = values["CSCX_SIGNING_SECRET"]
        self.CSCX_APP_URL = values["CSCX_APP_URL"]
        self.CSCX_APP_ORIGIN = values["CSCX_APP_ORIGIN"].rstrip("/")
        if not ORIGIN.match(self.CSCX_APP_ORIGIN):
            raise ConfigError("CSCX_APP_ORIGIN must be an origin like https://app.cscx.ai (scheme, host, port)")
        unknown = {name for _, name, _, _ in string.Formatter().parse(self.CSCX_APP_URL) if name} - CUSTOMER_URL_FIELDS
        if unknown or not self.CSCX_APP_URL.startswith(("https://", "http://")):
            raise ConfigError("CSCX_APP_URL must be an http(s) URL using only {customer_id}, {external_id} and {slug}")
        self.ATLASSIAN_OAUTH_CLIENT_ID = values["ATLASSIAN_OAUTH_CLIENT_ID"]
        self.ATLASSIAN_OAUTH_CLIENT_SECRET = values["ATLASSIAN_OAUTH_CLIENT_SECRET"]
        self.ATLASSIAN_INSTALL_KEYS_URL = values["ATLASSIAN_INSTALL_KEYS_URL"].rstrip("/")
        self.ATLASSIAN_AUTH_URL = values["ATLASSIAN_AUTH_URL"].rstrip("/")
        self.ATLASSIAN_API_URL = values["ATLASSIAN_API_URL"].rstrip("/")
        self.FORGE_APP_ID = values["FORGE_APP_ID"]
        if self.FORGE_APP_ID and not FORGE_APP_ID_PATTERN.fullmatch(self.FORGE_APP_ID):
            raise ConfigError("FORGE_APP_ID must be the app's ARI, ari:cloud:ecosystem::app/<uuid>")
        self.FORGE_JWKS_URL = values["FORGE_JWKS_URL"]
        if not self.FORGE_JWKS_URL.startswith(("https://", "http://")):
            raise ConfigError("FORGE_JWKS_URL must be an http(s) URL")
        self.ALLOW_PRIVATE_JIRA_URLS = _truthy(values["ALLOW_PRIVATE_JIRA_URLS"])
        self.LOG_LEVEL = values["LOG_LEVEL"].upper()
        self.LOG_FORMAT = (values["LOG_FORMAT"] or ("json" if self.CSCX_ENV == "production" else "keyvalue")).lower()
        if self.LOG_FORMAT not in LOG_FORMATS:
            raise ConfigError("LOG_FORMAT must be keyvalue or json")
        self.METRICS_TOKEN = values["METRICS_TOKEN"]
        if self.METRICS_TOKEN is not None and len(self.METRICS_TOKEN) < 16:
            raise ConfigError("METRICS_TOKEN must be at least 16 characters (or unset, which turns /metrics off)")
        # Read by prometheus_client itself from the process environment when it is imported; kept here to
        # check it early and to tell the /metrics endpoint where every process's values are.
        self.PROMETHEUS_MULTIPROC_DIR = values["PROMETHEUS_MULTIPROC_DIR"]
        if self.PROMETHEUS_MULTIPROC_DIR and not Path(self.PROMETHEUS_MULTIPROC_DIR).is_dir():
            raise ConfigError("PROMETHEUS_MULTIPROC_DIR must be an existing directory")
        self.INBOX_BATCH_SIZE = _bounded_int("INBOX_BATCH_SIZE", values["INBOX_BATCH_SIZE"], 1, 1000)
        self.SQLALCHEMY_ENGINE_OPTIONS = engine_options(self.SQLALCHEMY_DATABASE_URI)
        self.MAX_CONTENT_LENGTH = 1024 * 1024  # webhooks and API bodies; Jira payloads are far smaller

    @property
    def is_production(self) -> bool:
        """True when running with CSCX_ENV=production."""
        return self.CSCX_ENV == "production"

    def as_flask_mapping(self) -> dict[str, object]:
        """The upper-case settings, for app.config.update()."""
        return {k: v for k, v in vars(self).items() if k.isupper()} | {"TESTING": self.TESTING}


class TestConfig(Config):
    """Configuration for the test suite: explicit keys, nothing read from the process environment."""

    TESTING = True
    __test__ = False  # not a pytest test class, despite the name

    def __init__(self, environ: Mapping[str, str] | None = None, instance_path: str | Path = "instance"):
        base = {
            "CSCX_ENV": "test",
            "SECRET_KEY": "test-secret-key",
            "ENCRYPTION_KEY": "pSGbpR8wHMQ4T9t1n1O8mjSNqkZOjDsxVf2yC1c0tvU=",
            "CSCX_SIGNING_SECRET": "test-cscx-signing-secret-0123456789abcdef",
            "BASE_URL": "http://127.0.0.1:5000",
        }
        super().__init__(base | dict(environ or {}), instance_path)


def normalise_database_url(url: str) -> str:
    """Point postgres URLs at psycopg 3, the driver we ship."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    return url


def engine_options(url: str) -> dict[str, object]:
    """Engine settings per backend: SQLite needs a busy timeout for concurrent writers."""
    if url.startswith("sqlite"):
        return {"connect_args": {"timeout": 30}}
    return {"pool_pre_ping": True, "pool_size": 10, "max_overflow": 20}
