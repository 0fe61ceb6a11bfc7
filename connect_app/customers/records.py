"""Customers: validation, all-or-nothing upserts, and the type-ahead search."""

from __future__ import annotations

import hashlib
import json
import math
import re
import unicodedata
import uuid
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy import case, or_, select
from sqlalchemy.exc import IntegrityError

from connect_app.extensions import db
from connect_app.models import TIERS, Customer
from connect_app.models.types import iso

MAX_BATCH = 5000
MAX_ARR = Decimal("999999999999.99")  # the column holds 14 digits, 2 of them cents
# What each text field accepts, as regular expressions the OpenAPI document repeats word for word
# (tests/api/test_hostile_inputs.py checks they agree), so the document says exactly what is refused.
# No control characters other than white space (NUL, BEL, ESC...) and no bidirectional overrides or
# isolates: names show in Jira, CSCX.AI and notifications and must read as they are stored.
_CTL = r"\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u0084\u0086-\u009f\u202a-\u202e\u2066-\u2069"
# White space spelled out as Python's str.strip() sees it (a regex's \s differs between Python and the
# ECMA dialect of JSON Schema: U+0085 and U+001C-U+001F are white space to one and not the other).
_WS = r"\t\n\u000b\u000c\r\u001c-\u001f \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
_EMAIL = rf"[^@;{_WS}<>{_CTL}]+@[^@;{_WS}<>{_CTL}]+\.[^@;{_WS}<>{_CTL}]+"  # no `;`: it separates people
# One person of the `Name <email> (role); ...` form: a name, then optionally an email and a role (each
# at most 200 characters), or nothing at all between two semicolons.
_STAKEHOLDER = (rf"[{_WS}]*(?:[^<>();\[{_WS}{_CTL}][^<>();{_CTL}]{{0,199}}(?:<[{_WS}]*{_EMAIL}[{_WS}]*>)?"
                rf"[{_WS}]*(?:\([^();{_CTL}]{{1,200}}\))?[{_WS}]*)?")
PATTERNS = {
    "name": rf"^[^{_CTL}]*[^{_WS}{_CTL}][^{_CTL}]*$",
    "text": rf"^[^{_CTL}]*$",
    "slug": r"^(?:[a-z0-9]+(?:-[a-z0-9]+)*)?$",
    "email": rf"^[{_WS}]*(?:{_EMAIL})?[{_WS}]*$",
    "uuid": r"^(?:[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})?$",
    "blank": rf"^[{_WS}]*$",
    # At most 999,999,999,999.99, with an optional `$` and thousands separators. Blank (only white space)
    # is "not given" for these three.
    "arr": (rf"^[{_WS}]*(?:\$?[{_WS}]*(?:[0-9]{{1,12}}|[0-9]{{1,3}}(?:,[0-9]{{3}}){{1,3}})(?:\.[0-9]{{1,2}})?)?"
            rf"[{_WS}]*$"),
    "health_score": rf"^[{_WS}]*(?:(?:100|[1-9]?[0-9])(?:\.0+)?)?[{_WS}]*$",
    "date": rf"^[{_WS}]*(?:(?:[1-9][0-9]{{3}}|0[1-9][0-9]{{2}}|00[1-9][0-9]|000[1-9])-[0-9]{{2}}-[0-9]{{2}})?[{_WS}]*$",
    "stakeholders": rf"^{_STAKEHOLDER}(?:;{_STAKEHOLDER})*$",
}


def _any_case(word: str) -> str:
    return "".join(f"[{c.upper()}{c}]" if c.isalpha() else c for c in word)


# Tiers are read case-insensitively, `mid-market`, `midmarket` and `mid market` included.
PATTERNS["tier"] = (rf"^[{_WS}]*(?:" + "|".join(_any_case(w) for w in ("enterprise", "smb", "startup"))
                    + "|" + _any_case("mid") + "[-_ ]?" + _any_case("market") + rf")?[{_WS}]*$")
MAX_LENGTHS = {"name": 200, "external_id": 200, "csm_owner_id": 200, "slug": 100, "csm_owner_email": 320,
               "stakeholders": 4000}
