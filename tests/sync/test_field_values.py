"""Custom field values as people read them, which fields a connection keeps, the setting's checks, and
changelog items as history rows: plain values, no database, no Jira."""

from __future__ import annotations

import copy
from datetime import UTC, datetime

import pytest

from connect_app.atlassian.issue_json import normalize_issue
from connect_app.sync.custom_fields import (
    MAX_GET_FIELDS,
    MAX_TEXT_CHARS,
    FieldSelection,
    FieldSettingError,
    check_setting,
    custom_field_list,
    display_value,
)
from connect_app.sync.field_catalog import Catalog, FieldInfo
from connect_app.sync.history import field_changes

# Jira Cloud's GET /field and an issue's fields, in Jira's shapes (a few fields of a real site's answer).
FIELDS = [
    {"id": "summary", "name": "Summary", "custom": False, "schema": {"type": "string", "system": "summary"}},
    {"id": "status", "name": "Status", "custom": False, "schema": {"type": "status", "system": "status"}},
    {"id": "customfield_10019", "name": "Rank", "custom": True,
     "schema": {"type": "any", "custom": "com.pyxis.greenhopper.jira:gh-lexo-rank", "customId": 10019}},
    {"id": "customfield_10000", "name": "Development", "custom": True,
     "schema": {"type": "any", "custom": "com.atlassian.jira.plugins.jira-development-integration-plugin:devsummarycf",
                "customId": 10000}},
    {"id": "customfield_10030", "name": "Customer Tier", "custom": True,
     "schema": {"type": "option", "custom": "com.atlassian.jira.plugin.system.customfieldtypes:select",
                "customId": 10030}},
    {"id": "customfield_10031", "name": "Account Manager", "custom": True,
     "schema": {"type": "user", "custom": "com.atlassian.jira.plugin.system.customfieldtypes:userpicker",
                "customId": 10031}},
    {"id": "customfield_10032", "name": "Platforms", "custom": True,
     "schema": {"type": "array", "items": "option",
                "custom": "com.atlassian.jira.plugin.system.customfieldtypes:multiselect", "customId": 10032}},
    {"id": "customfield_10033", "name": "Go-live", "custom": True,
     "schema": {"type": "date", "custom": "com.atlassian.jira.plugin.system.customfieldtypes:datepicker",
                "customId": 10033}},
    {"id": "customfield_10034", "name": "Escalated at", "custom": True,
     "schema": {"type": "datetime", "custom": "com.atlassian.jira.plugin.system.customfieldtypes:datetime",
                "customId": 10034}},
    {"id": "customfield_10035", "name": "Seats", "custom": True,
     "schema": {"type": "number", "custom": "com.atlassian.jira.plugin.system.customfieldtypes:float",
                "customId": 10035}},
    {"id": "customfield_10036", "name": "Notes", "custom": True,
     "schema": {"type": "string", "custom": "com.atlassian.jira.plugin.system.customfieldtypes:textarea",
                "customId": 10036}},
    {"id": "customfield_10037", "name": "Customer Tier", "custom": True,  # a second field of the same name
     "schema": {"type": "string", "custom": "com.atlassian.jira.plugin.system.customfieldtypes:textfield",
                "customId": 10037}},
]
ISSUE = {"id": "10100", "key": "CS-1", "fields": {
    "summary": "Export fails", "status": {"id": "3", "name": "In Progress",
                                          "statusCategory": {"key": "indeterminate"}},
    "customfield_10019": "0|i0000f:", "customfield_10000": "{}",
    "customfield_10030": {"self": "https://x/rest/api/3/customFieldOption/10040", "value": "Enterprise", "id": "10040"},
    "customfield_10031": {"accountId": "5b10ac8d82e05b22cc7d4ef5", "displayName": "Mia Krystof", "active": True},
    "customfield_10032": [{"value": "Web", "id": "1"}, {"value": "iOS", "id": "2"}],
    "customfield_10033": "2026-02-01", "customfield_10034": "2026-01-15T10:30:00.000+0100",
    "customfield_10035": 250.0, "customfield_10036": None,
    "customfield_10037": "x" * (MAX_TEXT_CHARS + 50),
}}


