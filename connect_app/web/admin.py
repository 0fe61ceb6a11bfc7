"""The delivery admin page (htmx): dead and pending pushes to CSCX.AI, failed webhooks, Retry.

CSCX.AI opens the page with a short-lived admin service token in `?token=`, once. The page hands
that token to its htmx requests in an `Authorization: Bearer` header: never a cookie (so no
request can carry it without our script, which is also why the POSTs need no CSRF token) and
never a later URL (URLs end up in logs, history and Referer headers).
"""

from __future__ import annotations

import uuid

from flask import Blueprint, current_app, g, render_template, request

from connect_app.api.admin_delivery import retry_refused
from connect_app.api.auth import Principal, decode_service_token, principal_from_request
from connect_app.delivery import outbox
from connect_app.errors import ApiError
from connect_app.models import Organization
from connect_app.models.delivery import OUTBOX_STATUSES
from connect_app.platform.claims import RetryOutcome
from connect_app.tracking import inbox
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


def _overview(organization_id: str, notice: str | None = None) -> dict:
    counts = dict.fromkeys(OUTBOX_STATUSES, 0) | outbox.counts(organization_id)
    messages = [m for status in OUTBOX_SHOWN for m in outbox.list_messages(organization_id, status, ROWS_PER_STATUS)]
    webhooks = inbox.list_deliveries(organization_id, INBOX_SHOWN, ROWS_PER_STATUS)
    return {"counts": counts, "messages": messages, "webhooks": webhooks, "notice": notice}


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


@bp.post("/delivery/outbox/<uuid:message_id>/retry")
def retry_outbox_message(message_id: uuid.UUID):
    """htmx (Retry): re-queue one of the workspace's dead pushes, then show the overview again."""
    organization = _admin_organization(principal_from_request())
    outcome = outbox.retry_message(organization.id, message_id)
    if outcome != RetryOutcome.REQUEUED:
        raise retry_refused("message", outcome)
    return render_template("admin/_overview.html", **_overview(organization.id, "Message re-queued."))


@bp.post("/delivery/webhooks/<uuid:delivery_id>/retry")
def retry_webhook_delivery(delivery_id: uuid.UUID):
    """htmx (Retry): re-run one failed or dead webhook delivery of the workspace's connections."""
    organization = _admin_organization(principal_from_request())
    outcome = inbox.retry_delivery(organization.id, delivery_id)
    if outcome != RetryOutcome.REQUEUED:
        raise retry_refused("delivery", outcome)
    return render_template("admin/_overview.html", **_overview(organization.id, "Delivery re-run."))
