"""validate.py: each rule on crafted model answers (no model needed)."""

from __future__ import annotations

import json

import pytest

from offmem.errors import SummarizerError
from offmem.summarize import prompts, validate
from offmem.summarize.validate import JunkOutputError

SOURCE = (
    "Project: shop-api\n"
    "1. user asked: Fix the VAT calculation for EU carts\n"
    "2. read cart/vat.py (7 lines): RATES = {\"DE\": 0.19, \"FR\": 0.20, \"IT\": 0.22} | def vat(amount, country):\n"
    "3. $ python3 check.py -> FAILED (exit 1): assert vat(100, \"DE\") == 19.0, vat(100, \"DE\") | AssertionError: 20.0\n"
    "4. edit cart/vat.py: `rate = 0.2` -> `rate = RATES[country]`\n"
    "5. $ python3 check.py -> ok: ok"
)
EXAMPLES = [prompts.OBSERVATION_EXAMPLE_LOG, json.dumps(prompts.OBSERVATION_EXAMPLE)]
GOOD = {
    "type": "bugfix",
    "title": "VAT now uses the per-country rate",
    "concepts": ["vat", "tax rates"],
    "evidence": [3, 4],
    "summary": "The check expected 19.0 for Germany but got 20.0 because vat() used one flat rate. "
    "Looking the rate up by country fixed it.",
}
EXPECTED = {"type": "bugfix", "title": GOOD["title"], "concepts": GOOD["concepts"], "picks": [3, 4],
            "summary": GOOD["summary"]}


def check(answer: dict, default_type: str = "change") -> dict:
    return validate.observation(answer, SOURCE, EXAMPLES, default_type, evidence_count=5)


def test_a_good_answer_passes_unchanged():
    assert check(dict(GOOD)) == EXPECTED


def test_junk_is_a_summarizer_error_so_the_pipeline_falls_back():
    assert issubclass(JunkOutputError, SummarizerError)


# ---------------------------------------------------------------- parsing


@pytest.mark.parametrize("text", ["", "   ", "I think the user fixed VAT.", "[1, 2, 3]", '{"title": "x",', "null"])
def test_answers_without_a_json_object_are_rejected(text):
    with pytest.raises(JunkOutputError):
        validate.parse_json_object(text)


def test_fenced_json_with_chatter_is_accepted():
    text = "Here it is:\n```json\n" + json.dumps(GOOD) + "\n```"
    assert validate.parse_json_object(text) == GOOD


def test_an_answer_that_is_not_an_object_is_rejected():
    with pytest.raises(JunkOutputError):
        validate.observation(["title"], SOURCE, EXAMPLES)


# ---------------------------------------------------------------- empty


@pytest.mark.parametrize("title", ["", "   ", None, "...", "VAT"])
def test_empty_or_one_word_titles_leave_the_title_to_the_draft(title):
    out = check({**GOOD, "title": title})
    assert out["title"] == "" and out["picks"] == [3, 4]  # the rest of the answer still serves


@pytest.mark.parametrize("title", ["", "VAT"])
def test_an_answer_with_nothing_usable_is_rejected(title):
    with pytest.raises(JunkOutputError):
        check({"type": "bugfix", "title": title, "concepts": [], "evidence": [], "summary": ""})


def test_empty_optional_fields_are_dropped_not_fatal():
    out = check({**GOOD, "summary": "", "concepts": [], "evidence": []})
    assert out["summary"] == "" and out["concepts"] == [] and out["picks"] == []


FIELDS = ("learned", "completed")
COUNTS = {"learned": 4, "completed": 3}


def test_a_summary_that_chose_no_clause_is_rejected():
    with pytest.raises(JunkOutputError, match="chose no clause"):
        validate.session_summary({"learned": [], "completed": [9, 0]}, FIELDS, COUNTS)


def test_summary_clauses_are_kept_in_range_once_in_the_models_order():
    out = validate.session_summary({"learned": [3, 3, 1, 7, 2, 4], "completed": [2], "request": [1]}, FIELDS, COUNTS)
    assert out == {"learned": [3, 1, 2], "completed": [2]}  # at most three; only the fields asked


# ---------------------------------------------------------------- repetition


@pytest.mark.parametrize(
    "text",
    [
        "it now also looks up RATES[country]; it now also looks up RATES[country]; "
        "it now also looks up RATES[country]; it now also looks up RATES[country];",
        "vats.py.py.py.py.py.py.py.py.py",
        "the the the the the the the the the",
        "fixed!!!!!!!!!!!!",
        "VAT rate VAT rate VAT rate VAT rate VAT rate VAT rate fixed",
    ],
)
def test_repetitive_text_is_detected(text):
    assert validate.is_repetitive(text)


@pytest.mark.parametrize(
    "text",
    [
        GOOD["summary"],
        "Ran the VAT check twice: it failed with AssertionError 20.0, then passed after the edit.",
        "Version 1.2.3 of the parser is pinned.",
    ],
)
def test_ordinary_sentences_are_not_repetitive(text):
    assert not validate.is_repetitive(text)


def test_repetitive_title_is_dropped():
    assert check({**GOOD, "title": "fix fix fix fix fix fix fix fix"})["title"] == ""


def test_repetitive_summary_is_dropped():
    loop = "The rate is defined in vat. This is a valid way. This is a valid way. This is a valid way. This is a valid way."
    assert check({**GOOD, "summary": loop})["summary"] == ""




# ---------------------------------------------------------------- copied from the prompt


def test_quoting_the_evidence_is_what_the_model_is_asked_to_do():
    quoted = "read cart/vat.py (7 lines): RATES = {\"DE\": 0.19, \"FR\": 0.20, \"IT\": 0.22} | def vat(amount, country)"
    assert check({**GOOD, "summary": quoted})["summary"] == quoted


