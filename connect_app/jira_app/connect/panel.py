"""The Customers panel inside the Jira issue view, and the configure page for the Jira admin."""

from __future__ import annotations

import logging
import re
from urllib.parse import urlsplit

from flask import g, render_template, request

from connect_app.atlassian.client import JiraError
from connect_app.connections import installations
from connect_app.connections.access import jira_client
from connect_app.customers import records as customer_domain
from connect_app.errors import ApiError
from connect_app.jira_app import issue_customers
from connect_app.jira_app.connect.auth import (
    CONTEXT_HEADER,
    context_token_required,
    jira_jwt_required,
    mint_context_token,
)
from connect_app.jira_app.connect.blueprint import bp
from connect_app.models import LINK_TYPES

log = logging.getLogger(__name__)

ISSUE_KEY_RE = re.compile(r"^[A-Z][A-Z0-9_]{0,19}-[1-9][0-9]{0,9}$")
SEARCH_LIMIT = 8
DEFAULT_PORTS = {"https": 443, "http": 80}


def _jira_client():
    return jira_client(g.tenant)


def _issue_key_arg() -> str:
    key = (request.args.get("issueKey") or "").strip().upper()
    if not ISSUE_KEY_RE.match(key):
        raise ApiError(400, "invalid_parameter", "issueKey must be a Jira issue key like CS-123")
    return key


def jira_origins(tenant) -> list[str]:
    """The origins the site's pages are served from: the only hosts panel.js will post its size to."""
    origins = []
    for url in (tenant.base_url, tenant.display_url):
        parts = urlsplit(url or "")
        if parts.scheme not in DEFAULT_PORTS or not parts.hostname:
            continue
        host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
        port = f":{parts.port}" if parts.port and parts.port != DEFAULT_PORTS[parts.scheme] else ""
        origin = f"{parts.scheme}://{host}{port}"  # as a browser spells it (lower case, no default port)
        if origin not in origins:
            origins.append(origin)
    return origins


def _panel_context(issue_key: str, **extra):
    state = issue_customers.issue_customers(g.tenant, issue_key)
    return {"state": state, "issue_key": issue_key, "link_types": LINK_TYPES, **extra}


@bp.get("/connect/panel")
@jira_jwt_required(context_qsh=True)
def panel():
    """The panel page Jira loads in an iframe; it hands the page a context token for its htmx calls."""
    issue_key = _issue_key_arg()
    if g.tenant.organization_id is None:
        return render_template("connect/not_linked.html"), 200
    token = mint_context_token(g.tenant, g.jira_account_id, issue_key)
    return render_template("connect/panel.html", context_token=token, context_header=CONTEXT_HEADER,
                           in_jira=bool(request.args.get("xdm_e")), host_origins=jira_origins(g.tenant),
                           **_panel_context(issue_key))


@bp.get("/connect/panel/links")
@context_token_required
def panel_links():
    """The list of linked customers (htmx partial)."""
    return render_template("connect/_links.html", **_panel_context(g.issue_key))


@bp.get("/connect/panel/search")
@context_token_required
def panel_search():
    """Type-ahead over the workspace's customers (htmx partial)."""
    query = request.args.get("q", "")[:100]
    found = customer_domain.search_customers(g.tenant.organization_id, query, SEARCH_LIMIT) if query.strip() else []
    return render_template("connect/_search_results.html", customers=found, query=query, link_types=LINK_TYPES)


@bp.post("/connect/panel/links")
@context_token_required
def panel_add_link():
    """Link a customer to this issue (htmx partial: the refreshed list)."""
    customer_id = request.form.get("customer_id", "")
    link_type = request.form.get("link_type", "affected")
    return _change(lambda client: issue_customers.add_manual_link(
        g.tenant, g.issue_key, customer_id, link_type, g.jira_account_id, client))


@bp.delete("/connect/panel/links/<customer_id>")
@context_token_required
def panel_remove_link(customer_id: str):
    """Remove a manual link from this issue (htmx partial: the refreshed list)."""
    return _change(lambda client: issue_customers.remove_manual_link(
        g.tenant, g.issue_key, customer_id, g.jira_account_id, client))


def _change(action):
    notice = None
    try:
        action(_jira_client())
    except issue_customers.LinkError as error:
        return render_template("connect/_links.html", error=str(error), **_panel_context(g.issue_key)), error.status
    except JiraError as error:
        # The link is saved; only telling Jira failed. Say so rather than pretend or lose the change.
        log.warning("panel.write_back_failed", extra={"issue": g.issue_key, "status": getattr(error, "status", None)})
        notice = "Saved. Jira could not be updated just now; the label and count will catch up on the next change."
    response = render_template("connect/_links.html", notice=notice, **_panel_context(g.issue_key))
    return response, 200, {"HX-Trigger": "cscx-links-changed"}


@bp.get("/connect/configure")
@jira_jwt_required(context_qsh=True)
def configure():
    """The Jira admin's page: is this site linked to a CSCX.AI workspace, and a form to link it."""
    token = mint_context_token(g.tenant, g.jira_account_id, "CONFIGURE-1")
    return render_template("connect/configure.html", tenant=g.tenant, context_token=token,
                           context_header=CONTEXT_HEADER)


@bp.post("/connect/configure/link")
@context_token_required
def configure_link():
    """Link this Jira site to the workspace that issued the one-time code (htmx partial)."""
    if g.issue_key != "CONFIGURE-1":
        raise ApiError(403, "forbidden", "this token is not for the configure page")
    code = (request.form.get("code") or "").strip()
    if not code:
        return render_template("connect/_configure_result.html", error="Enter the code from CSCX.AI."), 400
    try:
        workspace = installations.link_with_code(g.tenant, code, g.jira_account_id)
    except installations.LinkCodeError as error:
        return render_template("connect/_configure_result.html", error=str(error)), 400
    return render_template("connect/_configure_result.html", workspace=workspace)
