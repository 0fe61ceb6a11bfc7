"""Serve the app over real HTTP from a background thread, for tests that Jira (the sandbox) must call."""

from __future__ import annotations

from connect_app import create_app
from connect_app.config import TestConfig
from connect_app.extensions import db
from connect_app.platform.jobs import shutdown_background
from tests.serving import ThreadedServer


class _Deferred:
    """A WSGI app set after the socket is bound (the app's BASE_URL needs the port)."""

    app = None

    def __call__(self, environ, start_response):
        return self.app(environ, start_response)


class LiveApp:
    """The service on 127.0.0.1:<free port> with BASE_URL set to it; a context manager."""

    def __init__(self, database_url: str, instance_path, **settings: str):
        self._deferred = _Deferred()
        self._http = ThreadedServer(self._deferred)
        self.base_url = self._http.base_url
        # The sandbox Jira it talks to lives on 127.0.0.1, which the URL-safety policy refuses by default.
        environ = {"DATABASE_URL": database_url, "BASE_URL": self.base_url,
                   "ALLOW_PRIVATE_JIRA_URLS": "true"} | settings
        self.app = create_app(TestConfig(environ, instance_path=instance_path))
        self._deferred.app = self.app

    def __enter__(self) -> LiveApp:
        self._http.start()
        return self

    def __exit__(self, *exc) -> None:
        self._http.stop()
        shutdown_background(self.app)
        with self.app.app_context():
            db.session.remove()
            db.engine.dispose()