def test_a_summary_that_repeats_the_title_or_is_a_fragment_is_dropped():
    assert check({**GOOD, "summary": GOOD["title"]})["summary"] == ""
    assert check({**GOOD, "summary": "A minimal"})["summary"] == ""


def test_parroting_the_example_title_rejects_the_answer():
    with pytest.raises(JunkOutputError, match="example"):
        check({**GOOD, "title": prompts.OBSERVATION_EXAMPLE["title"]})


def test_parroting_the_example_summary_rejects_the_answer():
    with pytest.raises(JunkOutputError):
        check({**GOOD, "summary": prompts.OBSERVATION_EXAMPLE["summary"]})


def test_copied_fraction_counts_words_in_shared_spans():
    grams = validate.ngrams(validate.words("one two three four five six seven"), 3)
    assert validate.copied_fraction("one two three x y z", grams, 3) == 0.5
    assert validate.copied_fraction("a b c d e f", grams, 3) == 0.0


# ---------------------------------------------------------------- file-name-only titles


@pytest.mark.parametrize("title", ["cart/vat.py", "vat.py", "Read cart/vat.py", "Edited vat.py and NOTES.md", "`src/app.ts`"])
def test_file_name_only_titles_are_dropped(title):
    assert check({**GOOD, "title": title})["title"] == ""
    with pytest.raises(JunkOutputError, match="only files"):  # and with nothing else usable, it is the reason
        check({"title": title, "concepts": [], "evidence": [], "summary": ""})


@pytest.mark.parametrize("title", ["Fix rounding in cart/vat.py", "RATES defined in cart/vat.py", "Add UK rate"])
def test_titles_that_name_a_file_and_say_something_pass(title):
    assert check({**GOOD, "title": title})["title"] == title


def test_file_names_are_not_concepts():
    out = check({**GOOD, "concepts": ["cart/vat.py", "vat.py", "VAT", "tax rates"]})
    assert out["concepts"] == ["vat", "tax rates"]


# ---------------------------------------------------------------- types


@pytest.mark.parametrize(
    "given,expected",
    [("bugfix", "bugfix"), ("BugFix", "bugfix"), ("fix", "bugfix"), ("Refactoring", "refactor"),
     ("investigation", "discovery"), ("design", "decision"), ("update", "change")],
)
def test_type_synonyms_map_to_observation_types(given, expected):
    assert check({**GOOD, "type": given})["type"] == expected


@pytest.mark.parametrize("given", ["security_alert", "", None, "42"])
def test_unknown_types_take_the_drafts_type(given):
    assert check({**GOOD, "type": given}, default_type="discovery")["type"] == "discovery"


@pytest.mark.parametrize("field", ["title", "summary"])
def test_wrong_types_for_text_fields_reject_the_answer(field):
    with pytest.raises(JunkOutputError, match="should be text"):
        check({**GOOD, field: {"text": "x"}})


def test_wrong_type_for_a_list_field_rejects_the_answer():
    with pytest.raises(JunkOutputError, match="should be a list"):
        check({**GOOD, "concepts": 3})


def test_a_concepts_string_is_split():
    assert check({**GOOD, "concepts": "vat, tax rates"})["concepts"] == ["vat", "tax rates"]


def test_evidence_numbers_are_kept_in_range_once_in_the_models_order():
    assert check({**GOOD, "evidence": [4, 9, 0, -1, 4, "#2", True, "x", 1, 5, 3]})["picks"] == [4, 2, 1, 5, 3]
    assert check({**GOOD, "evidence": 2})["picks"] == [2]


def test_summary_field_written_as_text_rejects_the_answer():
    with pytest.raises(JunkOutputError, match="list of clause numbers"):
        validate.session_summary({"learned": [1], "completed": "Fixed the VAT rate"}, FIELDS, COUNTS)


# ---------------------------------------------------------------- over-long fields


def test_over_long_fields_are_trimmed_at_a_boundary():
    long_title = ("Make the VAT calculation look up per-country rates so that German, French and Italian "
                  "carts are charged their own tax instead of a flat twenty percent")
    long_summary = ("The VAT check expected 19.0 for German carts but got 20.0, because vat() ignored its country "
                    "argument and multiplied every amount by one flat rate of 0.2; after the edit it reads the rate "
                    "from RATES by country code, and python3 check.py prints ok for DE, FR and IT alike.")
    out = check({**GOOD, "title": long_title, "summary": long_summary})
    assert len(out["title"]) <= prompts.TITLE_MAX and out["title"].endswith("…")
    assert not out["title"][:-1].endswith(" ")
    assert 0 < len(out["summary"]) <= prompts.SUMMARY_SENTENCE_MAX


def test_trim_prefers_a_sentence_end():
    text = "First sentence is here. Second one is long enough to be cut somewhere in the middle of it."
    assert validate.trim(text, 40) == "First sentence is here."
    # a sentence end too early to keep: cut at a word instead
    assert validate.trim(text, 60) == "First sentence is here. Second one is long enough to be cut…"
    assert validate.trim("short", 60) == "short"
    # exactly at the limit: the grammar's maxLength cut it, so the broken last word goes
    assert validate.trim("VAT calculation now looks up RATES in cart/vat.py. VAT now uses per-cab", 71) == (
        "VAT calculation now looks up RATES in cart/vat.py.")


def test_lists_are_deduplicated_and_capped():
    out = check({**GOOD, "concepts": ["vat", "VAT", "a", "b", "c", "d", "e"], "evidence": [1, 1, 2, 3, 4, 5]})
    assert out["concepts"] == ["vat", "a", "b", "c"]
    assert out["picks"] == [1, 2, 3, 4, 5][: prompts.PICKS_MAX_ITEMS]