def catalog() -> Catalog:
    return Catalog({f.id: f for f in map(FieldInfo.from_jira, FIELDS)})


def test_values_read_as_a_person_reads_them():
    fields = catalog().fields
    row = normalize_issue(copy.deepcopy(ISSUE))["custom_fields"]
    assert display_value(row["customfield_10030"], fields["customfield_10030"]) == "Enterprise"
    assert display_value(row["customfield_10031"], fields["customfield_10031"]) == "Mia Krystof"
    assert display_value(row["customfield_10032"], fields["customfield_10032"]) == "Web, iOS"
    assert display_value(row["customfield_10033"], fields["customfield_10033"]) == "2026-02-01"
    assert display_value(row["customfield_10034"], fields["customfield_10034"]) == "2026-01-15 09:30 UTC"
    assert display_value(row["customfield_10035"], fields["customfield_10035"]) == "250"
    assert display_value(2.5) == "2.5" and display_value(True) == "Yes" and display_value([None, "a"]) == "a"
    assert display_value({"name": "Sprint 4", "state": "active"}) == "Sprint 4"
    assert display_value("2026-01-15T10:30:00.000+0000") == "2026-01-15 10:30 UTC"  # a datetime, catalog unknown
    assert display_value("2026-01-15T10:30 is when", fields["customfield_10036"]) == "2026-01-15T10:30 is when"


def test_with_value_keeps_what_has_a_value_but_machine_data_and_cuts_long_text():
    selection = FieldSelection.build({"mode": "with_value"}, catalog(), rule_fields={"customfield_10037"})
    kept = selection.shape(normalize_issue(copy.deepcopy(ISSUE))["custom_fields"])
    assert "customfield_10019" not in kept and "customfield_10000" not in kept  # Rank, Development
    assert "customfield_10036" not in kept  # no value
    assert set(kept) == {"customfield_10030", "customfield_10031", "customfield_10032", "customfield_10033",
                         "customfield_10034", "customfield_10035", "customfield_10037"}
    assert len(kept["customfield_10037"]) == MAX_TEXT_CHARS + 50  # a rule's field is kept whole
    other = FieldSelection.build({"mode": "with_value"}, catalog(), rule_fields=())
    assert other.shape({"customfield_10037": "x" * 5000})["customfield_10037"].endswith("…")
    assert len(other.shape({"customfield_10037": "x" * 5000})["customfield_10037"]) == MAX_TEXT_CHARS
    # Jira is asked for the catalog's custom fields (not Rank), by id.
    assert "customfield_10019" not in selection.search_fields() and "customfield_10035" in selection.search_fields()
    # Before any catalog is known every navigable field is asked for; a long list becomes *navigable in a URL.
    assert FieldSelection(None, frozenset()).search_fields()[-1] == "*navigable"
    wide = Catalog({f"customfield_{n}": FieldInfo(f"customfield_{n}", f"F{n}", True, "string")
                    for n in range(MAX_GET_FIELDS + 1)})
    assert FieldSelection.build({"mode": "with_value"}, wide, ()).get_fields()[-1] == "*navigable"


def test_selected_fields_by_name_or_id_plus_the_rules_fields():
    setting = {"mode": "selected", "fields": ["customer tier", "customfield_10035", "Nowhere"]}
    selection = FieldSelection.build(setting, catalog(), rule_fields={"customfield_10033"})
    # A name two fields share takes both; the rules' field is kept though not chosen; Rank is not.
    assert selection.custom_ids() == ["customfield_10030", "customfield_10033", "customfield_10035",
                                      "customfield_10037"]
    assert selection.unresolved == ("Nowhere",)
    kept = selection.shape(normalize_issue(copy.deepcopy(ISSUE))["custom_fields"])
    assert set(kept) == {"customfield_10030", "customfield_10033", "customfield_10035", "customfield_10037"}


