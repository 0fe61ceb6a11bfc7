"""Customers: validation, all-or-nothing upserts, and the type-ahead search."""

from __future__ import annotations

import json
import re
import unicodedata
import uuid
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any

from sqlalchemy import or_, select

from connect_app.extensions import db
from connect_app.models import TIERS, Customer
from connect_app.models.types import iso

MAX_BATCH = 5000
EMAIL_RE = re.compile(r"^[^@\s<>]+@[^@\s<>]+\.[^@\s<>]+$")
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


@dataclass
class RowError:
    """Why one input row was rejected; `line` is the file line or the list position (1-based)."""

    line: int
    errors: dict[str, str]

    def to_dict(self) -> dict[str, Any]:
        """JSON form for API responses and CLI reports."""
        return {"line": self.line, "errors": self.errors}


@dataclass
class CustomerInput:
    """A validated customer row, ready to upsert."""

    line: int
    values: dict[str, Any] = field(default_factory=dict)

    @property
    def key(self) -> tuple[str, str]:
        """The upsert key: the external id when given, else the slug."""
        if self.values.get("external_id"):
            return ("external_id", self.values["external_id"])
        return ("slug", self.values["slug"])


class CustomerValidationError(Exception):
    """One or more rows were rejected; nothing was written."""

    def __init__(self, rejected: list[RowError]):
        super().__init__(f"{len(rejected)} row(s) rejected")
        self.rejected = rejected


