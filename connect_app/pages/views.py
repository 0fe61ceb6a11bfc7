"""The pages' routes: thin; reading is in `lists`, drawing in `charts`, acting in the capabilities."""

from __future__ import annotations

import uuid

from flask import g, render_template, request

from connect_app.atlassian.client import JiraError
from connect_app.connections.access import jira_client
from connect_app.customers.records import search_customers
from connect_app.delivery import notify
from connect_app.errors import ApiError
from connect_app.extensions import db
from connect_app.impact.health import customer_health
from connect_app.impact.queries import affected_customers, browse_url
from connect_app.jira_app.issue_customers import LinkError, add_manual_link
from connect_app.models import LINK_TYPES, JiraConnection, JiraIssue
from connect_app.models.types import utcnow
from connect_app.pages import charts, lists
from connect_app.pages.frame import bp
from connect_app.sla import store as sla
from connect_app.sync import history, queries

MAX_SEARCH = 200


def _customer(customer_id: str):
    customer = queries.workspace_customer(g.organization.id, customer_id)
    if customer is None:
        raise ApiError(404, "not_found", "no such customer in this workspace")
    return customer


def _list_query() -> lists.ListQuery:
    raw = request.args.getlist("filter")
    filters = frozenset(raw) if "filter" in request.args or request.args.get("filtered") else frozenset({"open"})
    unknown = sorted(filters - set(lists.QUICK_FILTERS) - {""})
    if unknown:
        raise ApiError(400, "invalid_parameter", f"unknown filter {', '.join(unknown)}")
    sort = request.args.get("sort", "updated")
    if sort not in lists.SORTS:
        raise ApiError(400, "invalid_parameter", f"sort must be one of {', '.join(lists.SORTS)}")
    q = request.args.get("q", "").strip()
    if len(q) > MAX_SEARCH or any(ord(c) < 32 for c in q):
        raise ApiError(400, "invalid_parameter", f"the search must be plain text of at most {MAX_SEARCH} characters")
    try:
        page = int(request.args.get("page", "1"))
    except ValueError:
        raise ApiError(400, "invalid_parameter", "page must be a number") from None
    if not 1 <= page <= 100_000:
        raise ApiError(400, "invalid_parameter", "page must be between 1 and 100000")
    return lists.ListQuery(frozenset(f for f in filters if f), q, sort, page)


@bp.get("/customers/<customer_id>")
def customer_page(customer_id: str):
    """A customer's Jira issues: health, ARR at risk, quick filters, search, sort, paging, live updates."""
    customer = _customer(customer_id)
    query = _list_query()
    listing = lists.customer_issues(customer, g.principal.user_id, query)
    context = {"customer": customer, "query": query, "listing": listing, "now": utcnow(),
               "version": lists.version(customer), "filters": lists.QUICK_FILTERS, "sorts": lists.SORTS}
    if request.headers.get("HX-Target") == "issue-list":
        return render_template("pages/_issue_list.html", **context)
    return render_template("pages/customer.html", health=customer_health(customer), header=lists.header(customer),
                           **context)


@bp.get("/customers/<customer_id>/changes")
def customer_changes(customer_id: str):
    """Polled by the open page: 204 while nothing changed (one aggregate), else the list again."""
    customer = _customer(customer_id)
    if request.args.get("version") == lists.version(customer):
        return "", 204
    query = _list_query()
    return render_template("pages/_issue_list.html", customer=customer, query=query, now=utcnow(),
                           listing=lists.customer_issues(customer, g.principal.user_id, query),
                           version=lists.version(customer), filters=lists.QUICK_FILTERS, sorts=lists.SORTS)


def _issue(key: str) -> JiraIssue:
    try:
        found = queries.find_issue(g.organization.id, key.upper(), request.args.get("connection"))
    except queries.QueryError as exc:
        raise ApiError(400, "invalid_parameter", str(exc)) from exc
    if not found:
        raise ApiError(404, "not_found", f"{key.upper()} is not synced in this workspace")
    if len(found) > 1:
        raise ApiError(409, "ambiguous", f"{key.upper()} exists on several Jira sites; open it from its customer")
    return found[0]


def _subscription_context(issue: JiraIssue) -> dict:
    return {"issue": issue, "subscribed": lists.is_subscribed(g.organization.id, g.principal.user_id, issue)}


@bp.get("/issues/<key>")
def issue_page(key: str):
    """One issue: fields (custom ones by name), the drawn status timeline, affected customers and impact, SLA
    clocks, who changed what. Reads the database only: a page never waits on Jira."""
    issue = _issue(key)
    connection = db.session.get(JiraConnection, issue.connection_id)
    detail = queries.issue_detail(g.organization.id, issue)
    return render_template(
        "pages/issue.html", issue=issue, detail=detail, affected=affected_customers(issue),
        chart=charts.timeline(detail["status_timeline"]), clocks=sla.issue_sla(issue),
        jira_url=browse_url(connection, issue.jira_key), now=utcnow(), history=history.issue_history(issue),
        subscribed=lists.is_subscribed(g.organization.id, g.principal.user_id, issue))


@bp.post("/issues/<key>/subscription")
def subscribe(key: str):
    """"Alert me when resolved": subscribe to the issue's resolution (and reopening)."""
    issue = _issue(key)
    try:
        notify.subscribe(g.organization.id, g.principal.user_id, g.principal.email, {
            "scope": "issue", "jira_key": issue.jira_key, "connection_id": str(issue.connection_id),
            "event_kinds": ["resolved", "reopened"]})
    except notify.SubscriptionError as exc:
        raise ApiError(400, "invalid_parameter", str(exc)) from exc
    return render_template("pages/_subscription.html", **_subscription_context(issue))


@bp.delete("/issues/<key>/subscription")
def unsubscribe(key: str):
    """Stop the alerts for this issue."""
    issue = _issue(key)
    subscription_id = lists.is_subscribed(g.organization.id, g.principal.user_id, issue)
    if subscription_id is not None:
        notify.unsubscribe(g.organization.id, g.principal.user_id, uuid.UUID(str(subscription_id)))
    return render_template("pages/_subscription.html", **_subscription_context(issue))


@bp.get("/issues/<key>/customer-search")
def customer_search(key: str):
    """"Link another customer": the workspace's customers matching what is typed, not linked yet."""
    issue = _issue(key)
    text = request.args.get("q", "").strip()[:100]
    linked = {c["id"] for c in queries.issue_detail(g.organization.id, issue)["customers"]}
    found = [c for c in search_customers(g.organization.id, text, limit=10) if str(c.id) not in linked] if text else []
    return render_template("pages/_customer_matches.html", issue=issue, found=found, q=text)


@bp.post("/issues/<key>/customers")
def link_customer(key: str):
    """Link a customer to this issue by hand (written back to Jira as the Jira panel does)."""
    issue = _issue(key)
    customer = queries.workspace_customer(g.organization.id, request.form.get("customer_id", ""))
    link_type = request.form.get("link_type", "affected")
    if customer is None or link_type not in LINK_TYPES:
        raise ApiError(400, "invalid_parameter", "choose a customer of this workspace and a link type")
    connection = db.session.get(JiraConnection, issue.connection_id)
    try:
        add_manual_link(connection, issue.jira_key, str(customer.id), link_type, g.principal.user_id,
                        jira_client(connection), actor_type="cscx_user")
    except LinkError as exc:
        raise ApiError(exc.status, "cannot_link", str(exc)) from exc
    except JiraError:
        pass  # stored; the label and property are written again on the next change
    return render_template("pages/_customer_linked.html", customer=customer, issue=issue)
