"""Customers API: upsert one or many, list and search (the Jira panel's type-ahead uses it)."""

from __future__ import annotations

import uuid

from flask import g, jsonify, request

from connect_app.api.auth import require_api
from connect_app.api.blueprint import bp
from connect_app.api.params import int_arg, json_body
from connect_app.customers import records as domain
from connect_app.errors import ApiError
from connect_app.extensions import db
from connect_app.impact.store import rescore_customers
from connect_app.models import Customer
from connect_app.sla import store as sla

MAX_LIMIT = 100


@bp.post("/customers")
@require_api("admin")
def upsert_customers():
    """Insert or update one customer (an object) or many ({"customers": [...]}), all or nothing."""
    body = json_body()
    if isinstance(body, dict) and "customers" in body:
        items = body["customers"]
        if not isinstance(items, list):
            raise ApiError(400, "invalid_body", "customers must be a list")
    elif isinstance(body, dict):
        items = [body]
    else:
        raise ApiError(400, "invalid_body", "send a customer object or {\"customers\": [...]}")
    try:
        upserted = domain.upsert_customers(g.organization.id, list(enumerate(items, 1)))
    except domain.CustomerValidationError as exc:
        # A value of the wrong JSON type is a malformed request (400); a clash with another customer or
        # row, a conflict (409); a well-formed but invalid row, 422.
        code = {400: "invalid_body", 409: "customer_conflict"}.get(exc.status, "invalid_customers")
        raise ApiError(exc.status, code, str(exc), details=[r.to_dict() for r in exc.rejected]) from exc
    rescore_customers(upserted.rescore)
    sla.customers_changed(upserted.rescore)
    return jsonify(upserted.counts), 200


@bp.get("/customers")
@require_api()
def list_customers():
    """Customers of the caller's workspace; `q` searches names (prefix first), paged by limit/offset."""
    limit = int_arg("limit", 20, 1, MAX_LIMIT)
    offset = int_arg("offset", 0, 0, 1_000_000)
    found = domain.search_customers(g.organization.id, request.args.get("q", ""), limit, offset)
    return jsonify({"customers": [domain.serialize_customer(c) for c in found], "limit": limit, "offset": offset})


@bp.get("/customers/<customer_id>")
@require_api()
def get_customer(customer_id: str):
    """One customer of the caller's workspace, by id."""
    try:
        key = uuid.UUID(customer_id)
    except ValueError as exc:
        raise ApiError(400, "invalid_parameter", "customer id must be a UUID") from exc
    customer = db.session.get(Customer, key)
    if customer is None or customer.organization_id != g.organization.id:
        raise ApiError(404, "not_found", "no such customer in this workspace")
    return jsonify(domain.serialize_customer(customer))
