"""CSCX Jira: the companion service of the Jira app (application factory)."""

from __future__ import annotations

import json
import logging
import secrets
from pathlib import Path

from flask import Flask
from sqlalchemy import event

from connect_app import crypto
from connect_app.config import Config, ConfigError
from connect_app.extensions import db, htmx, migrate
from connect_app.logging_setup import configure_logging
from connect_app.paths import migrations_dir, static_dir, templates_dir

log = logging.getLogger(__name__)

__all__ = ["ConfigError", "create_app"]


def _development_secrets(config: Config) -> None:
    """Outside production, generate missing secrets once and keep them in the instance folder.

    A demo must start with nothing configured, yet keep decrypting what it stored yesterday;
    production refuses to start without real settings (Config checks that).
    """
    path = config.instance_path / "dev-secrets.json"
    stored = json.loads(path.read_text()) if path.exists() else {}
    generated = {
        "SECRET_KEY": stored.get("SECRET_KEY") or secrets.token_urlsafe(32),
        "ENCRYPTION_KEY": stored.get("ENCRYPTION_KEY") or crypto.new_key(),
        "CSCX_SIGNING_SECRET": stored.get("CSCX_SIGNING_SECRET") or secrets.token_urlsafe(32),
    }
    if generated != stored:
        config.instance_path.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(generated, indent=2))
        path.chmod(0o600)
    config.SECRET_KEY = config.SECRET_KEY or generated["SECRET_KEY"]
    config.ENCRYPTION_KEYS = config.ENCRYPTION_KEYS or [generated["ENCRYPTION_KEY"]]
    config.CSCX_SIGNING_SECRET = config.CSCX_SIGNING_SECRET or generated["CSCX_SIGNING_SECRET"]


def create_app(config: Config | None = None) -> Flask:
    """Build the Flask app: configuration, extensions, blueprints, error handlers."""
    if config is None:
        config = Config(instance_path=Path.cwd() / "instance")
    if not config.is_production and not (config.SECRET_KEY and config.ENCRYPTION_KEYS and config.CSCX_SIGNING_SECRET):
        _development_secrets(config)
    app = Flask(
        "connect_app",
        template_folder=str(templates_dir()),
        static_folder=str(static_dir()),
        instance_path=str(config.instance_path.resolve()),
    )
    app.config.update(config.as_flask_mapping())
    app.extensions["cscx_config"] = config
    configure_logging(config.LOG_LEVEL, config.LOG_FORMAT)
    try:
        crypto.configure(config.ENCRYPTION_KEYS)
    except crypto.SecretBoxError as exc:
        raise ConfigError(str(exc)) from exc
    if config.SQLALCHEMY_DATABASE_URI.startswith("sqlite:///"):
        Path(config.SQLALCHEMY_DATABASE_URI.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)

    db.init_app(app)
    migrate.init_app(app, db, directory=str(migrations_dir()), render_as_batch=True)
    htmx.init_app(app)

    # Imported here rather than at the top: importing any submodule runs this package's __init__,
    # and the pure parts (atlassian/, the models) must stay importable without every blueprint.
    from connect_app import api, health, pages, web
    from connect_app.connections.urlsafety import UnsafeUrl
    from connect_app.errors import jira_url_refused, register_error_handlers, register_input_checks
    from connect_app.jira_app import connect, forge
    from connect_app.platform import scrape, tracing
    from connect_app.web import admin as web_admin
    from connect_app.web.filters import register_filters

    tracing.init_app(app)  # first: every request gets its id and is timed, even one a later hook refuses
    app.register_blueprint(health.bp)
    app.register_blueprint(scrape.bp)
    app.register_blueprint(api.bp)
    app.register_blueprint(connect.bp)
    app.register_blueprint(forge.bp)
    app.register_blueprint(web.bp)
    app.register_blueprint(web_admin.bp)
    app.register_blueprint(pages.bp)
    register_filters(app)
    register_error_handlers(app)
    register_input_checks(app)
    app.register_error_handler(UnsafeUrl, jira_url_refused)
    if config.SQLALCHEMY_DATABASE_URI.startswith("sqlite"):
        _sqlite_pragmas(app)
    return app


def _sqlite_pragmas(app: Flask) -> None:
    """WAL and enforced foreign keys for the embedded database."""
    with app.app_context():
        engine = db.engine

        @event.listens_for(engine, "connect")
        def _on_connect(dbapi_connection, _record):
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.close()
