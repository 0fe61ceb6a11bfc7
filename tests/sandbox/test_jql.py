"""The sandbox's JQL engine: grammar, fields, operators, functions, dates, ORDER BY and Jira's messages."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from jira_sandbox.jql import FieldDef, JqlError, SearchContext, parse, quote

NOW = datetime(2026, 1, 15, 10, 30, tzinfo=UTC)  # a Thursday
OPERATORS = "'=', '!=', '<', '>', '<=', '>=', '~', '!~', 'IN', 'NOT IN', 'IS' and 'IS NOT'"


def make_context(**overrides) -> SearchContext:
    """A small site: three projects, the support statuses, two users, five custom fields."""
    values = {
        "custom_fields": [FieldDef("customfield_10001", "Customer ID", "string"),
                          FieldDef("customfield_10002", "Customer Tier", "option"),
                          FieldDef("customfield_10003", "Affected Customers", "array"),
                          FieldDef("customfield_10004", "Story Points", "number"),
                          FieldDef("customfield_10006", "Due Date", "date")],
        "users": {"u-ann": {"accountId": "u-ann", "name": "ann", "key": "ann", "displayName": "Ann Lee",
                            "emailAddress": "ann@example.com"},
                  "u-bob": {"accountId": "u-bob", "displayName": "Bob Stone", "emailAddress": "bob@example.com"}},
        "current_user": "u-ann",
        "now": NOW,
        "statuses": {"To Do": "new", "In Progress": "indeterminate", "Done": "done", "Won't Fix": "done"},
        "priorities": ["Highest", "High", "Medium", "Low", "Lowest"],
        "projects": {"CS", "SUP", "ENG"},
    }
    values.update(overrides)
    return SearchContext(**values)


def make_issue(number: int = 1, **overrides) -> dict:
    """An issue dict in the server's storage shape; keyword overrides win."""
    project = overrides.pop("project", "CS")
    issue = {
        "id": str(10000 + number), "key": f"{project}-{number}", "project": project,
        "summary": f"Issue {number}", "description": None, "issuetype": "Bug", "status": "To Do",
        "statusCategory": "new", "priority": "Medium", "assignee": None, "reporter": "u-ann", "labels": [],
        "components": [], "resolution": None, "created": NOW - timedelta(days=number), "updated": NOW,
        "resolved": None, "customfields": {}, "changelog": [], "properties": {},
    }
    issue.update(overrides)
    return issue


@pytest.fixture
def ctx():
    return make_context()


def keys(jql: str, issues: list[dict], context: SearchContext | None = None) -> list[str]:
    return [i["key"] for i in parse(jql).search(issues, context or make_context())]


def matches(jql: str, issue: dict) -> bool:
    return parse(jql).compile(make_context())(issue)


def error(jql: str, context: SearchContext | None = None) -> str:
    with pytest.raises(JqlError) as caught:
        parse(jql).validate(context or make_context())
    return caught.value.messages[0]


# -- grammar -----------------------------------------------------------------------------------

def test_precedence_is_not_then_and_then_or():
    a, b, c = make_issue(1, labels=["a"]), make_issue(2, labels=["b", "c"]), make_issue(3, labels=["c"])
    issues = [a, b, c]
    assert keys("labels = a OR labels = b AND labels = c ORDER BY key", issues) == ["CS-1", "CS-2"]
    assert keys("(labels = a OR labels = b) AND labels = c ORDER BY key", issues) == ["CS-2"]
    assert keys("NOT labels = a AND labels = c ORDER BY key", issues) == ["CS-2", "CS-3"]
    assert keys("!(labels = a OR labels = b) ORDER BY key", issues) == ["CS-3"]


def test_keywords_and_field_names_are_case_insensitive():
    issue = make_issue(labels=["x"], status="Done")
    assert matches("PROJECT = cs and LaBeLs In (x) AnD StAtUs = done", issue)
    assert matches("project = CS && labels = x || labels = nope", issue)
    assert matches("labels IS NOT empty AND assignee is NULL", issue)


def test_values_bare_quoted_single_quoted_and_escaped():
    jql = 'labels in (plain, "two words", \'single\', "q\\"uote", \'it\\\'s\', "back\\\\slash", "\\u0041\\t\\n")'
    query = parse(jql)
    values = [item.text for item in query.where.operand.items]
    assert values == ["plain", "two words", "single", 'q"uote', "it's", "back\\slash", "A\t\n"]
    assert parse(r"labels = a\ b").where.operand.text == "a b"


