"""Linking rules as plain values: validation, JQL compilation with batching, local matching, quoting.

A connection's label / component / custom-field rules compile into as few JQL queries as the
length limits allow (values grouped with `in (...)`); every fetched issue is then matched to
customers here, locally. Only free-JQL rules need queries of their own. Every value that reaches
JQL goes through `atlassian.jql.jql_string`, so a value can never change a query's meaning.
"""

from __future__ import annotations

import re
import uuid
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field

from connect_app.atlassian.jql import jql_string, lucene_escape
from connect_app.models import LINK_TYPES, RULE_STRATEGIES

# Jira documents no single JQL length limit, but very long queries and huge operand lists fail
# (JRACLOUD-84010: errors from a few thousand operands). We stay far below both; searches are
# POSTed, so URL length never applies.
MAX_JQL_CHARS = 6000
MAX_VALUES_PER_CLAUSE = 500
MAX_VALUE_CHARS = 255
MAX_RULE_JQL_CHARS = 2000
FIELD_ID = re.compile(r"^customfield_(\d{1,12})$")
ORDER_BY = re.compile(r"\border\s+by\b", re.IGNORECASE)
ORDER_CLAUSE = " ORDER BY key ASC"


class RuleValidationError(Exception):
    """Rules were rejected; `errors` maps the rule position (0-based) to a message. Nothing was saved."""

    def __init__(self, errors: dict[int, str]):
        super().__init__("; ".join(f"rule {i + 1}: {m}" for i, m in sorted(errors.items())))
        self.errors = errors


@dataclass(frozen=True)
class Rule:
    """One linking rule in plain values (the LinkingRule row without the ORM)."""

    id: str
    customer_id: str
    strategy: str
    link_type: str
    value: str | None = None
    field_id: str | None = None
    field: str | None = None
    jql: str | None = None
    position: int = 0
    connection_id: str | None = None

    @property
    def rank(self) -> tuple[int, str]:
        """Which rule wins when several of one customer match the same issue: lowest position first."""
        return (self.position, self.id)


@dataclass(frozen=True)
class CompiledQuery:
    """One JQL query of a sync: either a batch of value rules or one free-JQL rule."""

    jql: str
    kind: str  # batch | jql
    rule_id: str | None = None  # for kind == jql


@dataclass
class FieldCatalog:
    """Custom fields of a site from `/field`: ids by lower-cased name, and each field's JQL kind."""

    ids_by_name: dict[str, list[str]] = field(default_factory=dict)
    kinds: dict[str, str] = field(default_factory=dict)  # field id -> text | list

    @classmethod
    def from_fields(cls, fields: Iterable[dict]) -> FieldCatalog:
        """Build from Jira's `/field` answer."""
        catalog = cls()
        for f in fields:
            if not f.get("custom") or not FIELD_ID.match(str(f.get("id", ""))):
                continue
            catalog.ids_by_name.setdefault(str(f.get("name", "")).strip().lower(), []).append(f["id"])
            schema = f.get("schema") or {}
            text = schema.get("type") == "string" and not str(schema.get("custom", "")).endswith(":labels")
            catalog.kinds[f["id"]] = "text" if text else "list"
        return catalog

    def resolve(self, ref: str) -> str:
        """A field id from an id or a name; ValueError with a clear message otherwise."""
        ref = ref.strip()
        if FIELD_ID.match(ref):
            if self.kinds and ref not in self.kinds:
                raise ValueError(f"custom field {ref} does not exist in Jira")
            return ref
        ids = self.ids_by_name.get(ref.lower(), [])
        if not ids:
            raise ValueError(f"no custom field named {ref!r} in Jira")
        if len(ids) > 1:
            raise ValueError(f"several custom fields are named {ref!r}; use its id ({', '.join(ids)})")
        return ids[0]


def check_rule_jql(jql: str) -> str:
    """Local sanity checks of a free-JQL rule before Jira validates it; returns the stripped JQL."""
    text = jql.strip()
    if not text:
        raise ValueError("jql is empty")
    if len(text) > MAX_RULE_JQL_CHARS:
        raise ValueError(f"jql is longer than {MAX_RULE_JQL_CHARS} characters")
    depth, quote, escaped = 0, None, False
    outside = []
    for char in text:
        if quote:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == quote:
                quote = None
            continue
        if char in "\"'":
            quote = char
        elif char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
            if depth < 0:
                raise ValueError("jql has an unbalanced ')'")
        outside.append(char)
    if quote or depth:
        raise ValueError("jql has an unclosed quote or parenthesis")
    if ORDER_BY.search("".join(outside)):
        raise ValueError("remove ORDER BY from the rule's jql (the sync orders its own queries)")
    return text


