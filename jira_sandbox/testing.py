"""Serving the sandbox to tests and benchmarks.

`SandboxServer` runs the app in a background thread of this process (werkzeug's threaded
server on 127.0.0.1, port 0). To run the site as its own process (`python -m jira_sandbox`), use
`connect_app.demo.SandboxSite`, as the demo does.
"""

from __future__ import annotations

import threading

from werkzeug.serving import WSGIRequestHandler, make_server

from jira_sandbox.app import create_app
from jira_sandbox.control import ADMIN_HEADER
from jira_sandbox.faults import FAULT_OPTIONS
from jira_sandbox.seed import SEED_OPTIONS, seed_site
from jira_sandbox.state import SandboxState


class _QuietHandler(WSGIRequestHandler):
    """No access log lines in test output."""

    def log_request(self, *args, **kwargs) -> None:
        pass


class SandboxServer:
    """A seeded sandbox site served from a background thread; use as a context manager.

    Options: any seeding option (`projects`, `customers`, `users`, `anchor`) or fault option
    (`latency_ms`, `rate_limit`, `rate_window_s`, `error_rate`, `error_status`, `fault_seed`,
    `path_latency_ms`).
    """

    def __init__(self, flavour: str = "cloud", issues: int = 0, seed: int = 1, host: str = "127.0.0.1",
                 port: int = 0, **options):
        unknown = set(options) - set(SEED_OPTIONS) - set(FAULT_OPTIONS)
        if unknown:
            raise TypeError(f"unknown SandboxServer options: {sorted(unknown)}")
        self.state = SandboxState(flavour=flavour)
        seed_site(self.state, issues=issues, seed=seed, **{k: v for k, v in options.items() if k in SEED_OPTIONS})
        self.app = create_app(self.state, **{k: v for k, v in options.items() if k in FAULT_OPTIONS})
        self._server = make_server(host, port, self.app, threaded=True, request_handler=_QuietHandler)
        self.base_url = f"http://{host}:{self._server.server_port}"
        self.state.base_url = self.base_url
        self._thread: threading.Thread | None = None

    @property
    def email(self) -> str:
        """The admin's email (Cloud Basic auth login)."""
        return self.state.admin["emailAddress"]

    @property
    def username(self) -> str:
        """The admin's username (Server Basic auth login)."""
        return self.state.admin["name"]

    @property
    def api_token(self) -> str:
        """The admin's Cloud API token."""
        return self.state.admin["api_token"]

    @property
    def password(self) -> str:
        """The admin's Server password."""
        return self.state.admin["password"]

    @property
    def pat(self) -> str:
        """The admin's Server personal access token."""
        return self.state.admin["pat"]

    @property
    def basic_auth(self) -> tuple[str, str]:
        """(login, secret) for Basic auth in this flavour."""
        if self.state.flavour == "cloud":
            return self.email, self.api_token
        return self.username, self.password

    @property
    def admin_headers(self) -> dict:
        """Headers for the `/_sandbox/` control endpoints."""
        return {ADMIN_HEADER: self.state.admin_token}

    def start(self) -> SandboxServer:
        """Start serving in a daemon thread."""
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="jira-sandbox", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close the socket (and the site's Forge trigger clock, if it runs)."""
        scheduler = getattr(self.state, "forge_scheduler", None)
        if scheduler is not None:
            scheduler.stop()
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> SandboxServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

