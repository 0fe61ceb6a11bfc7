"""The JSON API that CSCX.AI's backend calls (service-token authenticated)."""

from connect_app.api import (  # noqa: F401  (each registers its routes on bp)
    admin_delivery,
    chat,
    connections,
    creation,
    custom_fields,
    customers,
    impact,
    integrations,
    jira_issues,
    linking,
    notifications,
    openapi,
    sla,
    subscriptions,
    webhooks,
)
from connect_app.api.blueprint import bp

__all__ = ["bp"]