def test_cf_brackets_and_functions_and_lists_parse():
    query = parse("cf[ 10004 ] in (1, 2.5, EMPTY) AND assignee = currentUser() AND created > startOfDay(-1d)")
    first, second, third = query.where.items
    assert first.field.name == "cf[10004]" and len(first.operand.items) == 3
    assert second.operand.name == "currentUser" and third.operand.args == ("-1d",)
    assert query.fields_used == {"customfield_10004", "assignee", "created"}


def test_empty_query_and_order_only():
    assert parse("").where is None and parse("   ").order_by == ()
    query = parse("ORDER BY created DESC, key")
    assert query.where is None and [k.descending for k in query.order_by] == [True, None]


@pytest.mark.parametrize(("jql", "message"), [
    ("project CS", f"Error in the JQL Query: Expecting operator but got 'CS'. The valid operators are {OPERATORS}. "
                   "(line 1, character 9)"),
    ("project", f"Error in the JQL Query: Expecting operator before the end of the query. "
                f"The valid operators are {OPERATORS}."),
    ("project =", "Error in the JQL Query: Expecting either a value, list or function before the end of the query."),
    ("project = = CS", "Error in the JQL Query: Expecting either a value, list or function but got '='. "
                       "You must surround '=' in quotation marks to use it as a value. (line 1, character 11)"),
    ("a=b c=d", "Error in the JQL Query: Expecting either 'OR' or 'AND' but got 'c'. (line 1, character 5)"),
    ("(a = b", "Error in the JQL Query: Expecting ')' before the end of the query."),
    ("a in (b c", "Error in the JQL Query: Expecting ',' or ')' but got 'c'. (line 1, character 9)"),
    ("a = b AND", "Error in the JQL Query: Expecting a field name at the end of the query."),
    ("a = b order", "Error in the JQL Query: Expecting 'by' before the end of the query."),
    ("a = b order by c blah", "Error in the JQL Query: Expecting either 'ASC' or 'DESC' but got 'blah'. "
                              "(line 1, character 18)"),
    ("order by a desc d", "Error in the JQL Query: Expecting ',' but got 'd'. (line 1, character 17)"),
    ("a not is empty", "Error in the JQL Query: Expecting 'IN' but got 'is'. (line 1, character 7)"),
    ('summary ~ "abc', "Error in the JQL Query: The quoted string 'abc' has not been completed. "
                       "(line 1, character 11)"),
    ("reporter=a/user", "Error in the JQL Query: The character '/' is a reserved JQL character. You must enclose it "
                        "in a string or use the escape '\\u002f' instead. (line 1, character 11)"),
    ("labels = a\\kb", "Error in the JQL Query: '\\k' is an illegal JQL escape sequence. The valid escape sequences "
                       "are \\', \\\", \\t, \\n, \\r, \\\\, '\\ ' and \\uXXXX. (line 1, character 11)"),
    ("summary ~ select", "Error in the JQL Query: 'select' is a reserved JQL word. You must surround it in quotation "
                         "marks to use it in a query. (line 1, character 11)"),
    ("labels = in", "Error in the JQL Query: Expecting either a value, list or function but got 'in'. "
                    "You must surround 'in' in quotation marks to use it as a value. (line 1, character 10)"),
    ("'' = c", "Error in the JQL Query: A field name cannot be empty. (line 1, character 1)"),
    ("a = f(x,)", "Error in the JQL Query: Function argument must be specified. (line 1, character 9)"),
    ("project = CS\nAND ) ", "Error in the JQL Query: Expecting a field name but got ')'. You must surround ')' in "
                             "quotation marks to use it as a field name. (line 2, character 5)"),
    ("status was Done", "Error in the JQL Query: The operator 'was' (change history) is not supported by this "
                        "Jira sandbox. (line 1, character 8)"),
])
def test_syntax_errors_read_like_jira(jql, message):
    with pytest.raises(JqlError) as caught:
        parse(jql)
    assert caught.value.messages == [message]


# -- validation --------------------------------------------------------------------------------

