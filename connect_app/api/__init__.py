"""The JSON API that CSCX.AI's backend calls (service-token authenticated)."""

from flask import Blueprint

bp = Blueprint("api", __name__, url_prefix="/api")

from connect_app.api import (  # noqa: E402,F401  (routes)
    admin_delivery,
    connections,
    customers,
    integrations,
    jira_issues,
    linking,
    notifications,
    openapi,
    subscriptions,
    webhooks,
)
