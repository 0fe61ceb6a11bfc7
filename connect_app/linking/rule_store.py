"""A customer's linking rules: read, validate (JQL by Jira itself), replace, preview and apply."""

from __future__ import annotations

import logging
import uuid

from sqlalchemy import delete, select

from connect_app.atlassian.client import JiraBadRequest, JiraClient, JiraError
from connect_app.connections.access import jira_client
from connect_app.extensions import db
from connect_app.linking.rules import FIELD_ID, FieldCatalog, Rule, RuleValidationError, customer_query, validate_rules
from connect_app.models import ConnectionStatus, Customer, JiraConnection, LinkingRule, Organization

log = logging.getLogger(__name__)

SAMPLE_SIZE = 10
SAMPLE_FIELDS = ("summary", "status", "priority", "issuetype", "updated")
DEFAULT_LABEL_PREFIX = "customer_"


def rule_json(rule: LinkingRule | Rule) -> dict:
    """The API form of a rule."""
    return {"id": str(rule.id), "strategy": rule.strategy, "link_type": rule.link_type, "value": rule.value,
            "field": rule.field, "field_id": rule.field_id, "jql": rule.jql, "position": rule.position,
            "connection_id": str(rule.connection_id) if rule.connection_id else None}


def customer_rules(customer: Customer) -> list[LinkingRule]:
    """The customer's rules in order."""
    return list(db.session.scalars(select(LinkingRule).where(LinkingRule.customer_id == customer.id)
                                   .order_by(LinkingRule.position)))


def active_connections(organization_id: str) -> list[JiraConnection]:
    """The workspace's active Jira connections."""
    return list(db.session.scalars(select(JiraConnection).where(
        JiraConnection.organization_id == organization_id, JiraConnection.status == ConnectionStatus.ACTIVE)
        .order_by(JiraConnection.created_at)))


def customer_label(customer: Customer) -> str:
    """The Jira label naming a customer: the workspace's label_prefix (default customer_) + slug."""
    organization = db.session.get(Organization, customer.organization_id)
    prefix = ((organization.settings if organization else None) or {}).get("label_prefix") or DEFAULT_LABEL_PREFIX
    return f"{prefix}{customer.slug}"


def rules_for(connection: JiraConnection, customer_id: str | None = None) -> list[Rule]:
    """The linking rules that apply to a connection (workspace-wide or pinned to it), as plain Rules.

    Read by the sync, webhook processing and reconciliation alike.
    """
    query = select(LinkingRule).where(LinkingRule.organization_id == connection.organization_id,
                                      (LinkingRule.connection_id.is_(None))
                                      | (LinkingRule.connection_id == connection.id))
    if customer_id is not None:
        query = query.where(LinkingRule.customer_id == uuid.UUID(str(customer_id)))
    return [Rule(id=str(r.id), customer_id=str(r.customer_id), strategy=r.strategy, link_type=r.link_type,
                 value=r.value, field_id=r.field_id, field=r.field, jql=r.jql, position=r.position,
                 connection_id=str(r.connection_id) if r.connection_id else None)
            for r in db.session.scalars(query)]


def rule_defaults(customer: Customer) -> dict[str, str]:
    """Values a rule may leave out: the customer's label and its external id."""
    defaults = {"label": customer_label(customer)}
    if customer.external_id:
        defaults["custom_field"] = customer.external_id
    return defaults


def _applies(rule: Rule, connection: JiraConnection) -> bool:
    return rule.connection_id is None or rule.connection_id == str(connection.id)


