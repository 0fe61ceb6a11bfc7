"""The PM's and admin's pages: the impact ranking (its chart, the factors on demand, the CSV export), the SLA board,
notifications, and sync (admins). Thin routes: reading is in `boards` and the capabilities, drawing in `charts`."""

from __future__ import annotations

import csv
import io
import logging
import math
import uuid
from collections.abc import Iterator
from dataclasses import replace
from datetime import datetime
from typing import Any

from flask import Response, current_app, g, render_template, request, stream_with_context, url_for
from werkzeug.datastructures import MultiDict

from connect_app.api.auth import decode_service_token
from connect_app.delivery import notify
from connect_app.errors import ApiError
from connect_app.extensions import db
from connect_app.impact import queries as impact
from connect_app.impact.score import SEVERITIES
from connect_app.models import TIERS, IssueImpact, JiraIssue, Organization
from connect_app.models.tenancy import ConnectionStatus
from connect_app.models.types import utcnow
from connect_app.pages import boards, charts, downloads
from connect_app.pages.frame import authenticated_by_link, bp
from connect_app.platform import jobs
from connect_app.sla import store as sla
from connect_app.sync import engine, queries

log = logging.getLogger(__name__)

PAGE_SIZE = 25
MAX_PAGE = 100_000
MAX_CHOICES = 20
MAX_VALUE = 100
EXPORT_KIND = "impact.csv"
EXPORT_BATCH = 500
MAX_EXPORT_ROWS = 50_000
SLA_VIEWS = {"": ("at_risk", "breached"), "breached": ("breached",), "at_risk": ("at_risk",)}
NOTIFICATIONS_PAGE = 30
SYNC_POLL_SECONDS = 3


def _bad(message: str) -> ApiError:
    return ApiError(400, "invalid_parameter", message)


def _values(args: MultiDict, name: str, allowed: tuple[str, ...] | None = None) -> tuple[str, ...]:
    """A filter's chosen values (repeatable; none means any): a few, short, plain text and, given `allowed`, known."""
    values = tuple(dict.fromkeys(v.strip() for v in args.getlist(name) if v.strip()))
    if len(values) > MAX_CHOICES or any(len(v) > MAX_VALUE or not v.isprintable() for v in values):
        raise _bad(f"{name} takes at most {MAX_CHOICES} values of plain text")
    wrong = [v for v in values if allowed is not None and v not in allowed]
    if wrong:
        raise _bad(f"{name} must be one of {', '.join(allowed or ())} (got {wrong[0]!r})")
    return values


def _page(args: MultiDict) -> int:
    try:
        page = int(args.get("page", "1"))
    except ValueError:
        raise _bad("page must be a number") from None
    if not 1 <= page <= MAX_PAGE:
        raise _bad(f"page must be between 1 and {MAX_PAGE}")
    return page


def _when(args: MultiDict, name: str) -> datetime | None:
    raw = args.get(name, "").strip()
    if not raw:
        return None
    try:
        moment = datetime.fromisoformat(raw)
    except ValueError:
        raise _bad(f"{name} must be an ISO 8601 time") from None
    if moment.tzinfo is None:
        raise _bad(f"{name} must include a time zone")
    return moment


def _workspace_issue(key: str) -> JiraIssue:
    try:
        found = queries.find_issue(g.organization.id, key.upper(), request.args.get("connection"))
    except queries.QueryError as exc:
        raise _bad(str(exc)) from exc
    if not found:
        raise ApiError(404, "not_found", f"{key.upper()} is not synced in this workspace")
    if len(found) > 1:
        raise ApiError(409, "ambiguous", f"{key.upper()} exists on several Jira sites; open it from the ranking")
    return found[0]


# ---- impact -------------------------------------------------------------------------------------

