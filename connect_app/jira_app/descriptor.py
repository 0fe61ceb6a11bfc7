"""The Atlassian Connect descriptor, rendered for a base URL (served at /atlassian-connect.json)."""

from __future__ import annotations

import copy
import json
from functools import lru_cache
from typing import Any

from connect_app.paths import descriptor_dir

PLACEHOLDER = "{{localBaseUrl}}"


@lru_cache(maxsize=1)
def _template() -> dict[str, Any]:
    return json.loads((descriptor_dir() / "atlassian-connect.json").read_text())


def render_descriptor(base_url: str) -> dict[str, Any]:
    """The descriptor with baseUrl set; every module URL in it is relative to that base."""
    descriptor = copy.deepcopy(_template())
    if descriptor.get("baseUrl") != PLACEHOLDER:
        raise ValueError("descriptor template must use the {{localBaseUrl}} placeholder for baseUrl")
    descriptor["baseUrl"] = base_url.rstrip("/")
    return descriptor