def check_rules(customer: Customer, raw_rules: object, clients: dict[uuid.UUID, JiraClient]) -> list[Rule]:
    """Validate rules; custom-field names resolve through /field and JQL is checked by each Jira it applies to."""
    connections = {c.id: c for c in active_connections(customer.organization_id)}
    named = isinstance(raw_rules, list) and any(
        isinstance(r, dict) and r.get("strategy") == "custom_field" and isinstance(r.get("field"), str)
        and not FIELD_ID.match(r["field"].strip()) for r in raw_rules)
    catalog = None
    if named and clients:
        catalog = FieldCatalog.from_fields(next(iter(clients.values())).get_fields())
    rules = validate_rules(raw_rules, catalog, customer_id=str(customer.id), defaults=rule_defaults(customer))
    errors: dict[int, str] = {}
    for rule in rules:
        if rule.connection_id and uuid.UUID(rule.connection_id) not in connections:
            errors[rule.position] = "connection_id is not an active connection of this workspace"
        if rule.strategy != "jql":
            continue
        for connection_id, client in clients.items():
            if not _applies(rule, connections[connection_id]):
                continue
            try:
                client.validate_jql(rule.jql)
            except JiraBadRequest as exc:
                errors[rule.position] = "Jira rejected the JQL: " + "; ".join(exc.messages or ["invalid query"])
                break
    if errors:
        raise RuleValidationError(errors)
    return rules


def preview(customer: Customer, rules: list[Rule], clients: dict[uuid.UUID, JiraClient]) -> dict:
    """How many issues the rules match on each connection, with a small sample (from Jira, live)."""
    results, total = [], 0
    connections = {c.id: c for c in active_connections(customer.organization_id)}
    for connection_id, client in clients.items():
        mine = [r for r in rules if _applies(r, connections[connection_id])]
        kinds = {}
        if any(r.strategy == "custom_field" for r in mine):
            kinds = FieldCatalog.from_fields(client.get_fields()).kinds
        jql = customer_query(mine, kinds)
        entry: dict = {"connection_id": str(connection_id), "jql": jql, "count": 0, "sample": []}
        if jql:
            try:
                entry["count"] = client.approximate_count(jql)
                issues, _ = next(client.search_pages(f"{jql} ORDER BY updated DESC", SAMPLE_FIELDS, SAMPLE_SIZE))
                entry["sample"] = [_sample(i) for i in issues[:SAMPLE_SIZE]]
            except JiraError as exc:
                entry["error"] = str(exc)
        total += entry["count"]
        results.append(entry)
    return {"total": total, "connections": results}


def _sample(raw: dict) -> dict:
    fields = raw.get("fields") or {}
    return {"key": raw["key"], "summary": fields.get("summary"),
            "status": (fields.get("status") or {}).get("name"),
            "priority": (fields.get("priority") or {}).get("name"),
            "issue_type": (fields.get("issuetype") or {}).get("name"), "updated": fields.get("updated")}


def replace_rules(customer: Customer, rules: list[Rule], user_id: str | None) -> list[LinkingRule]:
    """Replace the customer's rules with `rules` in one transaction."""
    db.session.execute(delete(LinkingRule).where(LinkingRule.customer_id == customer.id))
    rows = [LinkingRule(id=uuid.UUID(r.id), organization_id=customer.organization_id, customer_id=customer.id,
                        connection_id=uuid.UUID(r.connection_id) if r.connection_id else None,
                        strategy=r.strategy, field=r.field, field_id=r.field_id, value=r.value, jql=r.jql,
                        link_type=r.link_type, position=r.position, created_by=user_id) for r in rules]
    db.session.add_all(rows)
    db.session.commit()
    log.info("linking.replaced", extra={"customer": str(customer.id), "rules": len(rows)})
    return rows


def update_customer_rules(customer: Customer, raw_rules: object, user_id: str | None, *, dry_run: bool = False,
                          client_factory=jira_client) -> dict:
    """Validate, preview, then (unless dry_run) save the customer's rules; `applied` says whether they were saved.

    Applying saved rules to the customer's links is the sync's job (`sync.engine.replace_customer_rules`).
    """
    clients = {c.id: client_factory(c) for c in active_connections(customer.organization_id)}
    rules = check_rules(customer, raw_rules, clients)
    result = {"rules": [rule_json(r) for r in rules], "preview": preview(customer, rules, clients),
              "applied": False}
    if dry_run:
        return result
    replace_rules(customer, rules, user_id)
    result["applied"] = True
    return result
