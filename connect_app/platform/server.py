"""Serving the app with gunicorn from our own CLI (`cscx-jira serve` / `demo`)."""

from __future__ import annotations

import gc
import socket
from collections.abc import Callable

from flask import Flask
from gunicorn.app.base import BaseApplication

from connect_app.platform.metrics import mark_process_dead
from connect_app.platform.schedule import start_in_thread


class _Gunicorn(BaseApplication):
    """Gunicorn running an already-built Flask app with explicit options."""

    def __init__(self, app: Flask, options: dict[str, object], on_ready: Callable[[], None] | None = None):
        self._app = app
        self._options = options
        self._on_ready = on_ready
        super().__init__()

    def load_config(self) -> None:
        for key, value in self._options.items():
            self.cfg.set(key, value)
        if not self._app.config.get("REDIS_URL"):
            # Embedded mode: one worker process runs the periodic jobs in a thread.
            app = self._app
            self.cfg.set("post_worker_init", lambda _worker: _start_scheduler(app))
        multiprocess_dir = self._app.config.get("PROMETHEUS_MULTIPROC_DIR")
        if multiprocess_dir:
            # prometheus_client multiprocess mode: a dead worker's files must stop counting as live.
            self.cfg.set("child_exit", lambda _server, worker: mark_process_dead(worker.pid, multiprocess_dir))
        if self._on_ready is not None:
            on_ready = self._on_ready
            self.cfg.set("when_ready", lambda _server: on_ready())

    def load(self) -> Flask:
        return self._app


def _start_scheduler(app: Flask) -> None:
    start_in_thread(app)


def serve(app: Flask, *, host: str, port: int, workers: int, threads: int,
          on_ready: Callable[[], None] | None = None) -> None:
    """Serve until interrupted."""
    if not app.config.get("REDIS_URL") and workers > 1:
        # Without Redis, jobs and the scheduler live in the web process: one process keeps them single.
        workers = 1
    options = {
        "bind": f"{host}:{port}",
        "workers": workers,
        "threads": threads,
        "worker_class": "gthread" if threads > 1 else "sync",
        "timeout": 60,
        "graceful_timeout": 10,
        "accesslog": None,  # the app logs each request itself (`http.request`), with its request id
        "loglevel": "warning",
    }
    settle_heap()
    _Gunicorn(app, options, on_ready).run()


def settle_heap() -> None:
    """Move what the process holds after start-up (modules, the app, its mappers) out of the collector's view.

    Those objects live as long as the process; without this every full collection walks them again,
    a pause of tens of milliseconds in the middle of a request. Forked workers inherit the frozen
    heap (and keep sharing its pages with the master).
    """
    gc.collect()
    gc.freeze()


class PortInUse(OSError):
    """The address to serve on is taken (another instance, another program)."""


def check_port_free(host: str, port: int) -> None:
    """Fail fast, in one line, when nothing could listen on host:port (gunicorn would retry, then trace back)."""
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            raise PortInUse(f"{host}:{port} is in use ({exc.strerror or exc})") from None
