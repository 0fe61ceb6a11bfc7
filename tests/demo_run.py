"""The demo as a newcomer starts it (`cscx-jira demo` in a process of its own), for the tests that use it."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path


def free_base_port() -> int:
    """A port N with N, N+1 and N+2 free (the demo's service, sandbox and push inbox)."""
    for _ in range(50):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        if port > 60000:
            continue
        try:
            for offset in (1, 2):
                with socket.socket() as other:
                    other.bind(("127.0.0.1", port + offset))
        except OSError:
            continue
        return port
    raise RuntimeError("no three free ports in a row")


def demo_env() -> dict[str, str]:
    """This environment without the settings a developer's shell may point elsewhere."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_URL", "REDIS_URL", "CSCX_PUSH"))}
    return env | {"PYTHONUNBUFFERED": "1"}


class DemoRun:
    """`cscx-jira demo --port N` in `folder` until it prints "Press Ctrl+C"; `.lines` is what it printed and
    `.links` its labelled links. A context manager: leaving it stops the demo as Ctrl+C would."""

    def __init__(self, folder: Path, *args: str):
        self.port = free_base_port()
        self.command = [sys.executable, "-m", "connect_app.cli", "demo", "--port", str(self.port), *args]
        self.folder = folder
        self.lines: list[str] = []
        self.links: dict[str, str] = {}
        self.process: subprocess.Popen | None = None

    @property
    def output(self) -> str:
        return "\n".join(self.lines)

    def __enter__(self) -> DemoRun:
        self.process = subprocess.Popen(self.command, cwd=self.folder, stdout=subprocess.PIPE,
                                        stderr=subprocess.STDOUT, text=True, env=demo_env())
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            line = self.process.stdout.readline()
            if not line:
                break
            self.lines.append(line.rstrip("\n"))
            if line.startswith("Press Ctrl+C"):
                break
        if not self.lines or not self.lines[-1].startswith("Press Ctrl+C"):
            self.__exit__()
            raise AssertionError("the demo did not start:\n" + self.output)
        self.links = dict(re.findall(r"^\s+(.+?)\s{2,}(http://\S+)", self.output, re.M))
        return self

    def link(self, label_start: str) -> str:
        return next(url for label, url in self.links.items() if label.startswith(label_start))

    def __exit__(self, *exc) -> None:
        if self.process is None:
            return
        self.process.send_signal(signal.SIGINT)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.process.stdout.close()