@pytest.mark.parametrize(("jql", "message"), [
    ("foo = bar", "Field 'foo' does not exist or you do not have permission to view it."),
    ("cf[99999] = 1", "Field 'cf[99999]' does not exist or you do not have permission to view it."),
    ("project = XYZ", "The value 'XYZ' does not exist for the field 'project'."),
    ("status = Frozen", "The value 'Frozen' does not exist for the field 'status'."),
    ("priority = Urgent", "The value 'Urgent' does not exist for the field 'priority'."),
    ("assignee = nobody", "The value 'nobody' does not exist for the field 'assignee'."),
    ("statusCategory = Blocked", "The value 'Blocked' does not exist for the field 'statusCategory'."),
    ("resolution = Nope", "The value 'Nope' does not exist for the field 'resolution'."),
    ("summary = test", "The operator '=' is not supported by the 'summary' field."),
    ("Summary is EMPTY", "The operator 'is' is not supported by the 'Summary' field."),
    ('"Customer ID" = acme', "The operator '=' is not supported by the 'Customer ID' field."),
    ("labels ~ x", "The operator '~' is not supported by the 'labels' field."),
    ("status > Done", "The operator '>' is not supported by the 'status' field."),
    ("text !~ x", "The operator '!~' is not supported by the 'text' field."),
    ("summary in test", "Operator 'in' does not support the non-list value '\"test\"' for field 'summary'."),
    ("project = (CS, SUP)", "Operator '=' does not support the list value '(\"CS\", \"SUP\")' for field 'project'."),
    ("created > tomorrow", "Date value 'tomorrow' for field 'created' is invalid. Valid formats include: "
                           "'yyyy/MM/dd HH:mm', 'yyyy-MM-dd HH:mm', 'yyyy/MM/dd', 'yyyy-MM-dd', "
                           "or a period format e.g. '-5d', '4w 2d'."),
    ('updated < "2026-02-30"', "Date value '2026-02-30' for field 'updated' is invalid. Valid formats include: "
                               "'yyyy/MM/dd HH:mm', 'yyyy-MM-dd HH:mm', 'yyyy/MM/dd', 'yyyy-MM-dd', "
                               "or a period format e.g. '-5d', '4w 2d'."),
    ("assignee = membersOf(devs)", "Unable to find JQL function 'membersOf()'."),
    ("status = now()", "A value provided by the function 'now' is invalid for the field 'status'."),
    ("created > now(1)", "Function 'now' expected '0' arguments but received '1'."),
    ("created > startOfDay(bad)", "Duration for function 'startOfDay' should have the format (+/-)n(yMwdm), "
                                  "e.g -1M for 1 month earlier."),
    ("key = 12x", "The issue key '12x' for field 'key' is invalid."),
    ("summary ~ x ORDER BY text", "Not able to sort using field 'text'."),
    ("project = CS ORDER BY nope", "Field 'nope' does not exist or you do not have permission to view it."),
])
def test_validation_errors_read_like_jira(jql, message):
    assert error(jql) == message


def test_search_validates_before_touching_issues():
    with pytest.raises(JqlError):
        parse("project = NOPE").search([], make_context())


# -- fields and operators ----------------------------------------------------------------------

def test_project_key_and_id():
    issues = [make_issue(1), make_issue(2, project="SUP"), make_issue(12)]
    assert keys("project = cs ORDER BY key", issues) == ["CS-1", "CS-12"]
    assert keys("project in (SUP, ENG)", issues) == ["SUP-2"]
    assert keys("key = CS-12", issues) == keys("issuekey = cs-12", issues) == keys("id = 10012", issues) == ["CS-12"]
    assert keys("key in (CS-1, SUP-2) ORDER BY key ASC", issues) == ["CS-1", "SUP-2"]
    assert keys("key > CS-1 ORDER BY key", issues) == ["CS-12"]
    assert keys("key <= CS-12 AND key != CS-1", issues) == ["CS-12"]
    assert keys("id >= 10002 ORDER BY id", issues) == ["CS-12", "SUP-2"]  # keys sort by project, then number


def test_labels_are_case_sensitive_and_multi_valued():
    issues = [make_issue(1, labels=["a", "b"]), make_issue(2, labels=["A"]), make_issue(3, labels=[])]
    assert keys("labels = a", issues) == ["CS-1"]
    assert keys("labels != a ORDER BY key", issues) == ["CS-2"]  # != never matches EMPTY
    assert keys("labels not in (a, b)", issues) == ["CS-2"]
    assert keys("labels in (b, EMPTY) ORDER BY key", issues) == ["CS-1", "CS-3"]
    assert keys("labels is EMPTY", issues) == keys("labels = EMPTY", issues) == ["CS-3"]
    assert keys("labels is not EMPTY ORDER BY key", issues) == keys("labels != null ORDER BY key", issues)