def _rank_filters(args: MultiDict) -> impact.RankFilters:
    severity = _values(args, "min_severity", SEVERITIES)
    if len(severity) > 1:
        raise _bad("min_severity takes one value")
    page = _page(args)
    return impact.RankFilters(project=_values(args, "project"), type=_values(args, "type"),
                              priority=_values(args, "priority"), customer_tier=_values(args, "customer_tier", TIERS),
                              min_severity=severity[0] if severity else None, limit=PAGE_SIZE,
                              offset=(page - 1) * PAGE_SIZE)


def _filter_params(filters: impact.RankFilters) -> dict[str, list[str]]:
    """The filters as query parameters (the pager's links, the export's link)."""
    params = {"project": filters.project, "type": filters.type, "priority": filters.priority,
              "customer_tier": filters.customer_tier,
              "min_severity": (filters.min_severity,) if filters.min_severity else ()}
    return {name: list(values) for name, values in params.items() if values}


def _impact_context(filters: impact.RankFilters) -> dict[str, Any]:
    ranked = impact.rank(g.organization.id, filters)
    risk = impact.arr_at_risk(g.organization.id, filters)
    return {"filters": filters, "params": _filter_params(filters), "ranked": ranked, "risk": risk,
            "page": filters.offset // PAGE_SIZE + 1, "pages": max(1, math.ceil(ranked["total"] / PAGE_SIZE)),
            "by_severity": charts.bar_chart([(b["label"], b["arr"]) for b in risk["by_severity"]],
                                            fills=charts.SEVERITY_FILL),
            "by_project": charts.bar_chart([(b["label"], b["arr"]) for b in risk["by_project"]])}


@bp.get("/impact")
def impact_page():
    """The PM's ranking of open issues by impact (filters, paging, the factors on demand, CSV export) and the ARR
    at risk drawn by severity and by project."""
    context = _impact_context(_rank_filters(request.args))
    if request.headers.get("HX-Target") == "impact-results":
        return render_template("pages/_impact_results.html", **context)
    return render_template("pages/impact.html", choices=boards.impact_choices(g.organization.id),
                           severities=SEVERITIES, tiers=TIERS, **context)


@bp.get("/impact/<key>/factors")
def impact_factors(key: str):
    """Why an issue ranks where it does: its stored impact factors and its customers (loaded when a row opens)."""
    issue = _workspace_issue(key)
    stored = db.session.get(IssueImpact, issue.id)
    if stored is not None and stored.organization_id != g.organization.id:
        stored = None
    return render_template("pages/_impact_factors.html", issue=issue, impact=stored,
                           customers=boards.issue_customers(g.organization.id, issue.id))


@bp.post("/impact/export")
def impact_export():
    """"Export CSV": mint a signed, single-use link to the ranking as filtered and send the frame to it (the
    download cannot carry the Authorization header; see `downloads`)."""
    filters = _rank_filters(request.form)  # a bad filter is refused here, where the page can show it
    token = downloads.mint(current_app.config["SECRET_KEY"], EXPORT_KIND, g.principal, _filter_params(filters))
    return "", 204, {"HX-Redirect": url_for("pages.impact_csv", download=token)}


