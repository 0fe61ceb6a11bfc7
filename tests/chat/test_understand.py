"""Reading chat messages: every utterance of the shared table (intent and all entities), and the parts of the
reading one by one — keys, customer names, ambiguity, follow-up picks, choices that read back the same."""

from __future__ import annotations

import pytest

from connect_app.chat.replies import command_text
from connect_app.chat.understand import (
    Context,
    CustomerRef,
    NameIndex,
    core_of,
    customers_named,
    name_key,
    pick,
    understand,
)
from tests.chat.utterances import CUSTOMERS, PROJECT_KEYS, UTTERANCES, Utterance

REFS = [CustomerRef(f"id-{n}", name, slug, external_id) for n, (name, slug, external_id) in enumerate(CUSTOMERS)]
BY_NAME = {ref.name: ref for ref in REFS}
INDEX = NameIndex(REFS)


def context_of(utterance: Utterance) -> Context:
    """The utterance's context as the API would give it (a customer by name, an issue key)."""
    return Context(BY_NAME.get(utterance.context.get("customer")), utterance.context.get("issue_key"))


def labelled(reading) -> dict:
    """A reading in the table's terms: customer by name, candidates as choices, the clarified intent as `of`."""
    entities = reading.entities()
    found = {name: entities[name] for name in ("issue_key", "event", "issue_type", "summary", "filters")
             if name in entities}
    if "customer" in entities:
        found["customer"] = entities["customer"]["name"]
    if reading.intent == "clarify":
        found["choices"] = sorted(m.customer.name for m in reading.candidates)
        found["of"] = reading.of
    return found


def expected(utterance: Utterance) -> dict:
    wanted = dict(utterance.entities)
    if "choices" in wanted:
        wanted["choices"] = sorted(wanted["choices"])
    return wanted


def test_the_table_is_big_enough_and_covers_every_intent():
    assert len(UTTERANCES) >= 150
    assert {u.intent for u in UTTERANCES} == {"show_issues", "issue_status", "create_issue", "subscribe",
                                              "unsubscribe", "list_subscriptions", "help", "clarify", "unknown"}
    assert len({u.text for u in UTTERANCES}) == len(UTTERANCES), "each utterance once"
    assert sum(1 for u in UTTERANCES if u.context) >= 15, "context-relative ones"


@pytest.mark.parametrize("utterance", UTTERANCES, ids=[u.text for u in UTTERANCES])
def test_utterance_intent_and_entities(utterance):
    reading = understand(utterance.text, INDEX, context_of(utterance), PROJECT_KEYS)
    assert (reading.intent, labelled(reading)) == (utterance.intent, expected(utterance)), reading.why


def test_reading_is_deterministic_and_explained():
    for utterance in UTTERANCES[::7]:
        first = understand(utterance.text, INDEX, context_of(utterance), PROJECT_KEYS)
        again = understand(utterance.text, NameIndex(reversed(REFS)), context_of(utterance), PROJECT_KEYS)
        assert (first.intent, labelled(first)) == (again.intent, labelled(again))
        assert first.why and first.why[0].startswith(f"intent {first.action}: ")
        if first.intent == "clarify":
            assert first.why[-1] == f"so: ask which customer, then {first.of}"


@pytest.mark.parametrize(("text", "key"), [
    ("status cs-7", "CS-7"), ("status CS-007", "CS-7"), ("status Eng-12?", "ENG-12"), ("(SUP-3)", "SUP-3"),
    ("status of cs42", "CS-42"), ("status of xy42", None), ("what about covid19", None), ("status v-2", None),
])
def test_issue_keys_in_any_case_and_without_a_dash_only_for_known_projects(text, key):
    assert understand(text, INDEX, project_keys=PROJECT_KEYS).issue_key == key


def test_names_match_by_name_suffixless_name_slug_external_id_and_first_words():
    assert name_key("  Ünïcode & Sons, Inc. ") == "unicode and sons inc"
    assert core_of("the acme corp inc") == "acme"
    assert [m.customer.name for m in INDEX.lookup("fabrikam")] == ["Fabrikam Inc"]
    assert [m.customer.name for m in INDEX.lookup("blue-sky-analytics")] == ["Blue Sky Analytics"]
    assert [m.customer.name for m in INDEX.lookup("0015G00000GLBX1")] == ["Globex"]
    assert [(m.customer.name, m.score) for m in INDEX.lookup("acme")] == [("Acme Corp", 0.97), ("Acme Labs", 0.9)]
    assert [(m.customer.name, m.score) for m in INDEX.lookup("acme corp")] == [("Acme Corp", 1.0)]


