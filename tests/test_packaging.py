"""`pip install .` builds a real wheel that carries templates, static files, migrations and the descriptor."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> zipfile.ZipFile:
    """The wheel pip builds from the source tree."""
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run([sys.executable, "-m", "pip", "wheel", str(ROOT), "--no-deps", "-q", "-w", str(out)],
                   check=True, capture_output=True, timeout=600)
    (path,) = out.glob("cscx_jira-*.whl")
    with zipfile.ZipFile(path) as archive:
        yield archive


def test_wheel_carries_assets_and_migrations(wheel):
    names = set(wheel.namelist())
    for expected in (
        "connect_app/_bundled/web/templates/base.html",
        "connect_app/_bundled/web/static/css/app.css",
        "connect_app/_bundled/web/static/vendor/htmx.min.js",
        "connect_app/_bundled/migrations/env.py",
        "connect_app/_bundled/migrations/versions/0001_initial_schema.py",
        "connect_app/_bundled/descriptor/atlassian-connect.json",
        "connect_app/cli.py",
    ):
        assert expected in names, expected


def test_wheel_declares_the_console_script(wheel):
    (entry_points,) = [n for n in wheel.namelist() if n.endswith("entry_points.txt")]
    assert "cscx-jira = connect_app.cli:main" in wheel.read(entry_points).decode()
