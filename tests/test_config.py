"""Configuration: production refuses to start without its settings, with a clear message."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from connect_app.cli import main
from connect_app.config import Config, ConfigError, TestConfig, normalise_database_url


def test_production_lists_every_missing_setting():
    with pytest.raises(ConfigError) as info:
        Config({"CSCX_ENV": "production", "DATABASE_URL": "postgresql://db/x"})
    message = str(info.value)
    for name in ("BASE_URL", "SECRET_KEY", "ENCRYPTION_KEY", "CSCX_SIGNING_SECRET"):
        assert name in message
    assert "DATABASE_URL" not in message


def test_unknown_environment_is_refused():
    with pytest.raises(ConfigError, match="CSCX_ENV"):
        Config({"CSCX_ENV": "staging"})


def test_cli_reports_configuration_errors_without_a_traceback(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    for name in ("DATABASE_URL", "BASE_URL", "SECRET_KEY", "ENCRYPTION_KEY", "CSCX_SIGNING_SECRET"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("CSCX_ENV", "production")
    result = CliRunner().invoke(main, ["db", "upgrade"])
    assert result.exit_code == 1
    assert "configuration error: missing required settings for production" in result.output
    assert "Traceback" not in result.output


def test_postgres_urls_use_psycopg3():
    assert normalise_database_url("postgres://u@h/db") == "postgresql+psycopg://u@h/db"
    assert normalise_database_url("postgresql://u@h/db") == "postgresql+psycopg://u@h/db"
    assert normalise_database_url("sqlite:///x.db") == "sqlite:///x.db"


def test_development_generates_and_keeps_its_own_secrets(tmp_path):
    from connect_app import create_app

    first = create_app(Config({"CSCX_ENV": "development", "DATABASE_URL": f"sqlite:///{tmp_path}/a.db"},
                              instance_path=tmp_path))
    second = create_app(Config({"CSCX_ENV": "development", "DATABASE_URL": f"sqlite:///{tmp_path}/a.db"},
                               instance_path=tmp_path))
    assert first.config["ENCRYPTION_KEYS"] == second.config["ENCRYPTION_KEYS"]
    assert (tmp_path / "dev-secrets.json").stat().st_mode & 0o077 == 0


def test_forge_settings_default_to_atlassians_key_set_and_no_app():
    config = Config({})
    assert config.FORGE_APP_ID is None
    assert config.FORGE_JWKS_URL == "https://forge.cdn.prod.atlassian-dev.net/.well-known/jwks.json"
    app_id = "ari:cloud:ecosystem::app/0f3c2e1a-7d8b-4c5e-9f60-123456789abc"
    assert app_id == Config({"FORGE_APP_ID": app_id}).FORGE_APP_ID


@pytest.mark.parametrize("setting", [{"FORGE_APP_ID": "0f3c2e1a-7d8b-4c5e-9f60-123456789abc"},
                                     {"FORGE_APP_ID": "ari:cloud:ecosystem::app/x y"},
                                     {"FORGE_JWKS_URL": "file:///etc/jwks.json"}])
def test_malformed_forge_settings_are_refused(setting):
    with pytest.raises(ConfigError, match=next(iter(setting))):
        Config(setting)


def test_the_inbox_batch_size_is_a_bounded_whole_number():
    assert TestConfig({"INBOX_BATCH_SIZE": "50"}).INBOX_BATCH_SIZE == 50
    assert TestConfig().INBOX_BATCH_SIZE == 200
    for bad in ("0", "1001", "ten", "2.5"):
        with pytest.raises(ConfigError, match="INBOX_BATCH_SIZE"):
            TestConfig({"INBOX_BATCH_SIZE": bad})
