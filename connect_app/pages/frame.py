"""The frame every page lives in: the blueprint, the token once then in a header, the CSP (see the package)."""

from __future__ import annotations

from flask import Blueprint, current_app, g, render_template, request

from connect_app.api.auth import Principal, decode_service_token
from connect_app.errors import ApiError
from connect_app.workspaces import ensure_organization

bp = Blueprint("pages", __name__, url_prefix="/app")


def csp(origin: str) -> str:
    """The pages' Content-Security-Policy: our own scripts and styles only, framed by CSCX.AI alone."""
    return ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
            "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
            f"frame-ancestors {origin}")


@bp.after_request
def _headers(response):
    response.headers["Content-Security-Policy"] = csp(current_app.config["CSCX_APP_ORIGIN"])
    # The first URL holds a bearer token: keep it out of caches and Referer headers.
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["Cache-Control"] = "no-store"
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


@bp.errorhandler(ApiError)
def _refused(error: ApiError):
    """Full pages answer with a page; htmx calls with the same state swapped over the whole page."""
    template = "pages/expired.html" if error.status == 401 else "pages/error.html"
    headers = dict(error.headers)
    if request.headers.get("HX-Request"):
        headers |= {"HX-Retarget": "body", "HX-Reswap": "innerHTML"}
    return render_template(template, error=error), error.status, headers


def _token() -> str:
    header = request.headers.get("Authorization", "")
    if header.startswith("Bearer "):
        return header[len("Bearer "):].strip()
    if request.method == "GET" and not request.headers.get("HX-Request"):
        return request.args.get("token", "").strip()  # the first load from CSCX.AI, and only that
    return ""


def authenticated_by_link(view):
    """Mark a view that authenticates with its own signed, single-use link (a download: see `downloads`)."""
    view.authenticated_by_link = True
    return view


@bp.before_request
def _authenticate():
    if getattr(current_app.view_functions.get(request.endpoint or ""), "authenticated_by_link", False):
        return  # a download: the frame's navigation carries no header; the view checks its signed link itself
    token = _token()
    if not token:
        raise ApiError(401, "unauthorized", "this page needs to be opened from CSCX.AI")
    secret = current_app.config.get("CSCX_SIGNING_SECRET")
    if not secret:
        raise ApiError(503, "not_configured", "CSCX_SIGNING_SECRET is not configured")
    principal: Principal = decode_service_token(token, secret)
    g.principal, g.token = principal, token
    g.organization = ensure_organization(principal.workspace)

