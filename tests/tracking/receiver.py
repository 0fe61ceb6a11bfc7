"""A stand-in CSCX.AI push receiver over real HTTP: verifies signatures, dedupes by idempotency key.

`fail_with` makes it answer an error status (e.g. 503) until cleared; `accepted` holds the first
accepted body per key, `duplicates` counts keys accepted again (an at-least-once redelivery).
"""

from __future__ import annotations

import json
import threading
import time

from werkzeug.wrappers import Request, Response

from connect_app.delivery.outbox import IDEMPOTENCY_HEADER, SIGNATURE_HEADER, verify_signature
from tests.serving import ThreadedServer


class PushReceiver:
    """CSCX.AI's push endpoint, on 127.0.0.1:<free port>; a context manager."""

    def __init__(self, secret: str):
        self.secret = secret
        self.fail_with: int | None = None
        self.lock = threading.Lock()
        self.accepted: dict[str, dict] = {}
        self.arrived_at: dict[str, float] = {}
        self.duplicates: dict[str, int] = {}
        self.refused = 0
        self.bad_signatures = 0
        self._http = ThreadedServer(self._app)
        self.url = f"{self._http.base_url}/push"

    @Request.application
    def _app(self, request: Request) -> Response:
        body = request.get_data()
        if not verify_signature(self.secret, request.headers.get(SIGNATURE_HEADER, ""), body):
            with self.lock:
                self.bad_signatures += 1
            return Response("bad signature", status=401)
        if self.fail_with:
            with self.lock:
                self.refused += 1
            return Response("unavailable", status=self.fail_with)
        key = request.headers.get(IDEMPOTENCY_HEADER)
        data = json.loads(body)
        assert data["id"] == key
        with self.lock:
            if key in self.accepted:
                self.duplicates[key] = self.duplicates.get(key, 0) + 1
            else:
                self.accepted[key] = data
                self.arrived_at[key] = time.time()
        return Response("{}", status=200, mimetype="application/json")

    def topics(self, prefix: str = "") -> list[dict]:
        """Accepted pushes whose topic starts with prefix."""
        with self.lock:
            return [d for d in self.accepted.values() if d["topic"].startswith(prefix)]

    def __enter__(self) -> PushReceiver:
        self._http.start()
        return self

    def __exit__(self, *exc) -> None:
        self._http.stop()
