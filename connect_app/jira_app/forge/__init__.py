"""The Jira app on Forge: its manifest, and the remote's routes (lifecycle, issue events, the panel's calls)."""

from connect_app.jira_app.forge import events, lifecycle, panel  # noqa: F401  (each registers its routes on bp)
from connect_app.jira_app.forge.blueprint import bp

__all__ = ["bp"]