_MATCHERS = {key: re.compile(pattern) for key, pattern in PATTERNS.items()}
STAKEHOLDER_RE = re.compile(r"^\s*(?P<name>[^<(]+?)\s*(?:<(?P<email>[^>]+)>)?\s*(?:\((?P<role>[^)]+)\))?\s*$")
FIELDS = (
    "name",
    "external_id",
    "slug",
    "arr",
    "tier",
    "health_score",
    "renewal_date",
    "csm_owner_id",
    "csm_owner_email",
    "stakeholders",
)
TIER_ALIASES = {"mid-market": "mid_market", "midmarket": "mid_market", "mid market": "mid_market"}
# The JSON types each field may have (CSV gives strings throughout; None means "not given").
TEXT = (str,)
FIELD_TYPES: dict[str, tuple[type, ...]] = {
    "id": TEXT, "name": TEXT, "external_id": TEXT, "slug": TEXT, "tier": TEXT, "renewal_date": TEXT,
    "csm_owner_id": TEXT, "csm_owner_email": TEXT,
    "arr": (str, int, float), "health_score": (str, int, float), "stakeholders": (str, list),
}


@dataclass
class RowError:
    """Why one input row was rejected; `line` is the file line or the list position (1-based).

    `malformed` rows have a value of the wrong JSON type (an object where a name goes): the API answers
    those with a 400; `conflict` rows clash with another customer or row, a 409; other rejections, 422.
    """

    line: int
    errors: dict[str, str]
    malformed: bool = False
    conflict: bool = False  # the row clashes with another customer or another row (the API's 409)

    def to_dict(self) -> dict[str, Any]:
        """JSON form for API responses and CLI reports."""
        return {"line": self.line, "errors": self.errors}


@dataclass
class CustomerInput:
    """A validated customer row, ready to upsert."""

    line: int
    values: dict[str, Any] = field(default_factory=dict)

    @property
    def key(self) -> tuple[str, Any]:
        """The upsert key: the customer's id when given, else the external id when given, else the slug."""
        if self.values.get("id"):
            return ("id", self.values["id"])
        if self.values.get("external_id"):
            return ("external_id", self.values["external_id"])
        return ("slug", self.values["slug"])


class CustomerValidationError(Exception):
    """One or more rows were rejected; nothing was written."""

    def __init__(self, rejected: list[RowError]):
        super().__init__(f"{len(rejected)} row(s) rejected")
        self.rejected = rejected

    @property
    def status(self) -> int:
        """The API's answer: 400 when some value has the wrong JSON type, 409 when every rejected row clashes
        with another customer or row, else 422."""
        if any(r.malformed for r in self.rejected):
            return 400
        return 409 if all(r.conflict for r in self.rejected) else 422


def slugify(text: str) -> str:
    """ASCII slug of a name: 'Acme Corp.' -> 'acme-corp'."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")[:100].rstrip("-")


def slug_for(name: str) -> str:
    """The slug a customer gets from its name; a name with no ASCII letter or digit (株式会社, "!!!") gets
    `customer-` and a digest of the name, so every name can be a customer without an explicit slug."""
    return slugify(name) or "customer-" + hashlib.sha256(name.encode()).hexdigest()[:12]


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _parse_stakeholders(value: Any) -> list[dict[str, str]]:
    if _blank(value):
        return []
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("["):
            value = json.loads(text)
        else:
            if len(value) > MAX_LENGTHS["stakeholders"] or not _MATCHERS["stakeholders"].fullmatch(value):
                raise ValueError("cannot read the stakeholders (use 'Name <email> (role); ...')")
            people = []
            for part in filter(None, (p.strip() for p in text.split(";"))):
                match = STAKEHOLDER_RE.match(part)
                if not match:
                    raise ValueError(f"cannot read stakeholder {part!r} (use 'Name <email> (role)')")
                people.append({k: v.strip() for k, v in match.groupdict().items() if v})
            value = people
    if not isinstance(value, list):
        raise ValueError("must be a list of {name, email, role}")
    cleaned = []
    for person in value:
        if not isinstance(person, dict) or not isinstance(person.get("name"), str):
            raise ValueError("each stakeholder needs a name")
        if set(person) - {"name", "email", "role"}:
            raise ValueError("a stakeholder has a name, an email and a role, nothing else")
        if any(not isinstance(person.get(k), str | None) for k in ("email", "role")):
            raise ValueError("a stakeholder's email and role are strings")
        if not _MATCHERS["name"].fullmatch(person["name"]) or len(person["name"]) > 200:
            raise ValueError("each stakeholder needs a name (at most 200 characters, no control characters)")
        if person.get("role") is not None and (not _MATCHERS["text"].fullmatch(person["role"])
                                               or len(person["role"]) > 200):
            raise ValueError("a stakeholder's role is at most 200 characters, without control characters")
        if person.get("email") is not None and not _MATCHERS["email"].fullmatch(person["email"]):
            raise ValueError(f"stakeholder email {person['email']!r} is not an email address")
        entry = {k: person[k].strip() for k in ("name", "email", "role") if not _blank(person.get(k))}
        cleaned.append(entry)
    return cleaned


def _type_errors(raw: dict[str, Any]) -> dict[str, str]:
    """Fields whose JSON type is wrong for them (`{"name": {"obj": 1}}`, `true` for an amount)."""
    errors = {}
    for key, types in FIELD_TYPES.items():
        value = raw.get(key)
        if value is not None and (isinstance(value, bool) or not isinstance(value, types)):
            expected = " or ".join({str: "a string", int: "a number", float: "a number", list: "a list"}[t]
                                   for t in dict.fromkeys(types))
            errors[key] = f"must be {expected}, not {type(value).__name__}"
    return errors


def _text_field(raw: dict[str, Any], key: str, pattern: str, errors: dict[str, str], message: str) -> str | None:
    """A text field's value (stripped), None when left out or blank; an error when too long or refused."""
    value = raw.get(key)
    if value is None:
        return None
    limit = MAX_LENGTHS.get(key)
    if limit is not None and len(value) > limit:
        errors[key] = f"is longer than {limit} characters"
    elif not _MATCHERS[pattern].fullmatch(value):
        errors[key] = message
    return value.strip() or None


