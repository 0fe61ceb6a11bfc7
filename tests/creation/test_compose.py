"""The pure parts of issue creation: the description in ADF and wiki markup, duplicate ranking, the priority."""

from __future__ import annotations

from datetime import date

import pytest

from connect_app.creation import describe, meta
from connect_app.creation.duplicates import Candidate, rank
from connect_app.creation.suggest import Account, suggest
from connect_app.impact.score import Settings

CONTEXT = describe.CustomerContext(
    name="Acme [Corp] | *Ltd*", url="https://app.cscx.ai/customers/1", tier="enterprise", arr=900000.0,
    health_score=42, renewal_date="2027-01-15", days_to_renewal=43,
    stakeholders=[describe.Person("Dana O'Neil", "VP Finance", "dana@acme.example")],
    open_issues=[describe.OpenIssue("CS-1", "Invoice {totals}", "To Do", "https://jira.example/browse/CS-1")],
    requested_by="maya@cscx.example")
HOSTILE = "h1. Big\n*bold* _it_ [x|javascript:alert(1)] {noformat}\n\n----\n# item | cell \\ end"


def _texts(node):
    if node.get("type") == "text":
        yield node
    for child in node.get("content", []):
        yield from _texts(child)


def test_adf_holds_the_csm_text_literally_and_the_context_as_structure():
    doc = describe.adf(HOSTILE, CONTEXT)
    assert doc["type"] == "doc" and doc["version"] == 1
    texts = list(_texts(doc))
    assert all(t["text"] for t in texts)  # ADF refuses empty text nodes
    assert [t["text"] for t in texts[:2]] == ["h1. Big", "*bold* _it_ [x|javascript:alert(1)] {noformat}"]
    assert doc["content"][0]["content"][1] == {"type": "hardBreak"}
    link = next(t for t in texts if t["text"] == "Acme [Corp] | *Ltd*")
    assert link["marks"] == [{"type": "link", "attrs": {"href": "https://app.cscx.ai/customers/1"}}]
    values = " ".join(t["text"] for t in texts)
    for expected in ("Enterprise", "$900,000", "42/100", "2027-01-15 (in 43 days)", "Dana O'Neil (VP Finance)",
                     "CS-1", "Requested in CSCX.AI by maya@cscx.example."):
        assert expected in values
    kinds = [block["type"] for block in doc["content"]]
    assert kinds[:3] == ["paragraph", "paragraph", "rule"] and "bulletList" in kinds


def test_wiki_escapes_every_markup_character_of_the_csm_text():
    text = describe.wiki(HOSTILE, CONTEXT)
    first = text.split("\n----\n")[0]
    assert first.splitlines()[0] == r"h1\. Big"
    assert r"\*bold\* \_it\_ \[x\|javascript:alert(1)\] \{noformat\}" in first
    assert r"\-\-\-\-" in first and r"\# item \| cell \\ end" in first
    assert r"* *Customer:* [Acme \[Corp\] \| \*Ltd\*|https://app.cscx.ai/customers/1]" in text
    assert r"* [CS\-1|https://jira.example/browse/CS-1] Invoice \{totals\} (To Do)" in text


@pytest.mark.parametrize(("line", "escaped"), [("bq. quote", r"bq\. quote"), ("  h3. x", r"  h3\. x"),
                                               ("ahh1. fine", "ahh1. fine"), ("!image.png!", r"\!image.png\!")])
def test_wiki_line_markup_is_neutralised(line, escaped):
    assert describe.wiki_escape(line) == escaped


def test_duplicates_rank_close_summaries_first_and_ignore_one_shared_word():
    pool = [Candidate("CS-1", "Invoice totals are off by one cent", "To Do", 2),
            Candidate("CS-2", "Export fails on Safari", "To Do", 0),
            Candidate("CS-3", "Invoice PDF missing logo", "To Do", 0),
            Candidate("CS-4", "Rounding error in invoice totals", "In Progress", 3)]
    ranked = rank("Invoice totals off by one cent", "", pool)
    assert [c.key for c, _ in ranked] == ["CS-1", "CS-4"] and ranked[0][1] > ranked[1][1]
    assert rank("Invoice", "", [Candidate("CS-9", "Invoice PDF missing logo and footer on every page", None, 0)]) == []
    by_text = rank("Broken again", "Safari: the export fails for every user", pool)
    assert by_text and by_text[0][0].key == "CS-2"
    assert rank("", "", pool) == [] and rank("x", "", []) == []


def test_priority_follows_the_impact_band_among_the_priorities_offered():
    settings = Settings.from_mapping({})
    big = Account("Acme", "enterprise", 900_000.0, 20, date(2027, 1, 1))
    small = Account("Tiny", "startup", 5_000.0, 95, None)
    today = date(2026, 12, 3)
    high = suggest(big, "affected", ["Highest", "High", "Medium", "Low", "Lowest"], settings, 300_000.0, today)
    low = suggest(small, "watching", ["Highest", "High", "Medium", "Low", "Lowest"], settings, 300_000.0, today)
    assert high["severity"] in ("critical", "high") and high["name"] in ("Highest", "High")
    assert low["severity"] == "low" and low["name"] == "Low"
    assert "renewing in 29 days" in high["why"] and "health 20/100" in high["why"]
    nearest = suggest(small, "watching", ["Blocker", "Major", "Minor"], settings, 300_000.0, today)
    assert nearest["name"] == "Minor" and "the project has no Low" in nearest["why"]


def test_field_check_names_every_problem():
    screen = meta.CreateMeta("CS", "10001", "Bug", {f.id: f for f in map(meta.FieldMeta.parse, [
        {"fieldId": "summary", "name": "Summary", "required": True, "schema": {"type": "string"}},
        {"fieldId": "priority", "name": "Priority", "required": False, "schema": {"type": "priority"},
         "allowedValues": [{"id": "2", "name": "High"}, {"id": "3", "name": "Medium"}]},
        {"fieldId": "reporter", "name": "Reporter", "required": True, "hasDefaultValue": True,
         "schema": {"type": "user"}},
        {"fieldId": "customfield_10002", "name": "Customer Tier", "required": True,
         "schema": {"type": "option", "custom": "select"},
         "allowedValues": [{"id": "1", "value": "Enterprise"}, {"id": "2", "value": "SMB"}]},
        {"fieldId": "customfield_10006", "name": "Platforms", "required": False,
         "schema": {"type": "array", "items": "option"}, "allowedValues": [{"id": "7", "value": "Web"}]}])})
    errors = meta.check(screen, {"customfield_10006": [{"value": "Web"}, {"value": "iOS"}], "customfield_9": 1},
                        priority="Highest")
    assert set(errors) == {"priority", "fields.customfield_10002", "fields.customfield_10006", "fields.customfield_9"}
    assert errors["priority"]["allowed"] == ["High", "Medium"]
    assert errors["fields.customfield_10002"]["allowed"] == ["Enterprise", "SMB"]
    assert "'iOS'" in errors["fields.customfield_10006"]["message"]
    assert meta.check(screen, {"customfield_10002": {"id": "2"}}, priority="high") == {}
    assert meta.to_jira_value(screen.field("customfield_10006"), "Web") == [{"value": "Web"}]
    assert meta.to_jira_value(screen.field("priority"), "High") == {"name": "High"}
