"""The Atlassian Connect side of the service: descriptor, lifecycle, the Customers panel, configure page."""

from flask import Blueprint

bp = Blueprint("connect", __name__)

from connect_app.jira_app.connect import lifecycle, panel  # noqa: E402,F401  (register routes on bp)
