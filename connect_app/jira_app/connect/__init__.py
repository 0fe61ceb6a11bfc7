"""The Atlassian Connect side of the service: descriptor, lifecycle, the Customers panel, configure page."""

from connect_app.jira_app.connect import lifecycle, panel  # noqa: F401  (each registers its routes on bp)
from connect_app.jira_app.connect.blueprint import bp

__all__ = ["bp"]