def slugify(text: str) -> str:
    """ASCII slug of a name: 'Acme Corp.' -> 'acme-corp'."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")[:100]


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
        if not isinstance(person, dict) or _blank(person.get("name")):
            raise ValueError("each stakeholder needs a name")
        entry = {k: str(person[k]).strip() for k in ("name", "email", "role") if not _blank(person.get(k))}
        if "email" in entry and not EMAIL_RE.match(entry["email"]):
            raise ValueError(f"stakeholder email {entry['email']!r} is not an email address")
        cleaned.append(entry)
    return cleaned


def validate_row(raw: dict[str, Any], line: int) -> CustomerInput | RowError:
    """Check one input row; return the cleaned values or the per-field errors."""
    errors: dict[str, str] = {}
    values: dict[str, Any] = {}
    unknown = sorted(set(raw) - set(FIELDS) - {"id"})
    if unknown:
        errors["_"] = f"unknown field(s): {', '.join(unknown)}"
    name = raw.get("name")
    if _blank(name):
        errors["name"] = "is required"
    elif len(str(name).strip()) > 200:
        errors["name"] = "is longer than 200 characters"
    else:
        values["name"] = str(name).strip()
    for key, limit in (("external_id", 200), ("csm_owner_id", 200)):
        if not _blank(raw.get(key)):
            text = str(raw[key]).strip()
            if len(text) > limit:
                errors[key] = f"is longer than {limit} characters"
            values[key] = text
    slug_source = raw.get("slug") if not _blank(raw.get("slug")) else values.get("name", "")
    slug = slugify(str(slug_source))
    if not slug and "name" in values:
        errors["slug"] = "cannot be derived from the name; give one"
    values["slug"] = slug
    if not _blank(raw.get("arr")):
        try:
            arr = Decimal(str(raw["arr"]).replace(",", "").replace("$", "").strip())
            if not arr.is_finite() or arr < 0 or arr >= Decimal("1e12"):
                raise InvalidOperation
            values["arr"] = arr.quantize(Decimal("0.01"))
        except InvalidOperation:
            errors["arr"] = f"must be a non-negative amount, not {raw['arr']!r}"
    if not _blank(raw.get("tier")):
        tier = str(raw["tier"]).strip().lower()
        tier = TIER_ALIASES.get(tier, tier.replace("-", "_"))
        if tier not in TIERS:
            errors["tier"] = f"must be one of {', '.join(TIERS)}"
        values["tier"] = tier
    if not _blank(raw.get("health_score")):
        try:
            score = float(str(raw["health_score"]).strip())
            if not score.is_integer() or not 0 <= score <= 100:
                raise ValueError
            values["health_score"] = int(score)
        except ValueError:
            errors["health_score"] = f"must be a whole number from 0 to 100, not {raw['health_score']!r}"
    if not _blank(raw.get("renewal_date")):
        try:
            values["renewal_date"] = date.fromisoformat(str(raw["renewal_date"]).strip())
        except ValueError:
            errors["renewal_date"] = f"must be a date like 2027-03-31, not {raw['renewal_date']!r}"
    if not _blank(raw.get("csm_owner_email")):
        email = str(raw["csm_owner_email"]).strip()
        if not EMAIL_RE.match(email):
            errors["csm_owner_email"] = f"{email!r} is not an email address"
        values["csm_owner_email"] = email.lower()
    try:
        values["stakeholders"] = _parse_stakeholders(raw.get("stakeholders"))
    except (ValueError, json.JSONDecodeError) as exc:
        errors["stakeholders"] = str(exc)
    if not _blank(raw.get("id")):
        try:
            values["id"] = uuid.UUID(str(raw["id"]))
        except ValueError:
            errors["id"] = "must be a UUID"
    return RowError(line, errors) if errors else CustomerInput(line, values)


def validate_rows(rows: list[tuple[int, dict[str, Any]]]) -> list[CustomerInput]:
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
            rejected.append(RowError(line, {result.key[0]: f"duplicates line {seen[result.key]}"}))
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


def upsert_customers(organization_id: str, rows: list[tuple[int, dict[str, Any]]]) -> Upserted:
    """Validate then insert or update customers of a workspace, all or nothing."""
    inputs = validate_rows(rows)
    by_external = {i.values["external_id"] for i in inputs if i.values.get("external_id")}
    by_slug = {i.values["slug"] for i in inputs}
    existing = db.session.scalars(
        select(Customer).where(
            Customer.organization_id == organization_id,
            or_(Customer.external_id.in_(by_external), Customer.slug.in_(by_slug)),
        )
    ).all()
    index = {("external_id", c.external_id): c for c in existing if c.external_id}
    index |= {("slug", c.slug): c for c in existing}
    slug_owner = {c.slug: c for c in existing}
    created = updated = 0
    rescore: list[uuid.UUID] = []
    conflicts: list[RowError] = []
    try:
        for item in inputs:
            customer = index.get(item.key)
            if customer is None and item.key[0] == "external_id":
                holder = slug_owner.get(item.values["slug"])
                if holder is not None and holder.external_id not in (None, item.values["external_id"]):
                    conflicts.append(
                        RowError(item.line, {"slug": f"{item.values['slug']!r} belongs to another customer"})
                    )
                    continue
                customer = holder
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
            if "id" in item.values and customer.id is None:
                customer.id = item.values["id"]
            customer.name_key = customer.name.lower()
            slug_owner[customer.slug] = customer
            if before is not None and before != [getattr(customer, name) for name in SCORED_FIELDS]:
                rescore.append(customer.id)
        if conflicts:
            raise CustomerValidationError(conflicts)
        db.session.commit()
    except Exception:
        db.session.rollback()
        raise
    return Upserted({"created": created, "updated": updated, "total": created + updated}, rescore)


def search_customers(organization_id: str, query: str = "", limit: int = 20, offset: int = 0) -> list[Customer]:
    """Customers of a workspace whose name starts with (then contains) the query, for type-ahead."""
    base = select(Customer).where(Customer.organization_id == organization_id)
    text = query.strip().lower()
    if not text:
        return list(db.session.scalars(base.order_by(Customer.name_key).limit(limit).offset(offset)))
    pattern = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    prefix = list(
        db.session.scalars(
            base.where(or_(Customer.name_key.like(f"{pattern}%", escape="\\"), Customer.slug == slugify(text)))
            .order_by(Customer.name_key)
            .limit(limit + offset)
        )
    )
    found = prefix[offset:]
    if len(found) < limit:
        seen = {c.id for c in prefix}
        more = db.session.scalars(
            base.where(Customer.name_key.like(f"%{pattern}%", escape="\\")).order_by(Customer.name_key).limit(limit * 2)
        )
        found += [c for c in more if c.id not in seen][: limit - len(found)]
    return found


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
