"""Sandbox connect host support (placeholder until implemented)."""


def register(app, state) -> None:
    """Register routes and hooks on the sandbox app (no-op for now)."""