def _csv_chunks(organization_id: str, filters: impact.RankFilters) -> Iterator[str]:
    """The header, then the ranking EXPORT_BATCH rows at a time (up to MAX_EXPORT_ROWS)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(impact.CSV_COLUMNS)
    for offset in range(0, MAX_EXPORT_ROWS, EXPORT_BATCH):
        rows = impact.rank(organization_id, replace(filters, limit=EXPORT_BATCH, offset=offset))["issues"]
        writer.writerows(impact.csv_row(row) for row in rows)
        yield out.getvalue()
        out.seek(0)
        out.truncate()
        if len(rows) < EXPORT_BATCH:
            return


@bp.get("/impact.csv")
@authenticated_by_link
def impact_csv():
    """The ranking as CSV, streamed; opened through its signed single-use link (see `downloads`), not the token."""
    try:
        download = downloads.redeem(current_app.config["SECRET_KEY"], request.args.get("download", ""), EXPORT_KIND,
                                    downloads.spent_links(current_app))
    except downloads.DownloadRefused as exc:
        raise ApiError(exc.status, "download_refused", str(exc)) from exc
    header = request.headers.get("Authorization", "")
    if header.startswith("Bearer "):
        # Sent from a page after all: it must be of the link's workspace (a link never crosses workspaces).
        principal = decode_service_token(header[len("Bearer "):].strip(), current_app.config["CSCX_SIGNING_SECRET"])
        if principal.workspace != download.workspace:
            raise ApiError(403, "forbidden", "this download link belongs to another workspace")
    if db.session.get(Organization, download.workspace) is None:
        raise ApiError(403, "forbidden", "this download link's workspace is gone")
    filters = _rank_filters(MultiDict([(name, v) for name, values in download.params.items() for v in values]))
    log.info("pages.export", extra={"workspace": download.workspace, "user": download.user_id, "kind": download.kind})
    return Response(stream_with_context(_csv_chunks(download.workspace, filters)), mimetype="text/csv",
                    headers={"Content-Disposition": f'attachment; filename="issue-impact-{utcnow():%Y-%m-%d}.csv"'})


# ---- SLA board ----------------------------------------------------------------------------------

def _sla_filters(args: MultiDict) -> dict[str, Any]:
    state = args.get("state", "")
    if state not in SLA_VIEWS:
        raise _bad("state must be breached or at_risk (or empty for both)")
    policy = customer = None
    if raw := args.get("policy", "").strip():
        try:
            policy = sla.find_policy(g.organization.id, uuid.UUID(raw))
        except ValueError:
            raise _bad("policy must be a policy id") from None
        if policy is None:
            raise ApiError(404, "not_found", "no such SLA policy in this workspace")
    if raw := args.get("customer", "").strip():
        try:
            uuid.UUID(raw)
        except ValueError:
            raise _bad("customer must be a customer id") from None
        customer = queries.workspace_customer(g.organization.id, raw)
        if customer is None:
            raise ApiError(404, "not_found", "no such customer in this workspace")
    return {"state": state, "policy": policy, "customer": customer, "page": _page(args)}


@bp.get("/sla")
def sla_page():
    """The SLA board: clocks breached (longest ago first) and at risk (soonest to breach first), filtered by state,
    policy and customer, with how many each policy and each customer has."""
    chosen = _sla_filters(request.args)
    states = SLA_VIEWS[chosen["state"]]
    board = sla.board(g.organization.id, states=states, limit=PAGE_SIZE, offset=(chosen["page"] - 1) * PAGE_SIZE,
                      policy_id=chosen["policy"].id if chosen["policy"] else None,
                      customer_id=chosen["customer"].id if chosen["customer"] else None)
    params = {"state": chosen["state"] or None, "policy": chosen["policy"].id if chosen["policy"] else None,
              "customer": chosen["customer"].id if chosen["customer"] else None}
    tallies = boards.sla_tallies(g.organization.id, states)
    context = {"board": board, "tallies": tallies, "params": params, "page": chosen["page"],
               "pages": max(1, math.ceil(board["total"] / PAGE_SIZE)), **chosen,
               "customers_of": boards.customers_of_issues(g.organization.id, board["items"])}
    if request.headers.get("HX-Target") == "sla-results":
        return render_template("pages/_sla_results.html", **context)
    everyone = tallies if not chosen["state"] else boards.sla_tallies(g.organization.id, SLA_VIEWS[""])
    return render_template("pages/sla.html", policies=sla.list_policies(g.organization.id),
                           customer_choices=everyone["customers"], **context)


# ---- notifications ------------------------------------------------------------------------------

def _notifications_context(args: MultiDict) -> dict[str, Any]:
    unread = args.get("unread", "")
    if unread not in ("", "0", "1"):
        raise _bad("unread must be 1 or 0")
    before = _when(args, "before")
    rows = notify.notifications_for(g.organization.id, g.principal.user_id, unread_only=unread == "1",
                                    limit=NOTIFICATIONS_PAGE, before=before)
    older = (rows[-1].details or {}).get("occurred_at") if len(rows) == NOTIFICATIONS_PAGE else None
    return {"notifications": rows, "unread_only": unread == "1", "before": before, "older": older,
            "unread": boards.unread_count(g.organization.id, g.principal.user_id)}


@bp.get("/notifications")
def notifications_page():
    """The user's notifications, newest first (unread only on request, older ones page by page)."""
    context = _notifications_context(request.args)
    if request.headers.get("HX-Target") == "notification-list":
        return render_template("pages/_notifications.html", oob=True, **context)
    return render_template("pages/notifications.html", **context)


