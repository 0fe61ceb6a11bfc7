"""`./run demo` as a newcomer runs it: a short, readable start, links that work, pushes that land somewhere,
and a busy port said in one line."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time

import pytest
import requests

pytestmark = pytest.mark.sandbox


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
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_URL", "REDIS_URL", "CSCX_PUSH"))}
    return env | {"PYTHONUNBUFFERED": "1"}


def test_the_demo_starts_quietly_and_its_links_and_push_inbox_work(tmp_path):
    port = free_base_port()
    process = subprocess.Popen([sys.executable, "-m", "connect_app.cli", "demo", "--port", str(port)], cwd=tmp_path,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=demo_env())
    lines: list[str] = []
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            line = process.stdout.readline()
            if not line:
                break
            lines.append(line.rstrip("\n"))
            if line.startswith("Press Ctrl+C"):
                break
        output = "\n".join(lines)
        assert lines and lines[-1].startswith("Press Ctrl+C"), output
        assert "Traceback" not in output
        # What a person watching needs, not a line per migration, rule or request.
        assert len(lines) < 30, output
        assert not any("alembic" in line or "linking.replaced" in line or "werkzeug" in line for line in lines), output
        links = dict(re.findall(r"^\s+(.+?)\s{2,}(http://\S+)", output, re.M))
        admin = next(url for label, url in links.items() if label.startswith("webhook and push deliveries"))
        assert requests.get(admin, timeout=10).status_code == 200
        inbox = next(url for label, url in links.items() if label.startswith("pushes CSCX.AI received"))
        received = requests.get(inbox, timeout=10).json()
        assert received["pushes"] > 0 and received["latest"][0]["topic"]
        assert re.search(r"Jira sandbox sign-in: \S+@\S+ / API token \S+", output)
        for label, url in links.items():
            if "/app/" in url:
                assert requests.get(url, timeout=20).status_code == 200, label
        assert requests.get(f"http://127.0.0.1:{port}/", timeout=10).status_code == 200

        busy = subprocess.run([sys.executable, "-m", "connect_app.cli", "demo", "--port", str(port)], cwd=tmp_path,
                              capture_output=True, text=True, env=demo_env(), timeout=60)
        assert busy.returncode != 0
        message = busy.stderr.strip()
        assert message.count("\n") == 0 and "in use" in message and "Traceback" not in busy.stderr, busy.stderr
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        process.stdout.close()
