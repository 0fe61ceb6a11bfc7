"""The Jira app on Forge: its manifest, and the remote's routes (lifecycle, events, scheduled trigger, UI calls)."""

from connect_app.jira_app.forge import (  # noqa: F401  (each registers its routes on bp)
    configure,
    events,
    lifecycle,
    panel,
    scheduled,
)
from connect_app.jira_app.forge.blueprint import bp

__all__ = ["bp"]
