"""A tiny stand-in Connect app / webhook receiver for sandbox tests: records every request.

`AppReceiver` serves its descriptor at `/atlassian-connect.json`, answers everything else with
the next status from `statuses` (default 200) and keeps each request in `requests`.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field

from werkzeug.wrappers import Request, Response

from tests.serving import ThreadedServer


@dataclass
class Received:
    """One request the receiver got."""

    method: str
    path: str
    query: str
    headers: dict
    body: bytes
    at: float = field(default_factory=time.time)

    def json(self):
        """The body parsed as JSON."""
        return json.loads(self.body)

    @property
    def target(self) -> str:
        """Path plus query, as a qsh signs it."""
        return self.path + (f"?{self.query}" if self.query else "")


def descriptor(base_url: str, key: str = "test-app", **overrides) -> dict:
    """A Connect descriptor with lifecycle hooks, issue webhooks, a panel, a glance and a property."""
    body = {
        "key": key, "name": "Test <App>", "baseUrl": base_url, "authentication": {"type": "jwt"},
        "apiMigrations": {"signed-install": True, "context-qsh": True},
        "lifecycle": {"installed": "/installed", "uninstalled": "/uninstalled", "enabled": "/enabled",
                      "disabled": "/disabled"},
        "scopes": ["READ", "WRITE"],
        "modules": {
            "webhooks": [{"event": "jira:issue_created", "url": "/hooks/jira?kind=created"},
                         {"event": "jira:issue_updated", "url": "/hooks/jira?kind=updated"},
                         {"event": "jira:issue_deleted", "url": "/hooks/jira?kind=deleted"}],
            "webPanels": [{"key": "customers-panel", "location": "atl.jira.view.issue.right.context",
                           "name": {"value": "Customers"}, "url": "/panel?issue={issue.key}"}],
            "jiraIssueGlances": [{"key": "customers-glance", "name": {"value": "Customers"},
                                  "target": {"type": "web_panel", "url": "/glance?issue={issue.key}"},
                                  "content": {"type": "label", "label": {"value": "Customers"}},
                                  "icon": {"width": 24, "height": 24, "url": "/icon.svg"}}],
            "jiraEntityProperties": [{"key": "customers-prop", "entityType": "issue",
                                      "name": {"value": "Customers"},
                                      "keyConfigurations": [{"propertyKey": "cscx-customers",
                                                             "extractions": [{"objectName": "count",
                                                                              "type": "number"}]}]}],
        },
    }
    body.update(overrides)
    return body


class AppReceiver:
    """A threaded HTTP server recording requests; use as a context manager."""

    def __init__(self, key: str = "test-app", **descriptor_overrides):
        self.requests: list[Received] = []
        self.statuses: list[int] = []
        self.lock = threading.Lock()
        self._http = ThreadedServer(self._wsgi)
        self.base_url = self._http.base_url
        self.descriptor = descriptor(self.base_url, key, **descriptor_overrides)

    @property
    def descriptor_url(self) -> str:
        """Where the sandbox fetches the descriptor."""
        return self.base_url + "/atlassian-connect.json"

    def _wsgi(self, environ, start_response):
        req = Request(environ)
        if req.path == "/atlassian-connect.json":
            return Response(json.dumps(self.descriptor), mimetype="application/json")(environ, start_response)
        received = Received(req.method, req.path, req.query_string.decode(), dict(req.headers), req.get_data())
        with self.lock:
            self.requests.append(received)
            status = self.statuses.pop(0) if self.statuses else 200
        return Response("", status=status)(environ, start_response)

    def on(self, path: str) -> list[Received]:
        """Requests received on `path`."""
        with self.lock:
            return [r for r in self.requests if r.path == path]

    def wait_for(self, path: str, count: int = 1, timeout: float = 10) -> list[Received]:
        """Wait until `count` requests arrived on `path`."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            got = self.on(path)
            if len(got) >= count:
                return got
            time.sleep(0.02)
        raise AssertionError(f"expected {count} requests on {path}, got {len(self.on(path))}")

    def __enter__(self) -> AppReceiver:
        self._http.start()
        return self

    def __exit__(self, *exc) -> None:
        self._http.stop()
