"""The OpenAPI document of the JSON API, served at /api/openapi.json (no authentication: it holds no data)."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

from flask import jsonify

from connect_app.api.blueprint import bp

SPEC_PATH = Path(__file__).with_name("openapi.json")


@cache
def load_spec() -> dict:
    """The OpenAPI document, read once from the package."""
    return json.loads(SPEC_PATH.read_text(encoding="utf-8"))


@bp.get("/openapi.json")
def openapi():
    """Serve the OpenAPI 3.1 document of every /api route."""
    return jsonify(load_spec())
