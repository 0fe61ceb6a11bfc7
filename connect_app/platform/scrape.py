"""`GET /metrics`: the Prometheus scrape endpoint, off unless METRICS_TOKEN is configured."""

from __future__ import annotations

import hmac
import logging

from flask import Blueprint, Response, current_app, request

from connect_app.errors import ApiError
from connect_app.extensions import db
from connect_app.platform import metrics

log = logging.getLogger(__name__)

bp = Blueprint("metrics", __name__)


def bearer_matches(header: str | None, token: str) -> bool:
    """Whether an Authorization header is `Bearer <token>`, compared in constant time."""
    scheme, _, given = (header or "").partition(" ")
    # compare_digest takes as long for a near miss as for a wild guess: the token cannot be found byte by byte.
    return scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), token.encode())


@bp.get("/metrics")
def scrape():
    """Prometheus scrapes every metric here (see the README's "Operating it"); 404 when not configured."""
    token = current_app.config.get("METRICS_TOKEN")
    if not token:
        # Off: answered like any unknown path, so an unconfigured service does not even show it exists.
        raise ApiError(404, "not_found", "The requested URL was not found on the server.")
    if not bearer_matches(request.headers.get("Authorization"), token):
        log.warning("metrics.unauthorized")
        raise ApiError(401, "unauthorized", "a valid metrics token is required (Authorization: Bearer <token>)",
                       headers={"WWW-Authenticate": 'Bearer realm="metrics"'})
    body, content_type = metrics.exposition(db.session, current_app.config.get("PROMETHEUS_MULTIPROC_DIR"),
                                            request.headers.get("Accept"))
    return Response(body, content_type=content_type, headers={"Cache-Control": "no-store"})
