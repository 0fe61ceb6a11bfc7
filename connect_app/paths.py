"""Where the service finds its templates, static files, migrations and descriptor source."""

from __future__ import annotations

from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent


def resource_dir(name: str) -> Path:
    """The installed copy (inside the wheel) if present, else the source tree's top-level folder."""
    bundled = _PACKAGE / "_bundled" / name
    if bundled.is_dir():
        return bundled
    return _PACKAGE.parent / name


def templates_dir() -> Path:
    """Jinja templates."""
    return resource_dir("web") / "templates"


def static_dir() -> Path:
    """CSS, images and the vendored htmx script."""
    return resource_dir("web") / "static"


def migrations_dir() -> Path:
    """Alembic migrations."""
    return resource_dir("migrations")


def descriptor_dir() -> Path:
    """Connect descriptor template."""
    return resource_dir("descriptor")
