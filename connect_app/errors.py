"""One error type for the API and the one place that turns errors into responses (and refuses unstorable input)."""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask, jsonify, render_template, request
from flask import Request as FlaskRequest
from flask import json as flask_json
from werkzeug.exceptions import HTTPException

from connect_app.extensions import htmx
from connect_app.platform.storable import UnstorableJSON, clean_text, loads_strict

log = logging.getLogger(__name__)


class ApiError(Exception):
    """A client-facing error: HTTP status, a stable code, a human message, optional details."""

    def __init__(self, status: int, code: str, message: str, details: Any = None, headers=None):
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.details = details
        self.headers = headers or {}

    def to_dict(self) -> dict[str, Any]:
        """The JSON body: {"error": {"code", "message", "details"?}}."""
        body: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.details is not None:
            body["details"] = self.details
        return {"error": body}


def _wants_json() -> bool:
    return request.path.startswith(("/api/", "/connect/", "/forge/", "/readyz", "/healthz")) or (
        request.accept_mimetypes.best == "application/json"
    )


def _htmx_alert(status: int, message: str):
    """An error for an htmx call from one of our pages: an alert swapped into the page's alert slot."""
    if status == 401 and request.path.startswith("/connect/"):
        message = "This panel's session has expired. Reload the issue page to continue."
    headers = {"HX-Retarget": "#cscx-alert", "HX-Reswap": "innerHTML"}
    return render_template("_error_alert.html", message=message), status, headers


def _from_htmx_page() -> bool:
    return bool(htmx) and not request.path.startswith("/api/")


def jira_url_refused(error: Exception):
    """A stored Jira URL that our safety policy now refuses (`UnsafeUrl`): say so rather than a bare 500."""
    log.warning("jira.url_refused", extra={"path": request.path})
    return jsonify({"error": {"code": "jira_url_refused", "message": str(error)}}), 409


class _StrictJSON:
    """The JSON module of our requests: a client's JSON is parsed strictly (`platform.storable.loads_strict`).

    What no database can store (NaN, 1e400, NUL, lone surrogates, deep nesting) is an ApiError, not a
    ValueError, so it is a precise 400 even where a view asks for `get_json(silent=True)`; plain syntax
    errors stay ValueErrors and keep Flask's behaviour.
    """

    @staticmethod
    def loads(data: str | bytes, **_kwargs: Any) -> Any:
        try:
            return loads_strict(data)
        except UnstorableJSON as error:
            raise ApiError(400, "invalid_json", str(error)) from None

    dumps = staticmethod(flask_json.dumps)


class StrictRequest(FlaskRequest):
    """Flask's request with strict JSON bodies."""

    @property
    def json_module(self) -> type[_StrictJSON]:
        return _StrictJSON

    @json_module.setter
    def json_module(self, _provider: Any) -> None:
        """Flask hands every request the app's JSON provider; request bodies keep the strict parser."""


def refuse_unstorable_url() -> None:
    """A NUL in the path or a query parameter is a 400 before any view (or PostgreSQL) sees it."""
    values = [request.path, *(text for key, items in request.args.lists() for text in (key, *items))]
    if any(clean_text(text) is not text for text in values):
        raise ApiError(400, "invalid_parameter", "the URL must not contain NUL characters")


def register_input_checks(app: Flask) -> None:
    """Refuse, with a 400, request input that some database we run on could not store."""
    app.request_class = StrictRequest
    app.before_request(refuse_unstorable_url)


def register_error_handlers(app: Flask) -> None:
    """Map errors to JSON for API paths, an alert fragment for htmx calls, and an HTML page elsewhere."""

    @app.errorhandler(ApiError)
    def handle_api_error(error: ApiError):
        if _from_htmx_page():
            return _htmx_alert(error.status, error.message)
        return jsonify(error.to_dict()), error.status, error.headers

    @app.errorhandler(HTTPException)
    def handle_http_error(error: HTTPException):
        if _from_htmx_page():
            return _htmx_alert(error.code or 500, error.description or "request failed")
        # Keep what the exception says beyond its body: a 405's `Allow` (RFC 9110 requires it), a 401's challenge.
        headers = [(name, value) for name, value in error.get_headers() if name.lower() != "content-type"]
        if _wants_json():
            code = (error.name or "error").lower().replace(" ", "_")
            return jsonify({"error": {"code": code, "message": error.description}}), error.code, headers
        return render_template("error.html", error=error), error.code, headers

    @app.errorhandler(Exception)
    def handle_unexpected(error: Exception):
        log.exception("request.failed", extra={"path": request.path, "method": request.method})
        if _from_htmx_page():
            return _htmx_alert(500, "Something went wrong on our side; it has been logged. Try again.")
        if _wants_json():
            return jsonify({"error": {"code": "internal_error", "message": "internal server error"}}), 500
        return render_template("error.html", error=None), 500
