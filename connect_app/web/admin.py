"""The delivery admin page (htmx): dead and pending pushes to CSCX.AI, failed webhooks, Retry.

CSCX.AI opens the page with a short-lived admin service token in `?token=`, once. The page hands
that token to its htmx requests in an `Authorization: Bearer` header: never a cookie (so no
request can carry it without our script, which is also why the POSTs need no CSRF token) and
never a later URL (URLs end up in logs, history and Referer headers).
"""

from __future__ import annotations

import uuid

from flask import Blueprint, current_app, g, render_template, request
from sqlalchemy import select

from connect_app.api.auth import Principal, decode_service_token, principal_from_request
from connect_app.delivery import outbox
from connect_app.errors import ApiError
from connect_app.extensions import db
from connect_app.models import JiraConnection, Organization, OutboxMessage, WebhookDelivery
from connect_app.models.delivery import OUTBOX_STATUSES
from connect_app.platform import jobs
from connect_app.tracking import inbox, process
from connect_app.workspaces import ensure_organization

bp = Blueprint("admin", __name__, url_prefix="/admin")

OUTBOX_SHOWN = ("dead", "pending")
INBOX_SHOWN = ("failed", "dead")
ROWS_PER_STATUS = 50


@bp.after_request
def _private_headers(response):
    # The page (and its URL) hold a bearer token: keep both out of caches and Referer headers.
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.errorhandler(ApiError)
def _denied(error: ApiError):
    """The page answers with an HTML error page; its htmx calls with an alert swapped into the page."""
    if request.endpoint == "admin.delivery_page":
        return render_template("admin/denied.html", error=error), error.status, error.headers
    headers = {**error.headers, "HX-Retarget": "#delivery-alert", "HX-Reswap": "innerHTML"}
    return render_template("admin/_alert.html", error=error.message), error.status, headers


def _admin_organization(principal: Principal) -> Organization:
    if principal.role != "admin":
        raise ApiError(403, "forbidden", "this page needs the admin role")
    g.principal = principal
    return ensure_organization(principal.workspace)


def _uuid(value: str) -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except ValueError:
        raise ApiError(404, "not_found", "no such item") from None


def _failed_webhooks(organization_id: str) -> list:
    """Failed and dead inbox rows of the workspace's connections, newest first, with their Jira URL."""
    return list(db.session.execute(
        select(WebhookDelivery, JiraConnection.base_url)
        .join(JiraConnection, JiraConnection.id == WebhookDelivery.connection_id)
        .where(JiraConnection.organization_id == organization_id, WebhookDelivery.status.in_(INBOX_SHOWN))
        .order_by(WebhookDelivery.received_at.desc()).limit(ROWS_PER_STATUS)
    ).all())


def _overview(organization_id: str, notice: str | None = None) -> dict:
    counts = dict.fromkeys(OUTBOX_STATUSES, 0) | outbox.counts(organization_id)
    messages = [m for status in OUTBOX_SHOWN for m in outbox.list_messages(organization_id, status, ROWS_PER_STATUS)]
    return {"counts": counts, "messages": messages, "webhooks": _failed_webhooks(organization_id), "notice": notice}


@bp.get("/delivery")
def delivery_page():
    """The delivery admin page, opened from CSCX.AI with ?token=<admin service token>."""
    token = request.args.get("token", "").strip()
    if not token:
        raise ApiError(401, "unauthorized", "missing token")
    secret = current_app.config.get("CSCX_SIGNING_SECRET")
    if not secret:
        raise ApiError(503, "not_configured", "CSCX_SIGNING_SECRET is not configured")
    organization = _admin_organization(decode_service_token(token, secret))
    return render_template("admin/delivery.html", token=token, workspace=organization, **_overview(organization.id))


@bp.get("/delivery/overview")
def delivery_overview():
    """htmx (Refresh): the counts and tables again."""
    organization = _admin_organization(principal_from_request())
    return render_template("admin/_overview.html", **_overview(organization.id))


@bp.post("/delivery/outbox/<message_id>/retry")
def retry_outbox_message(message_id: str):
    """htmx (Retry): re-queue one of the workspace's dead pushes, then show the overview again."""
    organization = _admin_organization(principal_from_request())
    row_id = _uuid(message_id)
    status = db.session.scalar(select(OutboxMessage.status).where(
        OutboxMessage.id == row_id, OutboxMessage.organization_id == organization.id))
    if status is None:
        raise ApiError(404, "not_found", "no such message in this workspace")
    if not outbox.requeue(organization.id, row_id):
        raise ApiError(409, "not_dead", "only a dead message can be re-queued")
    outbox.submit_deliveries([row_id])
    return render_template("admin/_overview.html", **_overview(organization.id, "Message re-queued."))


@bp.post("/delivery/webhooks/<delivery_id>/retry")
def retry_webhook_delivery(delivery_id: str):
    """htmx (Retry): re-run one failed or dead webhook delivery of the workspace's connections."""
    organization = _admin_organization(principal_from_request())
    row_id = _uuid(delivery_id)
    owned = db.session.scalar(
        select(WebhookDelivery.id).join(JiraConnection, JiraConnection.id == WebhookDelivery.connection_id)
        .where(WebhookDelivery.id == row_id, JiraConnection.organization_id == organization.id))
    if owned is None:
        raise ApiError(404, "not_found", "no such webhook delivery in this workspace")
    if not inbox.requeue(row_id):
        raise ApiError(409, "not_failed", "only a failed or dead delivery can be re-run")
    jobs.submit(process.process_delivery, str(row_id))
    return render_template("admin/_overview.html", **_overview(organization.id, "Delivery re-run."))