def validate_rules(raw_rules: object, catalog: FieldCatalog | None, *, customer_id: str,
                   defaults: dict[str, str] | None = None) -> list[Rule]:
    """Check a rule list from the API; returns Rules (ids new) or raises RuleValidationError.

    `defaults` fills a missing value: {"label": "customer_<slug>", "custom_field": external id}.
    Custom fields named rather than given by id are resolved through `catalog` (from `/field`).
    """
    if not isinstance(raw_rules, list):
        raise RuleValidationError({0: "rules must be a list"})
    defaults = defaults or {}
    rules, errors = [], {}
    for position, raw in enumerate(raw_rules):
        try:
            rules.append(_validate_one(raw, position, catalog, customer_id, defaults))
        except ValueError as exc:
            errors[position] = str(exc)
    if errors:
        raise RuleValidationError(errors)
    return rules


def _validate_one(raw: object, position: int, catalog: FieldCatalog | None, customer_id: str,
                  defaults: dict[str, str]) -> Rule:
    if not isinstance(raw, dict):
        raise ValueError("each rule must be an object")
    unknown = set(raw) - {"strategy", "value", "field", "jql", "link_type", "connection_id"}
    if unknown:
        raise ValueError(f"unknown key(s): {', '.join(sorted(unknown))}")
    strategy = raw.get("strategy")
    if strategy not in RULE_STRATEGIES:
        raise ValueError(f"strategy must be one of {', '.join(RULE_STRATEGIES)}")
    link_type = raw.get("link_type", "affected")
    if link_type not in LINK_TYPES:
        raise ValueError(f"link_type must be one of {', '.join(LINK_TYPES)}")
    connection_id = raw.get("connection_id")
    if connection_id is not None:
        try:
            connection_id = str(uuid.UUID(str(connection_id)))
        except ValueError:
            raise ValueError("connection_id must be a UUID") from None
    common = {"id": str(uuid.uuid4()), "customer_id": customer_id, "strategy": strategy, "link_type": link_type,
              "position": position, "connection_id": connection_id}
    if strategy == "jql":
        if not isinstance(raw.get("jql"), str):
            raise ValueError("a jql rule needs jql")
        return Rule(**common, jql=check_rule_jql(raw["jql"]))
    value = raw.get("value", defaults.get(strategy))
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"a {strategy} rule needs a value")
    value = value.strip()
    if len(value) > MAX_VALUE_CHARS:
        raise ValueError(f"value is longer than {MAX_VALUE_CHARS} characters")
    jql_string(value)  # control characters are refused here, not at sync time
    if strategy != "custom_field":
        return Rule(**common, value=value)
    ref = raw.get("field")
    if not isinstance(ref, str) or not ref.strip():
        raise ValueError("a custom_field rule needs field (an id like customfield_10001, or the field's name)")
    if catalog is None:
        if not FIELD_ID.match(ref.strip()):
            raise ValueError("give the field id (customfield_NNNNN): field names need the Jira connection")
        field_id = ref.strip()
    else:
        field_id = catalog.resolve(ref)
    return Rule(**common, value=value, field=ref.strip(), field_id=field_id)


# ---- compilation ------------------------------------------------------------------------------

def _field_ref(field_id: str) -> str:
    return f"cf[{FIELD_ID.match(field_id).group(1)}]"


def value_clauses(rules: Iterable[Rule], kinds: dict[str, str] | None = None,
                  max_values: int = MAX_VALUES_PER_CLAUSE, max_chars: int = MAX_JQL_CHARS) -> list[str]:
    """The label / component / custom-field rules as JQL clauses, values grouped with `in (...)`.

    Each in-list is filled up to `max_values` values or `max_chars` characters. Text custom
    fields cannot be searched with `in` in Jira; they get `~` (a superset that local matching
    narrows to the exact value).
    """
    kinds = kinds or {}
    groups: dict[tuple[str, str], set[str]] = defaultdict(set)
    for rule in rules:
        if rule.strategy in ("label", "component", "custom_field"):
            groups[(rule.strategy, rule.field_id or "")].add(rule.value)
    clauses = []
    for (strategy, field_id), values in sorted(groups.items()):
        literals = sorted(values)
        if strategy == "custom_field" and kinds.get(field_id) == "text":
            ref = _field_ref(field_id)
            clauses += [f"{ref} ~ {jql_string(lucene_escape(v))}" for v in literals]
            continue
        name = {"label": "labels", "component": "component"}.get(strategy) or _field_ref(field_id)
        head = f"{name} in ("
        chunk: list[str] = []
        length = len(head) + 1
        for literal in (jql_string(v) for v in literals):
            extra = len(literal) + (2 if chunk else 0)
            if chunk and (len(chunk) >= max_values or length + extra > max_chars):
                clauses.append(head + ", ".join(chunk) + ")")
                chunk, length, extra = [], len(head) + 1, len(literal)
            chunk.append(literal)
            length += extra
        if chunk:
            clauses.append(head + ", ".join(chunk) + ")")
    return clauses