def test_component_issuetype_and_option_are_case_insensitive():
    issue = make_issue(components=["Web UI", "API"], issuetype="Story",
                       customfields={"customfield_10002": "Enterprise"})
    assert matches('component = "web ui" AND type = story AND issuetype in (Bug, STORY)', issue)
    assert matches('"Customer Tier" = enterprise AND cf[10002] != SMB', issue)
    assert not matches("component not in (api)", issue)


def test_status_and_status_category():
    issues = [make_issue(1, status="In Progress", statusCategory="indeterminate"),
              make_issue(2, status="Done", statusCategory="done")]
    assert keys('status = "in progress"', issues) == ["CS-1"]
    assert keys("status != Done", issues) == ["CS-1"]
    for value in ("done", "Done", '"Done"', "3"):
        assert keys(f"statusCategory = {value}", issues) == ["CS-2"]
    assert keys('statusCategory in (new, "In Progress")', issues) == ["CS-1"]


def test_priority_orders_by_rank():
    issues = [make_issue(1, priority="Highest"), make_issue(2, priority="Low"), make_issue(3, priority=None)]
    assert keys("priority > Medium", issues) == ["CS-1"]
    assert keys("priority <= low", issues) == ["CS-2"]
    assert keys("priority is EMPTY", issues) == ["CS-3"]
    assert keys("NOT priority > Medium", issues) == ["CS-2"]  # De Morgan: <= Medium, EMPTY excluded


def test_users_match_any_identifier_and_current_user(ctx):
    issues = [make_issue(1, assignee="u-ann"), make_issue(2, assignee="u-bob"), make_issue(3)]
    for value in ("u-ann", "ann", '"Ann Lee"', '"ANN@example.com"', "currentUser()"):
        assert keys(f"assignee = {value}", issues) == ["CS-1"]
    assert keys("assignee != currentUser()", issues) == ["CS-2"]
    assert keys("assignee in (ann, 'bob@example.com') ORDER BY key", issues) == ["CS-1", "CS-2"]
    assert keys("assignee is EMPTY", issues) == ["CS-3"]
    anonymous = make_context(current_user=None)
    assert keys("assignee = currentUser()", issues, anonymous) == []
    assert keys("reporter = ann", issues) == ["CS-1", "CS-2", "CS-3"]


@pytest.mark.parametrize("literal", ['"2026-01-10"', '"2026/01/10"', "2026-01-10", '"2026-01-10 00:00"',
                                     "-5d10h30m", '"-5d 10h 30m"', "1768003200000"])
def test_date_forms_all_mean_the_same_instant(literal):
    at = datetime(2026, 1, 10, tzinfo=UTC)
    before, on, after = (make_issue(1, created=at - timedelta(minutes=1)), make_issue(2, created=at),
                         make_issue(3, created=at + timedelta(minutes=1)))
    issues = [before, on, after]
    assert keys(f"created >= {literal} ORDER BY key", issues) == ["CS-2", "CS-3"]
    assert keys(f"created < {literal}", issues) == ["CS-1"]
    assert keys(f"created = {literal}", issues) == ["CS-2"]


def test_relative_dates_and_date_functions():
    issues = [make_issue(1, updated=NOW - timedelta(hours=3)), make_issue(2, updated=NOW - timedelta(days=8)),
              make_issue(3, updated=NOW - timedelta(minutes=10))]
    assert keys("updated >= -4h ORDER BY key", issues) == ["CS-1", "CS-3"]
    assert keys('updated > "-15m"', issues) == ["CS-3"]
    assert keys("updatedDate < -1w", issues) == ["CS-2"]
    assert keys("updated >= -1w1d ORDER BY key", issues) == ["CS-1", "CS-2", "CS-3"]
    assert keys("updated >= startOfDay() ORDER BY key", issues) == ["CS-1", "CS-3"]
    assert keys("updated < startOfWeek() AND updated > startOfWeek(-1w)", issues) == ["CS-2"]
    assert keys("updated <= now() AND updated <= endOfMonth() AND updated > startOfYear(-1y)", issues) != []


