"""The front page is public: it says what the service is and shows nothing of any workspace."""

from __future__ import annotations

from tests.factories import make_connection, make_customer, make_organization


def test_the_home_page_shows_no_counts_to_anonymous_visitors(app, client):
    org = make_organization(id="ws-home")
    make_connection(org)
    make_customer(org, name="Secret Customer Inc")
    response = client.get("/")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert "CSCX Jira" in page and "/api/openapi.json" in page
    assert "workspaces" not in page and "customers</li>" not in page and "Secret Customer" not in page
