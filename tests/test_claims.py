"""The claim check (offmem/summarize/claims.py) on real payload text: what a model may keep, what it loses.

Sources are the recorded Claude Code hook payloads of tests/fixtures (the VAT fix
session) and a real public transcript of eval/transcripts (the pomodoro timer).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from offmem.summarize import claims
from offmem.summarize.base import merge_observation
from offmem.summarize.claims import ClaimCheck, ClaimTally, SourceText, event_texts, payload_texts
from offmem.summarize import rules
from tests.support.fixture_events import PROJECT, payloads, session_events

POMODORO = Path(__file__).resolve().parents[1] / "eval" / "transcripts" / "sessions" / "pomodoro-timer.jsonl"


@pytest.fixture(scope="module")
def vat() -> SourceText:
    return SourceText(event_texts(session_events(0)))


@pytest.fixture(scope="module")
def pomodoro() -> SourceText:
    texts: list[str] = []
    with open(POMODORO, encoding="utf-8") as fh:
        for line in fh:
            texts += payload_texts(json.loads(line).get("message") or {})
    return SourceText(texts)


# ---------------------------------------------------------------- what the session supports


@pytest.mark.parametrize("claim", [
    "VAT now uses per-country RATES",
    "vat() looks up RATES[country]; DE gives 19.0",
    "Fixed the VAT rate lookup in cart/vat.py",
    "The assertion expected 19.0 but got 20.0",
    "`python3 check.py` passed after the edit",
    "UK is missing from RATES",
    "Notes written to NOTES.md",
])
def test_what_the_payloads_say_is_supported(vat, claim):
    verdict = vat.check(claim)
    assert verdict.supported, verdict.missing


@pytest.mark.parametrize("claim,invented", [
    ("Fixed the VAT lookup in src/cart/tax.py", "src/cart/tax.py"),  # a path nobody opened
    ("The fix is in billing.py", "billing.py"),  # a file name
    ("Updated get_vat_rate() to read RATES", "get_vat_rate"),  # an identifier (snake_case)
    ("vat() now calls taxRateFor(country)", "taxRateFor"),  # a function nobody called
    ("Cached the rates with functools.lru_cache", "functools.lru_cache"),  # a dotted name
    ("DE gives 21.0 now", "21.0"),  # a number nobody printed
    ("All 12 checks pass", "12"),
    ("Run it with --strict to see the error", "--strict"),  # a flag
    ("`pytest -q` passed", "`pytest -q`"),  # a quoted command that never ran
])
def test_an_invented_identifier_path_or_number_is_unsupported(vat, claim, invented):
    verdict = vat.check(claim)
    assert not verdict.supported and invented in verdict.missing


def test_filler_the_session_never_mentions_is_unsupported(vat):
    verdict = vat.check("This allowed for more efficient and readable code")
    assert not verdict.supported and {"efficient", "readable"} <= set(verdict.missing)


def test_a_change_claimed_about_work_that_changed_nothing_is_unsupported(vat):
    assert not vat.check("Refactored the cart module", changed=False).supported
    assert vat.check("Refactored the cart module", changed=True).supported
    # a change verb the sources themselves use is no invention ("Add UK rate" is the task's subject)
    assert vat.check("Add UK rate", changed=False).supported


def test_words_are_compared_by_stem_and_camel_case_is_split(vat):
    assert vat.has_word("countries") and vat.has_word("fixing")  # "country", "Fixed:" in the payloads
    assert not vat.has_word("kubernetes")
    assert vat.check("assertion error on the rates").supported  # AssertionError -> assertion, error
    assert vat.check("per-country rate lookups").supported


def test_the_payloads_metadata_is_no_source():
    (start,) = [p for p in payloads() if p["hook_event_name"] == "SessionStart"][:1]
    texts = payload_texts(start)
    assert start["transcript_path"] not in texts and start["session_id"] not in texts
    assert "/home/dev/shop-api" in texts  # the working directory is content: paths under it are real


def test_a_real_transcript_supports_its_facts_and_not_their_neighbours(pomodoro):
    for claim in ("A single toggle button replaces Start and Pause",
                  "WORK_TIME and BREAK_TIME set the durations",
                  "The beep comes from the Web Audio API with createOscillator"):
        verdict = pomodoro.check(claim)
        assert verdict.supported, (claim, verdict.missing)
    for claim, invented in (("LONG_BREAK_TIME sets the long break", "LONG_BREAK_TIME"),
                            ("The beep is playNotificationChime()", "playNotificationChime"),
                            ("A work session lasts 240 minutes", "240")):
        verdict = pomodoro.check(claim)
        assert not verdict.supported and invented in verdict.missing, claim


# ---------------------------------------------------------------- sentences, counting, dropping


def test_sentences_do_not_end_at_a_dot_inside_a_name():
    assert claims.sentences("The fix is in cart/vat.py. DE gives 19.0, e.g. for carts; UK is missing!") == [
        "The fix is in cart/vat.py.", "DE gives 19.0, e.g. for carts;", "UK is missing!"]


def test_only_the_unsupported_sentences_are_dropped_and_every_one_is_counted(vat):
    tally = ClaimTally()
    check = ClaimCheck(vat, tally)
    text = "vat() now looks up RATES[country]. The lookup is cached in redis for 300 seconds. DE gives 19.0."
    assert check.text(text) == "vat() now looks up RATES[country]. DE gives 19.0."
    assert (tally.checked, tally.unsupported) == (3, 1)
    assert tally.as_dict() == {"checked": 3, "unsupported": 1, "rate": 0.3333}
    assert tally.as_dict(examples=True)["last_unsupported"][0]["claim"].startswith("The lookup is cached")


def test_tags_need_every_word_in_the_sources(vat):
    tally = ClaimTally()
    assert ClaimCheck(vat, tally).tags(["vat", "country rates", "caching", "kubernetes"]) == ["vat", "country rates"]
    assert (tally.checked, tally.unsupported) == (4, 2)


# ---------------------------------------------------------------- in the merge


def _unit():
    events = [e for e in session_events(0) if e.kind in ("PostToolUse", "PostToolUseFailure")]
    return events, rules.compress_unit(events, PROJECT)[0]


def test_an_unsupported_title_gives_way_to_the_drafts_and_an_invented_sentence_is_dropped(vat):
    events, draft = _unit()
    tally = ClaimTally()
    answer = {"type": "bugfix", "title": "Fixed parse_config in src/config/loader.py", "concepts": [], "picks": [],
              "summary": "vat() looked up RATES[country]. The timeout was raised to 30 s in settings.yaml."}
    obs = merge_observation(answer, [draft], events, "llamacpp", check=ClaimCheck(vat, tally))
    assert obs.title == draft.title
    assert "settings.yaml" not in obs.narrative and obs.narrative.startswith("vat() looked up RATES[country].")
    assert (tally.checked, tally.unsupported) == (3, 2)
