"""Property tests of the JQL engine: quoting round trips, De Morgan, IN as OR, and a parser that
fails only with JqlError."""

from __future__ import annotations

from datetime import timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from jira_sandbox.jql import JqlError, parse, quote
from tests.sandbox.test_jql import NOW, make_context, make_issue

LABELS = ["a", "b", "c", "Acme Corp", 'x"y', "back\\slash"]
CLAUSES = [
    "labels = a", "labels in (b, c)", "labels is EMPTY", "labels != c", "priority > Medium", "priority is EMPTY",
    "assignee = currentUser()", "assignee in (ann, EMPTY)", "status = Done", "statusCategory != new",
    "created >= -3d", "resolution = Unresolved", 'summary ~ "login"', "cf[10004] <= 5", "project in (CS, SUP)",
    '"Customer Tier" = Enterprise', "key > CS-3",
]

issues_strategy = st.lists(
    st.builds(
        lambda n, project, labels, priority, assignee, done, days, summary, points, tier: make_issue(
            n, project=project, labels=labels, priority=priority, assignee=assignee,
            status="Done" if done else "To Do", statusCategory="done" if done else "new",
            resolution="Done" if done else None, created=NOW - timedelta(days=days), summary=summary,
            customfields={k: v for k, v in (("customfield_10004", points), ("customfield_10002", tier)) if v}),
        st.integers(1, 50), st.sampled_from(["CS", "SUP", "ENG"]),
        st.lists(st.sampled_from(LABELS), max_size=3, unique=True),
        st.sampled_from(["Highest", "High", "Medium", "Low", None]), st.sampled_from(["u-ann", "u-bob", None]),
        st.booleans(), st.integers(0, 6), st.sampled_from(["Login fails", "Crash on save", "login page"]),
        st.sampled_from([None, 1, 5, 8]), st.sampled_from([None, "Enterprise", "SMB"]),
    ),
    max_size=12,
)


def hits(jql: str, issues: list[dict]) -> list[str]:
    predicate = parse(jql).compile(make_context())
    return [i["key"] for i in issues if predicate(i)]


@given(st.text())
def test_quote_round_trips_any_string(value):
    query = parse(f"summary ~ {quote(value)}")
    assert query.where.operand.text == value and query.where.operand.quoted


@given(st.text(), st.lists(st.text(), max_size=3))
def test_quoted_label_matches_exactly_the_issues_that_carry_it(value, others):
    issues = [make_issue(1, labels=[value, *others]), make_issue(2, labels=[o for o in others if o != value])]
    assert hits(f"labels = {quote(value)}", issues) == ["CS-1"]
    assert hits(f"labels in ({quote(value)}, {quote(value)})", issues) == ["CS-1"]


@given(st.text(max_size=30), st.sampled_from(["AND", "OR"]), st.sampled_from(CLAUSES))
def test_quoted_value_cannot_change_query_structure(value, joiner, clause):
    query = parse(f"labels = {quote(value)} {joiner} {clause}")
    assert len(query.where.items) == 2 and query.where.items[0].operand.text == value


@settings(max_examples=150)
@given(issues_strategy, st.sampled_from(CLAUSES), st.sampled_from(CLAUSES))
def test_de_morgan(issues, left, right):
    assert hits(f"NOT ({left} AND {right})", issues) == hits(f"NOT ({left}) OR NOT ({right})", issues)
    assert hits(f"NOT ({left} OR {right})", issues) == hits(f"NOT ({left}) AND NOT ({right})", issues)
    assert hits(f"NOT NOT ({left})", issues) == hits(left, issues)


@settings(max_examples=150)
@given(issues_strategy, st.sampled_from(["labels", "priority", "assignee", "status", "project", "cf[10004]"]),
       st.data())
def test_in_is_or_of_equals(issues, field, data):
    pool = {"labels": LABELS, "priority": ["High", "Low", "Medium"], "assignee": ["ann", "u-bob"],
            "status": ["Done", '"To Do"'], "project": ["CS", "ENG"], "cf[10004]": ["1", "5", "8"]}[field]
    values = data.draw(st.lists(st.sampled_from(pool), min_size=1, max_size=3))
    literals = [v if v.startswith('"') or field != "labels" else quote(v) for v in values]
    assert hits(f"{field} in ({', '.join(literals)})", issues) == hits(
        " OR ".join(f"{field} = {v}" for v in literals), issues)
    assert hits(f"{field} not in ({', '.join(literals)})", issues) == hits(
        " AND ".join(f"{field} != {v}" for v in literals), issues)


@settings(max_examples=150)
@given(issues_strategy, st.sampled_from(CLAUSES), st.sampled_from(CLAUSES))
def test_search_is_filter_then_stable_sort(issues, left, right):
    query = parse(f"{left} OR {right} ORDER BY priority DESC, key")
    found = query.search(issues, make_context())
    assert sorted(i["key"] for i in found) == sorted(hits(f"{left} OR {right}", issues))
    assert query.sort(found, make_context()) == found


@given(st.text(max_size=60))
def test_parser_fails_only_with_jql_error(text):
    try:
        parse(text).validate(make_context())
    except JqlError as exc:
        assert exc.messages and all(isinstance(m, str) and m for m in exc.messages)


JQL_PIECES = st.sampled_from(["project", "=", "CS", "AND", "OR", "NOT", "(", ")", ",", "in", "is", "EMPTY", '"x y"',
                              "labels", "~", "!", "order", "by", "desc", "cf[10004]", "5", "now()", "-1d", "'q'"])


@given(st.lists(JQL_PIECES, max_size=12))
def test_token_soup_fails_only_with_jql_error(pieces):
    try:
        parse(" ".join(pieces)).search([make_issue(1), make_issue(2, labels=["x y"])], make_context())
    except JqlError as exc:
        assert exc.messages