def validate_row(raw: Any, line: int) -> CustomerInput | RowError:
    """Check one input row; return the cleaned values or the per-field errors.

    Each text field is checked against the same pattern the OpenAPI document gives (`PATTERNS`); a value
    of the wrong JSON type makes the row malformed (the API's 400) rather than invalid (its 422).
    """
    if not isinstance(raw, dict):
        return RowError(line, {"_": "must be a customer object"}, malformed=True)
    type_errors = _type_errors(raw)
    if type_errors:
        return RowError(line, type_errors, malformed=True)
    errors: dict[str, str] = {}
    values: dict[str, Any] = {}
    unknown = sorted(set(raw) - set(FIELDS) - {"id"})
    if unknown:
        errors["_"] = f"unknown field(s): {', '.join(unknown)}"
    control = "must not contain control or bidirectional-override characters"
    if raw.get("name") is None or not raw["name"].strip():
        errors["name"] = "is required"
    elif name := _text_field(raw, "name", "name", errors, control):
        values["name"] = name
    for key in ("external_id", "csm_owner_id"):
        if text := _text_field(raw, key, "text", errors, control):
            values[key] = text
    slug = raw.get("slug") or None
    if slug is not None and (len(slug) > MAX_LENGTHS["slug"] or not _MATCHERS["slug"].fullmatch(slug)):
        errors["slug"] = "must be lowercase letters, digits and single hyphens, like acme-corp (at most 100)"
    values["slug"] = slug or slug_for(values.get("name", ""))
    arr = raw.get("arr")
    if isinstance(arr, str) and arr.strip():
        if not _MATCHERS["arr"].fullmatch(arr):
            errors["arr"] = f"must be a non-negative amount below 10^12 like 1200 or $1,200.50, not {arr!r}"
        else:
            values["arr"] = Decimal(arr.replace(",", "").replace("$", "").strip()).quantize(Decimal("0.01"))
    elif isinstance(arr, int | float):
        amount = Decimal(str(arr)) if math.isfinite(arr) else Decimal(-1)
        if not 0 <= amount <= MAX_ARR:  # so that cents rounding cannot overflow the column either
            errors["arr"] = f"must be a non-negative amount up to {MAX_ARR}, not {arr!r}"
        else:
            values["arr"] = amount.quantize(Decimal("0.01"))
    if not _blank(raw.get("tier")):
        tier = raw["tier"].strip().lower()
        tier = TIER_ALIASES.get(tier, tier.replace("-", "_"))
        if tier not in TIERS or not _MATCHERS["tier"].fullmatch(raw["tier"]):
            errors["tier"] = f"must be one of {', '.join(TIERS)}"
        values["tier"] = tier
    score = raw.get("health_score")
    if isinstance(score, str) and score.strip():
        if not _MATCHERS["health_score"].fullmatch(score):
            errors["health_score"] = f"must be a whole number from 0 to 100, not {score!r}"
        else:
            values["health_score"] = int(float(score.strip()))  # strip: the pattern allows what str.strip removes
    elif isinstance(score, int | float):
        if not (math.isfinite(score) and float(score).is_integer() and 0 <= score <= 100):
            errors["health_score"] = f"must be a whole number from 0 to 100, not {score!r}"
        else:
            values["health_score"] = int(score)
    if not _blank(raw.get("renewal_date")):
        try:
            if not _MATCHERS["date"].fullmatch(raw["renewal_date"]):
                raise ValueError
            values["renewal_date"] = date.fromisoformat(raw["renewal_date"].strip())
        except ValueError:
            errors["renewal_date"] = f"must be a date like 2027-03-31, not {raw['renewal_date']!r}"
    if email := _text_field(raw, "csm_owner_email", "email", errors, "is not an email address"):
        values["csm_owner_email"] = email.lower()
    try:
        values["stakeholders"] = _parse_stakeholders(raw.get("stakeholders"))
    except (ValueError, json.JSONDecodeError) as exc:
        errors["stakeholders"] = str(exc)
    if not _blank(raw.get("id")):
        if not _MATCHERS["uuid"].fullmatch(raw["id"]):
            errors["id"] = "must be a UUID"
        else:
            values["id"] = uuid.UUID(raw["id"])
    return RowError(line, errors) if errors else CustomerInput(line, values)