@bp.post("/notifications/<notification_id>/read")
def read_notification(notification_id: str):
    """Mark one of the user's notifications read; answers the notification again (and the unread count)."""
    try:
        key = uuid.UUID(notification_id)
    except ValueError:
        raise _bad("not a notification id") from None
    notification = boards.user_notification(g.organization.id, g.principal.user_id, key)
    if notification is None:
        raise ApiError(404, "not_found", "no such notification for you")
    notify.mark_read(g.organization.id, g.principal.user_id, [key])
    return render_template("pages/_notification.html", n=notification, oob=True,
                           unread=boards.unread_count(g.organization.id, g.principal.user_id))


@bp.post("/notifications/read")
def read_all_notifications():
    """Mark all the user's notifications read; answers the list again."""
    notify.mark_read(g.organization.id, g.principal.user_id, None)
    return render_template("pages/_notifications.html", oob=True, **_notifications_context(request.form))


# ---- sync (admins) ------------------------------------------------------------------------------

def _admin() -> None:
    if g.principal.role != "admin":
        raise ApiError(403, "forbidden", "the sync page is for the workspace's admins")


def _connection_status(connection_id: str) -> dict[str, Any]:
    connection = boards.workspace_connection(g.organization.id, connection_id)
    if connection is None:
        raise ApiError(404, "not_found", "no such Jira connection in this workspace")
    return next(s for s in engine.sync_status(g.organization.id) if s["connection_id"] == str(connection.id))


def _sync_view(status: dict[str, Any], requested_at: datetime | None) -> dict[str, Any]:
    return status | {"progress": boards.sync_progress(status, requested_at, utcnow()), "requested_at": requested_at,
                     "can_sync": status["status"] == ConnectionStatus.ACTIVE}


@bp.get("/sync")
def sync_page():
    """Admins: each Jira connection's sync status, last run and errors, with "Re-sync now"."""
    _admin()
    return render_template("pages/sync.html", poll=SYNC_POLL_SECONDS,
                           connections=[_sync_view(s, None) for s in engine.sync_status(g.organization.id)])


@bp.get("/sync/<connection_id>")
def sync_card(connection_id: str):
    """One connection's card, polled every few seconds while its re-sync is queued or running."""
    _admin()
    requested_at = _when(request.args, "since")
    return render_template("pages/_sync_connection.html", poll=SYNC_POLL_SECONDS,
                           c=_sync_view(_connection_status(connection_id), requested_at))


@bp.post("/sync/<connection_id>")
def resync(connection_id: str):
    """"Re-sync now": start the connection's sync job (the one the schedule runs) unless a run is going, and show
    its progress."""
    _admin()
    status = _connection_status(connection_id)
    if status["status"] != ConnectionStatus.ACTIVE:
        raise ApiError(409, "not_active", "only an active connection syncs; reconnect it first")
    requested_at = None
    if boards.sync_progress(status, None, utcnow()) != "running":
        requested_at = utcnow()
        # Off the request (a sync takes minutes): RQ with Redis, this process's pool without. Nothing is lost if
        # the process dies first: the schedule (`sync.due`) syncs every active connection anyway.
        jobs.submit(engine.sync_connection_job, status["connection_id"])
        log.info("pages.resync", extra={"workspace": g.organization.id, "connection": status["connection_id"],
                                        "user": g.principal.user_id})
    return render_template("pages/_sync_connection.html", poll=SYNC_POLL_SECONDS, c=_sync_view(status, requested_at))
