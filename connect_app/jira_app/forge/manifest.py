"""The Forge app: its manifest rendered for the service's base URL and app id, and its Custom UI resource's files."""

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


# Resource key -> the Custom UI package folder (under descriptor/forge) whose files make it up.
RESOURCE_PACKAGES = {"panel": "panel"}


def forge_dir() -> Path:
    """The Forge app's sources: manifest template, the panel's Custom UI package, the validate script."""
    return descriptor_dir() / "forge"


def resource_files(key: str = "panel") -> dict[str, str]:
    """A Custom UI resource's files as served without a bundler: `public/` as is, `src/*.js` beside them.

    `forge deploy` takes the bundle `npm run build` makes of the same files (@forge/bridge bundled in); a
    host that serves the module script as is must resolve `@forge/bridge` itself, as the sandbox's import
    map does. The demo and the tests deploy these to the sandbox.
    """
    package = forge_dir() / RESOURCE_PACKAGES[key]
    files = {path.name: path.read_text() for path in sorted((package / "public").iterdir()) if path.is_file()}
    files |= {path.name: path.read_text() for path in sorted((package / "src").glob("*.js"))}
    return files


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