def test_resolution_and_resolved():
    issues = [make_issue(1, resolution="Done", resolved=NOW - timedelta(days=1)), make_issue(2)]
    assert keys("resolution = Unresolved", issues) == keys("resolution is EMPTY", issues) == ["CS-2"]
    assert keys('resolution in ("done", "Won\'t Fix")', issues) == ["CS-1"]
    assert keys("resolved >= -2d", issues) == keys("resolutiondate is not EMPTY", issues) == ["CS-1"]


def test_text_search_words_prefixes_and_phrases():
    issue = make_issue(summary="Login fails after password reset",
                       description="Customer Acme sees error 500", comments=[{"body": "Reproduced on staging"}],
                       customfields={"customfield_10001": "acme-corp"})
    assert matches('summary ~ "login fails"', issue) and matches('summary ~ "fail reset"', issue)
    assert matches('summary ~ "pass*"', issue) and matches('summary ~ "log?n"', issue)
    assert matches('summary ~ "\\"password reset\\""', issue) and not matches('summary ~ "\\"reset password\\""', issue)
    assert not matches('summary ~ "logout"', issue) and matches('summary !~ "logout"', issue)
    assert matches("description ~ ACME", issue) and matches("comment ~ staging", issue)
    assert matches('text ~ "staging error"', issue) and matches('text ~ "corp"', issue)
    assert matches('"Customer ID" ~ acme', issue) and matches("cf[10001] is not EMPTY", issue)
    assert not matches("description ~ x", make_issue()) and not matches("description !~ x", make_issue())
    assert matches("description is EMPTY", make_issue())


def test_custom_fields_by_id_bracket_and_name():
    issues = [make_issue(1, customfields={"customfield_10004": 5, "customfield_10003": ["acme", "globex"]}),
              make_issue(2, customfields={"customfield_10004": 12.5})]
    for field in ("cf[10004]", "customfield_10004", '"Story Points"', '"story points"', "CUSTOMFIELD_10004"):
        assert keys(f"{field} > 6", issues) == ["CS-2"]
    assert keys('"Affected Customers" = acme', issues) == ["CS-1"]
    assert keys("cf[10003] is EMPTY", issues) == ["CS-2"]
    assert keys("cf[10004] in (5, 7)", issues) == ["CS-1"]
    due = [make_issue(3, customfields={"customfield_10006": "2026-01-20"})]
    assert keys('"Due Date" > "2026-01-19" AND "Due Date" < 2026-01-21', due) == ["CS-3"]


def test_injection_through_quote_cannot_change_structure():
    hostile = 'Acme "Corp" OR 1=1'
    query = parse(f"labels = {quote(hostile)} AND project = CS")
    assert query.where.items[0].operand.text == hostile and len(query.where.items) == 2
    issues = [make_issue(1, labels=[hostile]), make_issue(2, labels=["Acme"])]
    assert keys(f"labels = {quote(hostile)}", issues) == ["CS-1"]
    assert quote('a"b\\c\x01') == '"a\\"b\\\\c\\u0001"'


# -- ordering ----------------------------------------------------------------------------------

def test_order_by_fields_directions_and_empty_last():
    issues = [make_issue(1, priority="Low", assignee="u-bob"), make_issue(2, priority=None, assignee="u-ann"),
              make_issue(3, priority="High"), make_issue(10, priority="Low")]
    assert keys("project = CS ORDER BY priority DESC, key ASC", issues) == ["CS-3", "CS-1", "CS-10", "CS-2"]
    assert keys("project = CS ORDER BY priority ASC, key DESC", issues) == ["CS-10", "CS-1", "CS-3", "CS-2"]
    assert keys("project = CS ORDER BY key", issues) == ["CS-1", "CS-2", "CS-3", "CS-10"]
    assert keys("project = CS ORDER BY assignee", issues) == ["CS-2", "CS-1", "CS-3", "CS-10"]
    assert keys("project = CS ORDER BY summary DESC", issues)[0] == "CS-3"


def test_default_order_is_newest_first_and_sort_is_stable():
    issues = [make_issue(3), make_issue(1), make_issue(2)]
    assert keys("project = CS", issues) == ["CS-1", "CS-2", "CS-3"]
    same = [make_issue(n, labels=["x"]) for n in (5, 4, 6)]
    assert [i["key"] for i in parse("ORDER BY labels").sort(same, make_context())] == ["CS-5", "CS-4", "CS-6"]
