"""One way for tests to serve a WSGI app over real HTTP: a daemon thread on 127.0.0.1, a free port."""

from __future__ import annotations

import threading
from collections.abc import Callable

from werkzeug.serving import WSGIRequestHandler, make_server


class _QuietHandler(WSGIRequestHandler):
    """No access log lines in test output."""

    def log_request(self, *args, **kwargs) -> None:
        pass


class ThreadedServer:
    """Serves `wsgi_app` until stopped; `base_url` is known before it starts. A context manager."""

    def __init__(self, wsgi_app: Callable):
        self._server = make_server("127.0.0.1", 0, wsgi_app, threaded=True, request_handler=_QuietHandler)
        # Request threads are joined on stop: a request still running then (a webhook Jira sent at the
        # last moment) must not outlive the test and open database connections after the app is gone.
        self._server.daemon_threads = False
        self.port = self._server.server_port
        self.base_url = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        daemon=True)

    def start(self) -> ThreadedServer:
        """Start serving in the background."""
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close the socket."""
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> ThreadedServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
