"""`./run demo` as a newcomer runs it: a short, readable start, links that work, pushes that land somewhere,
and a busy port said in one line."""

from __future__ import annotations

import re
import subprocess

import pytest
import requests

from tests.demo_run import DemoRun, demo_env

pytestmark = pytest.mark.sandbox


def test_the_demo_starts_quietly_and_its_links_and_push_inbox_work(tmp_path):
    with DemoRun(tmp_path) as demo:
        output, lines = demo.output, demo.lines
        assert "Traceback" not in output
        # What a person watching needs, not a line per migration, rule or request.
        assert len(lines) < 30, output
        assert not any("alembic" in line or "linking.replaced" in line or "werkzeug" in line for line in lines), output
        assert requests.get(demo.link("webhook and push deliveries"), timeout=10).status_code == 200
        received = requests.get(demo.link("pushes CSCX.AI received"), timeout=10).json()
        assert received["pushes"] > 0 and received["latest"][0]["topic"]
        assert re.search(r"Jira sandbox sign-in: \S+@\S+ / API token \S+", output)
        for label, url in demo.links.items():
            if "/app/" in url:
                assert requests.get(url, timeout=20).status_code == 200, label
        assert requests.get(f"http://127.0.0.1:{demo.port}/", timeout=10).status_code == 200

        busy = subprocess.run(demo.command, cwd=tmp_path, capture_output=True, text=True, env=demo_env(), timeout=60)
        assert busy.returncode != 0
        message = busy.stderr.strip()
        assert message.count("\n") == 0 and "in use" in message and "Traceback" not in busy.stderr, busy.stderr