def validate_rows(rows: list[tuple[int, Any]]) -> list[CustomerInput]:
    """Validate every row (line, raw); raise CustomerValidationError listing all rejects."""
    if len(rows) > MAX_BATCH:
        raise CustomerValidationError([RowError(0, {"_": f"at most {MAX_BATCH} customers per batch"})])
    accepted: list[CustomerInput] = []
    rejected: list[RowError] = []
    seen: dict[tuple[str, str], int] = {}
    for line, raw in rows:
        result = validate_row(raw, line)
        if isinstance(result, RowError):
            rejected.append(result)
            continue
        if result.key in seen:
            rejected.append(RowError(line, {result.key[0]: f"duplicates line {seen[result.key]}"}, conflict=True))
            continue
        seen[result.key] = line
        accepted.append(result)
    if rejected:
        raise CustomerValidationError(rejected)
    return accepted


# What an issue's impact and Jira's view of its customers depend on: a change rescores their issues.
SCORED_FIELDS = ("name", "slug", "arr", "tier", "health_score", "renewal_date")


@dataclass
class Upserted:
    """An upsert's counts, and the updated customers whose scored fields changed (their issues need rescoring)."""

    counts: dict[str, int]
    rescore: list[uuid.UUID] = field(default_factory=list)


def upsert_customers(organization_id: str, rows: list[tuple[int, Any]]) -> Upserted:
    """Validate then insert or update customers of a workspace, all or nothing.

    Each row finds its customer by `id` (one of this workspace's customers: an id of another workspace
    is answered exactly as an id that exists nowhere), else `external_id`, else `slug`; a row whose key
    finds nobody creates a customer (never with a client-chosen id). A row may not take a slug or
    external id that another customer holds, nor one another row of the batch gives out (a conflict row
    naming the clash): a swap of two slugs is two requests.
    """
    inputs = validate_rows(rows)
    ids = {i.values["id"] for i in inputs if "id" in i.values}
    externals = {i.values["external_id"] for i in inputs if i.values.get("external_id")}
    slugs = {i.values["slug"] for i in inputs}
    existing = db.session.scalars(
        select(Customer).where(
            Customer.organization_id == organization_id,
            or_(Customer.id.in_(ids), Customer.external_id.in_(externals), Customer.slug.in_(slugs)),
        )
    ).all()
    targets = _targets(inputs, existing)
    created = updated = 0
    rescore: list[uuid.UUID] = []
    try:
        for item, customer in targets:
            before = None  # a new customer has no issues to rescore yet
            if customer is None:
                customer = Customer(organization_id=organization_id)
                db.session.add(customer)
                created += 1
            else:
                updated += 1
                before = [getattr(customer, name) for name in SCORED_FIELDS]
            for key, value in item.values.items():
                if key != "id":
                    setattr(customer, key, value)
            customer.name_key = customer.name.lower()
            if before is not None and before != [getattr(customer, name) for name in SCORED_FIELDS]:
                rescore.append(customer.id)
        db.session.commit()
    except IntegrityError:
        # Another request took one of these slugs or external ids between our read and this write.
        db.session.rollback()
        raise CustomerValidationError([RowError(0, {"_": "another change to these customers happened at the same "
                                                         "time; send the batch again"}, conflict=True)]) from None
    except Exception:
        db.session.rollback()
        raise
    return Upserted({"created": created, "updated": updated, "total": created + updated}, rescore)


