"""The Forge manifest, rendered for the service's base URL and the app id from `forge register`."""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

from connect_app.paths import descriptor_dir

APP_ID_PLACEHOLDER = "{{appId}}"
BASE_URL_PLACEHOLDER = "{{localBaseUrl}}"
_APP_ARI = re.compile(r"ari:cloud:ecosystem::app/[0-9A-Za-z-]{1,64}")


def forge_dir() -> Path:
    """The Forge app's sources: manifest template, the panel's Custom UI package, the validate script."""
    return descriptor_dir() / "forge"


@lru_cache(maxsize=1)
def _template() -> str:
    return (forge_dir() / "manifest.yml").read_text()


def render_manifest(base_url: str, app_id: str) -> str:
    """The manifest YAML with app.id and the remote's baseUrl set; `cscx-jira descriptor --forge` prints it."""
    if not _APP_ARI.fullmatch(app_id or ""):
        raise ValueError("the app id must be the ARI `forge register` gives: ari:cloud:ecosystem::app/<uuid>")
    url = (base_url or "").rstrip("/")
    parts = urlsplit(url)
    if parts.scheme not in ("https", "http") or not parts.hostname or parts.query or parts.fragment:
        raise ValueError("the base URL must be an http(s) URL without query or fragment")
    manifest: dict[str, Any] = yaml.safe_load(_template())
    if manifest["app"]["id"] != APP_ID_PLACEHOLDER or [r["baseUrl"] for r in manifest["remotes"]] != [
            BASE_URL_PLACEHOLDER]:
        raise ValueError("the manifest template must use {{appId}} and one remote with {{localBaseUrl}}")
    manifest["app"]["id"] = app_id
    manifest["remotes"][0]["baseUrl"] = url
    # Dumped rather than substituted as text: no value can change the YAML's structure.
    header = "# Rendered from descriptor/forge/manifest.yml by `cscx-jira descriptor --forge`.\n"
    return header + yaml.safe_dump(manifest, sort_keys=False, allow_unicode=True, width=120)
