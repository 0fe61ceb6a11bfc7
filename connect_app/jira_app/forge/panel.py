"""`/forge/ui/...`: the Customers panel's calls through Forge's invokeRemote, answered with `{"html": ...}`.

The fragments come from the Connect panel's templates and `issue_customers`, so both apps show and
change links the same way. The user is the token's `principal` (the audit's actor), and writes to Jira
go with the user's `x-forge-oauth-user` token when Forge sent one, else the app's system token.
"""

from __future__ import annotations

import logging
import re

from flask import g, jsonify, render_template, request

from connect_app.atlassian.client import JiraError
from connect_app.connections.access import jira_client
from connect_app.connections.records import TokenUnavailable
from connect_app.customers import records as customer_domain
from connect_app.errors import ApiError
from connect_app.jira_app import issue_customers
from connect_app.jira_app.forge.auth import forge_invocation_required
from connect_app.jira_app.forge.blueprint import bp
from connect_app.models import LINK_TYPES

log = logging.getLogger(__name__)

ISSUE_KEY_RE = re.compile(r"^[A-Z][A-Z0-9_]{0,19}-[1-9][0-9]{0,9}$")
SEARCH_LIMIT = 8
SAVED_NOT_WRITTEN = "Saved. Jira could not be updated just now; the label and count will catch up on the next change."


def form_fields() -> dict:
    """The UI's form fields: invokeRemote sends them as a JSON body (a form post works too)."""
    body = request.get_json(silent=True)
    return body if isinstance(body, dict) else request.form.to_dict()


def _issue_key() -> str:
    """The issue of the panel: the token's extension context when Forge put it there, else the request's."""
    context = g.invocation.claims.get("context")
    extension = context.get("extension") if isinstance(context, dict) else None
    issue = extension.get("issue") if isinstance(extension, dict) else None
    key = issue.get("key") if isinstance(issue, dict) else None
    if not isinstance(key, str) or not key:
        key = request.args.get("issueKey") or form_fields().get("issueKey") or ""
    key = str(key).strip().upper()
    if not ISSUE_KEY_RE.match(key):
        raise ApiError(400, "invalid_parameter", "issueKey must be a Jira issue key like CS-123")
    return key


def actor() -> str:
    """The user acting in the app's UI (the token's principal); UI calls without one are refused."""
    if not g.invocation.account_id:
        raise ApiError(403, "forbidden", "the panel acts for a user; this invocation names none")
    return g.invocation.account_id


def _fragment(issue_key: str, status: int = 200, **extra):
    """The whole panel as HTML in JSON (what panel.js puts on the page)."""
    linked = g.tenant.organization_id is not None
    state = issue_customers.issue_customers(g.tenant, issue_key) if linked else None
    html = render_template("connect/_forge_panel.html", forge=True, linked=linked, state=state,
                           issue_key=issue_key, link_types=LINK_TYPES, query="", customers=[], **extra)
    return jsonify({"html": html}), status


@bp.get("/forge/ui/panel")
@forge_invocation_required
def ui_panel():
    """The panel's first load: the issue's customers and the search form."""
    actor()
    return _fragment(_issue_key())


@bp.post("/forge/ui/search")
@forge_invocation_required
def ui_search():
    """The type-ahead: customers of the workspace matching `q`, each with an Add form (the results list only)."""
    actor()
    issue_key = _issue_key()
    query = str(form_fields().get("q") or "")[:100]
    found = []
    if query.strip() and g.tenant.organization_id is not None:
        found = customer_domain.search_customers(g.tenant.organization_id, query, SEARCH_LIMIT)
    html = render_template("connect/_search_results.html", forge=True, issue_key=issue_key, query=query,
                           customers=found, link_types=LINK_TYPES)
    return jsonify({"html": html})


@bp.post("/forge/ui/links")
@forge_invocation_required
def ui_add_link():
    """Link a customer to the issue for the user in the panel; audited with the user's accountId."""
    user, issue_key, form = actor(), _issue_key(), form_fields()
    return _change(issue_key, lambda client: issue_customers.add_manual_link(
        g.tenant, issue_key, str(form.get("customer_id") or ""), str(form.get("link_type") or "affected"),
        user, client))


@bp.post("/forge/ui/links/<customer_id>/remove")
@forge_invocation_required
def ui_remove_link(customer_id: str):
    """Remove a manual link for the user in the panel; audited with the user's accountId."""
    user, issue_key = actor(), _issue_key()
    return _change(issue_key, lambda client: issue_customers.remove_manual_link(
        g.tenant, issue_key, customer_id, user, client))


def _change(issue_key: str, action):
    if g.tenant.organization_id is None:
        return _fragment(issue_key, 409)
    notice = None
    try:
        action(jira_client(g.tenant, user_token=g.forge_user_token))
    except issue_customers.LinkError as error:
        return _fragment(issue_key, error.status, error=str(error))
    except (JiraError, TokenUnavailable) as error:
        # The link is saved; only telling Jira failed. Say so rather than pretend or lose the change.
        log.warning("forge.panel.write_back_failed", extra={"issue": issue_key,
                                                            "status": getattr(error, "status", None)})
        notice = SAVED_NOT_WRITTEN
    return _fragment(issue_key, notice=notice)
