"""The cached name index of a workspace follows its customers: an import, a rename and a deletion show at
the next message."""

from __future__ import annotations

from sqlalchemy import delete

from connect_app.chat import names
from connect_app.extensions import db
from connect_app.models import Customer
from tests.chat.support import say
from tests.factories import make_connection, make_issue, make_organization


def test_the_index_is_cached_until_the_customers_change(client, app):
    org = make_organization(id="ws-chat")
    assert say(client, "show issues for hooli")["card"] is None
    cached = names.customer_index(org.id)
    assert names.customer_index(org.id) is cached

    hooli = Customer(organization_id=org.id, name="Hooli", name_key="hooli", slug="hooli")
    db.session.add(hooli)
    db.session.commit()
    assert say(client, "show issues for hooli")["entities"]["customer"]["name"] == "Hooli"
    assert names.customer_index(org.id) is not cached

    hooli.name, hooli.name_key = "Hooli XYZ", "hooli xyz"
    db.session.commit()
    assert say(client, "show issues for hooli xyz")["entities"]["customer"]["name"] == "Hooli XYZ"

    db.session.execute(delete(Customer).where(Customer.id == hooli.id))
    db.session.commit()
    assert "customer" not in say(client, "show issues for hooli xyz")["entities"]


def test_project_keys_let_a_key_be_typed_without_its_dash(client, app):
    org = make_organization(id="ws-chat")
    make_issue(make_connection(org, shared_secret="s" * 40), jira_key="OPS-12", project_key="OPS")
    assert say(client, "status ops12")["entities"] == {"issue_key": "OPS-12"}
    assert names.project_keys(org.id, ["ops", "op", "opsx", "cs"]) == frozenset({"OPS"})
    assert say(client, "status ops12", workspace="ws-elsewhere")["entities"] == {}
