"""Linking rules as plain values: validation, quoting, batching under the length limit, local matching."""

from __future__ import annotations

import uuid

import pytest

from connect_app.atlassian.jql import jql_string
from connect_app.linking.rules import (
    FieldCatalog,
    Rule,
    RuleMatcher,
    RuleValidationError,
    check_rule_jql,
    compile_queries,
    customer_query,
    validate_rules,
)

FIELDS = [
    {"id": "customfield_10001", "name": "Customer ID", "custom": True,
     "schema": {"type": "string", "custom": "com.atlassian.jira.plugin.system.customfieldtypes:textfield"}},
    {"id": "customfield_10003", "name": "Affected Customers", "custom": True,
     "schema": {"type": "array", "items": "string",
                "custom": "com.atlassian.jira.plugin.system.customfieldtypes:labels"}},
    {"id": "customfield_10009", "name": "Dup", "custom": True, "schema": {"type": "string"}},
    {"id": "customfield_10010", "name": "dup", "custom": True, "schema": {"type": "string"}},
    {"id": "summary", "name": "Summary", "custom": False},
]


def rule(customer: str, strategy: str, value: str | None = None, **kw) -> Rule:
    return Rule(id=kw.pop("id", str(uuid.uuid4())), customer_id=customer, strategy=strategy,
                link_type=kw.pop("link_type", "affected"), value=value, **kw)


def test_jql_string_escapes_quotes_and_backslashes():
    assert jql_string('Acme "Corp" OR 1=1') == '"Acme \\"Corp\\" OR 1=1"'
    assert jql_string("back\\slash") == '"back\\\\slash"'
    with pytest.raises(ValueError):
        jql_string("line\nbreak")


def test_validate_rules_resolves_field_names_and_defaults():
    catalog = FieldCatalog.from_fields(FIELDS)
    rules = validate_rules(
        [{"strategy": "custom_field", "field": "customer id"}, {"strategy": "label"},
         {"strategy": "component", "value": "Billing", "link_type": "watching"},
         {"strategy": "jql", "jql": "project = SUP", "link_type": "requested"}],
        catalog, customer_id="c1", defaults={"label": "customer_acme", "custom_field": "CUST-1"})
    assert [(r.strategy, r.field_id, r.value, r.link_type, r.position) for r in rules] == [
        ("custom_field", "customfield_10001", "CUST-1", "affected", 0),
        ("label", None, "customer_acme", "affected", 1),
        ("component", None, "Billing", "watching", 2),
        ("jql", None, None, "requested", 3)]


def test_validate_rules_reports_every_bad_rule():
    catalog = FieldCatalog.from_fields(FIELDS)
    with pytest.raises(RuleValidationError) as caught:
        validate_rules([{"strategy": "nope"}, {"strategy": "custom_field", "field": "Unknown", "value": "x"},
                        {"strategy": "custom_field", "field": "dup", "value": "x"},
                        {"strategy": "jql", "jql": "project = CS ORDER BY key"},
                        {"strategy": "jql", "jql": "project = CS) OR (project = SUP"},
                        {"strategy": "label", "value": "ok", "link_type": "loves"},
                        {"strategy": "label", "value": "ok"}], catalog, customer_id="c1")
    assert set(caught.value.errors) == {0, 1, 2, 3, 4, 5}
    assert "several custom fields" in caught.value.errors[2]
    assert "ORDER BY" in caught.value.errors[3]


def test_check_rule_jql_ignores_parentheses_in_strings():
    assert check_rule_jql(' summary ~ "a (b" AND project = CS ') == 'summary ~ "a (b" AND project = CS'
    with pytest.raises(ValueError):
        check_rule_jql('summary ~ "unterminated')


def test_compile_batches_values_with_in_and_one_query_per_jql_rule():
    rules = [rule("a", "label", "customer_a"), rule("b", "label", "customer_b"), rule("a", "component", "Billing"),
             rule("c", "custom_field", "acme", field_id="customfield_10003"),
             rule("d", "jql", jql="project = SUP")]
    queries = compile_queries(rules, since='updated >= "2026-01-01 00:00"')
    assert [q.kind for q in queries] == ["batch", "jql"]
    assert queries[0].jql == ('(component in ("Billing") OR cf[10003] in ("acme") OR labels in ("customer_a", '
                              '"customer_b")) AND updated >= "2026-01-01 00:00" ORDER BY key ASC')
    assert queries[1].jql == '(project = SUP) AND updated >= "2026-01-01 00:00" ORDER BY key ASC'


def test_compile_respects_the_length_limit_and_keeps_every_value_once():
    rules = [rule(f"c{n}", "label", f"customer_{n:05d}") for n in range(3000)]
    queries = compile_queries(rules, max_chars=2000)
    assert len(queries) > 1 and all(len(q.jql) <= 2000 for q in queries)
    values = [v for q in queries for v in q.jql.split('"')[1::2]]
    assert sorted(values) == sorted(f"customer_{n:05d}" for n in range(3000))
    # As few queries as the limit allows: every query but the last is nearly full.
    assert all(len(q.jql) > 2000 - 30 for q in queries[:-1])


def test_text_custom_fields_use_contains_with_escaping():
    kinds = FieldCatalog.from_fields(FIELDS).kinds
    queries = compile_queries([rule("a", "custom_field", "CUST-1", field_id="customfield_10001")], kinds=kinds)
    assert queries[0].jql.startswith('(cf[10001] ~ "CUST\\\\-1")')


def test_injected_value_stays_one_literal():
    hostile = 'Acme "Corp" OR 1=1'
    jql = customer_query([rule("a", "label", hostile)])
    assert jql == 'labels in ("Acme \\"Corp\\" OR 1=1")'


def test_matcher_many_to_many_case_insensitive_and_ranked():
    rules = [rule("a", "label", "customer_a", position=1, link_type="watching"),
             rule("a", "component", "billing", position=0, link_type="affected"),
             rule("b", "label", "customer_b"),
             rule("c", "custom_field", "ACME", field_id="customfield_10003"),
             rule("d", "jql", jql="project = SUP", id="jql-rule")]
    matcher = RuleMatcher(rules)
    issue = {"jira_id": "1", "labels": ["Customer_A", "customer_b"], "components": ["Billing"],
             "custom_fields": {"customfield_10003": ["acme", "other"]}}
    links = matcher.desired_links(issue, {"jql-rule": {"1"}})
    assert {c: r.link_type for c, r in links.items()} == {"a": "affected", "b": "affected", "c": "affected",
                                                          "d": "affected"}
    assert links["a"].strategy == "component"
    assert matcher.custom_field_ids == {"customfield_10003"}
    assert matcher.desired_links({"jira_id": "2", "labels": [], "components": [], "custom_fields": {}}) == {}