def _describe(customer: Customer) -> str:
    return f"customer {customer.name!r}" + (f" (external id {customer.external_id!r})" if customer.external_id else "")


def _targets(inputs: list[CustomerInput], existing: list[Customer]) -> list[tuple[CustomerInput, Customer | None]]:
    """The customer each row updates (None: a new one); CustomerValidationError when a row names an unknown id
    or would take a slug or external id held by another customer or another row (a conflict)."""
    by_id = {c.id: c for c in existing}
    by_external = {c.external_id: c for c in existing if c.external_id}
    by_slug = {c.slug: c for c in existing}
    unknown: list[RowError] = []
    conflicts: list[RowError] = []
    targets: list[tuple[CustomerInput, Customer | None]] = []
    claimed: dict[tuple[str, str], int] = {}  # (field, value) -> the line that takes it
    updating: dict[uuid.UUID, int] = {}  # existing customer id -> the line that updates it
    for item in inputs:
        kind, key = item.key
        slug, external_id = item.values["slug"], item.values.get("external_id")
        if kind == "id":
            customer = by_id.get(key)
            if customer is None:
                unknown.append(RowError(item.line, {"id": "no customer of this workspace has this id"}))
                continue
        elif kind == "external_id":
            customer = by_external.get(key)
            holder = by_slug.get(slug)
            if customer is None and holder is not None and holder.external_id is None:
                customer = holder  # a customer created without an external id gets one
        else:
            customer = by_slug.get(key)
        errors = {}
        if customer is not None and customer.id in updating:
            errors["_"] = f"updates the same customer as line {updating[customer.id]}"
        for field_name, value, index in (("slug", slug, by_slug), ("external_id", external_id, by_external)):
            if value is None:
                continue
            holder = index.get(value)
            if holder is not None and holder is not customer:
                errors[field_name] = f"{value!r} belongs to another customer: {_describe(holder)}"
            elif (field_name, value) in claimed:
                errors[field_name] = f"{value!r} is also given on line {claimed[(field_name, value)]}"
        if errors:
            conflicts.append(RowError(item.line, errors, conflict=True))
            continue
        if customer is not None:
            updating[customer.id] = item.line
        claimed[("slug", slug)] = item.line
        if external_id is not None:
            claimed[("external_id", external_id)] = item.line
        targets.append((item, customer))
    if unknown or conflicts:
        raise CustomerValidationError(unknown + conflicts)
    return targets


def search_customers(organization_id: str, query: str = "", limit: int = 20, offset: int = 0) -> list[Customer]:
    """Customers of a workspace whose name starts with (then contains) the query, for type-ahead.

    One ordered query (prefix or exact-slug matches first, then other substring matches, each by name
    then id), so limit/offset page through every match exactly once.
    """
    base = select(Customer).where(Customer.organization_id == organization_id)
    text = query.strip().lower()
    if not text:
        return list(db.session.scalars(base.order_by(Customer.name_key, Customer.id).limit(limit).offset(offset)))
    pattern = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    first = or_(Customer.name_key.like(f"{pattern}%", escape="\\"), Customer.slug == slugify(text))
    matches = base.where(or_(first, Customer.name_key.like(f"%{pattern}%", escape="\\")))
    ranked = matches.order_by(case((first, 0), else_=1), Customer.name_key, Customer.id)
    return list(db.session.scalars(ranked.limit(limit).offset(offset)))


def serialize_customer(customer: Customer) -> dict[str, Any]:
    """The API representation of a customer."""
    return {
        "id": str(customer.id),
        "name": customer.name,
        "slug": customer.slug,
        "external_id": customer.external_id,
        "arr": float(customer.arr or 0),
        "tier": customer.tier,
        "health_score": customer.health_score,
        "renewal_date": iso(customer.renewal_date),
        "csm_owner_id": customer.csm_owner_id,
        "csm_owner_email": customer.csm_owner_email,
        "stakeholders": customer.stakeholders or [],
        "updated_at": iso(customer.updated_at),
    }