def test_a_typo_matches_fuzzily_with_its_score_and_a_close_call_asks():
    reading = understand("bugs for stark industires", INDEX)
    assert reading.customer.customer.name == "Stark Industries"
    assert reading.customer.score == 0.9  # "stark" is the start of the name: exact words beat a fuzzy match
    reading = understand("bugs for umbrela", INDEX)
    assert reading.customer.customer.name == "Umbrella Corporation" and 0.85 <= reading.customer.score < 1
    assert "reads like the name" in reading.why[1]
    twins = NameIndex([CustomerRef("1", "Globex"), CustomerRef("2", "Globax"), CustomerRef("3", "Hooli")])
    reading = understand("bugs for globx", twins)
    assert reading.intent == "clarify" and reading.of == "show_issues"
    assert sorted(m.customer.name for m in reading.candidates) == ["Globax", "Globex"]


def test_a_name_fitting_no_customer_is_reported_and_the_context_is_not_used_instead():
    reading = understand("show issues for zyxcorp", INDEX, Context(BY_NAME["Hooli"]))
    assert reading.customer is None and reading.unmatched == "zyxcorp"
    assert understand("show issues", INDEX, Context(BY_NAME["Hooli"])).customer.customer.name == "Hooli"


def test_command_words_inside_a_customer_name_are_the_name_not_filters():
    reading = understand("show issues for priority health", INDEX)
    assert reading.customer.customer.name == "Priority Health" and "priority" not in reading.filters
    reading = understand("open road media tickets", INDEX)
    assert reading.customer.customer.name == "Open Road Media" and reading.filters == {"open": True}


def test_mistyped_command_words_are_mended_but_customer_words_never():
    reading = understand("notfy me when cs-1 is resloved", INDEX)
    assert (reading.intent, reading.event) == ("subscribe", "resolved")
    assert "read 'notfy' as 'notify'" in reading.why
    tricky = NameIndex([CustomerRef("1", "Tickets Unlimited")])
    assert understand("show issues for tickets unlimited", tricky).customer.customer.name == "Tickets Unlimited"


def test_several_events_are_all_kept_in_order():
    reading = understand("alert me when cs-5 moves to development or is resolved", INDEX)
    assert reading.event == "moved_to_development"
    assert reading.event_kinds == ["moved_to_development", "resolved"]
    assert understand("watch cs-5", INDEX).event_kinds == []


def test_summary_keeps_the_original_case_and_a_key_in_it_is_not_the_issue():
    reading = understand("file a bug for Hooli: SAML fails since CS-12 shipped", INDEX)
    assert reading.summary == "SAML fails since CS-12 shipped"
    assert reading.issue_key is None and reading.customer.customer.name == "Hooli"
    reading = understand("file a bug for globex export fails on Safari", INDEX)
    assert (reading.customer.customer.name, reading.summary) == ("Globex", "Export fails on Safari")


@pytest.mark.parametrize(("text", "choice"), [
    ("the first one", 0), ("1", 0), ("2nd", 1), ("#2", 1), ("option 2", 1), ("the last one", 1), ("Acme Labs", 1),
    ("acme corp please", 0), ("labs", 1), ("the third one", None), ("acme", None), ("globex", None),
])
def test_pick_reads_ordinals_labels_and_distinguishing_words(text, choice):
    assert pick(text, ["Acme Corp", "Acme Labs"]) == choice


def test_a_bare_follow_up_names_a_customer():
    assert [m.customer.name for m in customers_named("for globex", INDEX)] == ["Globex"]
    assert sorted(m.customer.name for m in customers_named("acme", INDEX)) == ["Acme Corp", "Acme Labs"]
    assert customers_named("never mind", INDEX) == []


@pytest.mark.parametrize("utterance", [u for u in UTTERANCES if u.intent == "clarify"], ids=lambda u: u.text)
def test_each_choice_text_reads_back_as_the_clarified_command(utterance):
    reading = understand(utterance.text, INDEX, context_of(utterance), PROJECT_KEYS)
    for match in reading.candidates:
        text = command_text(reading.of, reading.entities(), customer=match.customer.name)
        again = understand(text, INDEX, project_keys=PROJECT_KEYS)
        assert again.intent == reading.of, text
        assert again.customer.customer == match.customer, text
        assert {k: v for k, v in again.entities().items() if k != "customer"} == reading.entities(), text


@pytest.mark.parametrize("filters", [{}, {"open": True}, {"status_category": "done", "type": "Bug"},
                                     {"status_category": "indeterminate"}, {"status_category": "new"},
                                     {"open": True, "priority": "Highest", "type": "Story"}, {"type": "Task"}])
def test_show_choice_texts_keep_their_filters(filters):
    text = command_text("show_issues", {"filters": filters}, customer="Globex")
    assert understand(text, INDEX).filters == filters, text