def _pack(clauses: list[str], budget: int) -> list[list[str]]:
    """Greedily pack OR-ed clauses into groups whose joined length stays within budget."""
    groups: list[list[str]] = []
    current: list[str] = []
    length = 0
    for clause in clauses:
        extra = len(clause) + (4 if current else 0)
        if current and length + extra > budget:
            groups.append(current)
            current, length = [], 0
            extra = len(clause)
        current.append(clause)
        length += extra
    if current:
        groups.append(current)
    return groups


def compile_queries(rules: Iterable[Rule], *, since: str | None = None, kinds: dict[str, str] | None = None,
                    max_chars: int = MAX_JQL_CHARS, max_values: int = MAX_VALUES_PER_CLAUSE,
                    ordered: bool = True) -> list[CompiledQuery]:
    """Every rule of a connection as the fewest JQL queries within `max_chars` (batches, then one per JQL rule)."""
    rules = list(rules)
    suffix = (f" AND {since}" if since else "") + (ORDER_CLAUSE if ordered else "")
    budget = max_chars - len(suffix) - 2  # the batch is wrapped in parentheses
    clauses = value_clauses(rules, kinds, max_values, budget)
    queries = [CompiledQuery(f"({' OR '.join(group)}){suffix}", "batch") for group in _pack(clauses, budget)]
    for rule in sorted((r for r in rules if r.strategy == "jql"), key=lambda r: r.rank):
        queries.append(CompiledQuery(f"({rule.jql}){suffix}", "jql", rule.id))
    return queries


def customer_query(rules: Iterable[Rule], kinds: dict[str, str] | None = None) -> str | None:
    """One JQL matching every issue any of the given rules (of one customer) would link; None if no rules."""
    rules = list(rules)
    parts = value_clauses(rules, kinds) + [f"({r.jql})" for r in rules if r.strategy == "jql"]
    return " OR ".join(parts) if parts else None


# ---- local matching ---------------------------------------------------------------------------

def _fold(value: object) -> str:
    return str(value).strip().casefold()


class RuleMatcher:
    """Matches stored/fetched issues to customers through value rules, plus free-JQL rule membership."""

    def __init__(self, rules: Iterable[Rule]):
        self.rules = {r.id: r for r in rules}
        self._labels: dict[str, list[Rule]] = defaultdict(list)
        self._components: dict[str, list[Rule]] = defaultdict(list)
        self._fields: dict[str, dict[str, list[Rule]]] = defaultdict(lambda: defaultdict(list))
        self.jql_rules = [r for r in self.rules.values() if r.strategy == "jql"]
        for rule in self.rules.values():
            if rule.strategy == "label":
                self._labels[_fold(rule.value)].append(rule)
            elif rule.strategy == "component":
                self._components[_fold(rule.value)].append(rule)
            elif rule.strategy == "custom_field":
                self._fields[rule.field_id][_fold(rule.value)].append(rule)

    @property
    def custom_field_ids(self) -> frozenset[str]:
        """The custom fields the rules look at (the sync asks Jira for exactly these)."""
        return frozenset(self._fields)

    def value_matches(self, labels: Iterable[str], components: Iterable[str], custom_fields: dict) -> list[Rule]:
        """Value rules that match an issue's labels, components and custom field values."""
        hits: list[Rule] = []
        for label in labels or ():
            hits += self._labels.get(_fold(label), [])
        for component in components or ():
            hits += self._components.get(_fold(component), [])
        for field_id, by_value in self._fields.items():
            value = (custom_fields or {}).get(field_id)
            for item in value if isinstance(value, list) else [value] if value is not None else []:
                hits += by_value.get(_fold(item), [])
        return hits

    def desired_links(self, issue: dict, jql_members: dict[str, set[str]] | None = None) -> dict[str, Rule]:
        """customer_id -> the winning Rule for one issue (dict with labels, components, custom_fields, jira_id)."""
        hits = self.value_matches(issue.get("labels"), issue.get("components"), issue.get("custom_fields"))
        for rule in self.jql_rules:
            if issue.get("jira_id") in (jql_members or {}).get(rule.id, ()):
                hits.append(rule)
        best: dict[str, Rule] = {}
        for rule in hits:
            current = best.get(rule.customer_id)
            if current is None or rule.rank < current.rank:
                best[rule.customer_id] = rule
        return best
