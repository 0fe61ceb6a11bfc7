"""Each workspace's customer names, indexed for the chat (cached per process), and which of the project keys
a message may hold are the workspace's.

The name index follows the workspace's customers: the cache key is their count and latest `updated_at`
(one aggregate per message, from an index), so an import, a rename or a deletion shows in the next
message. When the key moves the names are read again, and the index is rebuilt only if they changed (an
ARR or health update touches every customer's `updated_at`, not their names).

Project keys are looked up only for words like "cs123" (a key typed without its dash), through the
(connection, key) index: nothing to cache, nothing stale.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Iterable

from sqlalchemy import String, cast, exists, func, select

from connect_app.chat.understand import CustomerRef, NameIndex
from connect_app.extensions import db
from connect_app.models import Customer, JiraConnection, JiraIssue

WORKSPACES_CACHED = 64

_lock = threading.Lock()
_indexes: OrderedDict[tuple[str, str], tuple[tuple, int, NameIndex]] = OrderedDict()


def _slot(organization_id: str) -> tuple[str, str]:
    # Keyed by database too: tests and benchmarks run several databases in one process.
    return str(db.engine.url), organization_id


def _uuid_text(raw: str) -> str:
    """A UUID's canonical text (SQLite stores 32 hex digits, PostgreSQL answers the dashed form)."""
    raw = raw.lower()
    return raw if len(raw) == 36 else f"{raw[:8]}-{raw[8:12]}-{raw[12:16]}-{raw[16:20]}-{raw[20:]}"


def customer_index(organization_id: str) -> NameIndex:
    """The workspace's customers as a NameIndex, rebuilt only when they changed."""
    count, changed = db.session.execute(select(func.count(), func.max(Customer.updated_at))
                                        .where(Customer.organization_id == organization_id)).one()
    slot, version = _slot(organization_id), (count, changed)
    with _lock:
        cached = _indexes.get(slot)
        if cached and cached[0] == version:
            _indexes.move_to_end(slot)
            return cached[2]
    # Ids as text: building 10,000 UUID objects would cost more than reading the rows.
    rows = db.session.execute(select(cast(Customer.id, String), Customer.name, Customer.slug, Customer.external_id)
                              .where(Customer.organization_id == organization_id)
                              .order_by(Customer.id)).all()
    digest = hash(frozenset(tuple(row) for row in rows))
    if cached and cached[1] == digest:
        index = cached[2]
    else:
        index = NameIndex(CustomerRef(_uuid_text(id_), name, slug, external_id)
                          for id_, name, slug, external_id in rows)
    with _lock:
        _indexes[slot] = (version, digest, index)
        _indexes.move_to_end(slot)
        while len(_indexes) > WORKSPACES_CACHED:
            _indexes.popitem(last=False)
    return index


def project_keys(organization_id: str, prefixes: Iterable[str]) -> frozenset[str]:
    """Those of the prefixes ("CS" of "cs123") that are projects of the workspace's synced issues."""
    wanted = {p.upper() for p in prefixes}
    if not wanted:
        return frozenset()
    connections = select(JiraConnection.id).where(JiraConnection.organization_id == organization_id)
    # A range on the key ("CS-" up to "CS." : "." follows "-") reads the (connection, key) index.
    return frozenset(prefix for prefix in sorted(wanted) if db.session.scalar(select(exists().where(
        JiraIssue.connection_id.in_(connections), JiraIssue.jira_key >= f"{prefix}-",
        JiraIssue.jira_key < f"{prefix}."))))