def test_the_list_is_by_name_and_falls_back_to_the_id():
    names = {"customfield_10030": catalog().fields["customfield_10030"]}
    listed = custom_field_list({"customfield_10030": "Enterprise", "customfield_99": 3, "customfield_98": []}, names)
    assert listed == [{"id": "customfield_10030", "name": "Customer Tier", "type": "option", "value": "Enterprise"},
                      {"id": "customfield_99", "name": "customfield_99", "type": None, "value": "3"}]


def test_the_setting_is_checked_and_unknown_fields_are_named():
    catalogs = [catalog(), Catalog()]
    assert check_setting({"mode": "with_value"}, catalogs) == {"mode": "with_value"}
    assert check_setting({"fields": [" Seats ", "Seats", "customfield_10033"]}, catalogs) == {
        "mode": "selected", "fields": ["Seats", "customfield_10033"]}
    with pytest.raises(FieldSettingError) as unknown:
        check_setting({"mode": "selected", "fields": ["Seats", "Nope", "customfield_1"]}, catalogs)
    assert unknown.value.code == "unknown_fields" and unknown.value.status == 422
    assert "Nope" in str(unknown.value) and "customfield_1" in str(unknown.value)
    assert set(unknown.value.details) == {"Nope", "customfield_1"}
    with pytest.raises(FieldSettingError) as system_field:  # a system field is not a custom field
        check_setting({"mode": "selected", "fields": ["summary"]}, catalogs)
    assert system_field.value.details == {
        "summary": "no custom field has this id or name on the workspace's Jira sites"}
    for bad, key in (({"mode": "some"}, "mode"), ({"mode": "selected", "fields": "Seats"}, "fields"),
                     ({"mode": "selected", "fields": ["x\u0000"]}, "fields"),
                     ({"mode": "with_value", "fields": ["a"]}, "fields"), ({"mode": "with_value", "extra": 1}, "extra"),
                     ({"mode": "selected", "fields": [f"f{n}" for n in range(101)]}, "fields")):
        with pytest.raises(FieldSettingError) as invalid:
            check_setting(bad, catalogs)
        assert invalid.value.code == "invalid_settings" and key in invalid.value.details


def test_changelog_items_become_history_rows():
    histories = [{"id": "10301", "created": "2026-01-15T10:30:00.000+0000",
                  "author": {"accountId": "5b10", "displayName": "Mia Krystof"},
                  "items": [{"field": "Component", "fieldtype": "jira", "fieldId": "components", "from": None,
                             "fromString": None, "to": "10010", "toString": "Billing"},
                            {"field": "Component", "fieldtype": "jira", "fieldId": "components", "from": None,
                             "fromString": None, "to": "10011", "toString": "API"},
                            {"field": "Link", "fieldtype": "jira", "from": None, "fromString": None,
                             "to": "CS-5", "toString": None},
                            {"field": "description", "fieldtype": "jira", "fieldId": "description",
                             "fromString": "y" * 900, "toString": "short"}]},
                 {"id": "10302", "created": None, "items": [{"field": "status"}]}]  # no time: skipped
    rows = field_changes(histories)
    assert [(r["field_key"], r["seq"], r["to_value"]) for r in rows] == [
        ("components", 0, "Billing"), ("components", 1, "API"), ("Link", 0, "CS-5"), ("description", 0, "short")]
    assert rows[0]["author_name"] == "Mia Krystof" and rows[0]["author_id"] == "5b10"
    assert rows[0]["changed_at"] == datetime(2026, 1, 15, 10, 30, tzinfo=UTC)
    assert len(rows[3]["from_value"]) == 500 and rows[3]["from_value"].endswith("…")



def test_text_postgresql_cannot_store_is_cleaned():
    rows = field_changes([{"id": "1", "created": "2026-01-15T10:30:00.000+0000", "author": {"displayName": "A\x00"},
                           "items": [{"field": "Notes", "fieldId": "customfield_1", "toString": "x\x00y"}]}])
    assert rows[0]["to_value"] == "x\ufffdy" and rows[0]["author_name"] == "A\ufffd"
    selection = FieldSelection(None, frozenset())
    assert selection.shape({"customfield_1": ["a\x00", "\ud800"]}) == {"customfield_1": ["a\ufffd", "\ufffd"]}
