"""What reaches the agent at session start (issue 14 item 7): order, clipping, salient facts, what is recorded.

Real SQLite store, the real SessionStart hook as a subprocess where the recorded
state matters.
"""

from __future__ import annotations

import json
import re

from conftest import run_hook
from offmem.retrieval import build_session_context
from offmem.retrieval.format import clean, detail_line, summary_line
from tests.support.seed import add_observation, add_summary, days_ago, flood

PROJECT = "/home/dev/shop-api"


# ---------------------------------------------------------------------- order


def recent_lines(text: str) -> list[str]:
    section = text.split("Recent sessions, newest first:\n", 1)[1].split("\n\n", 1)[0]
    return section.splitlines()


def test_recent_sessions_are_really_newest_first(store, settings):
    # s0 is the newest; only the oldest one (s4) has open next steps: it is chosen, and shown last.
    for n in range(5):
        add_summary(store, PROJECT, f"s{n}", days_ago(n + 0.5), request=f"request number {n}",
                    completed=f"completed {n}", next_steps="Write the invoice rounding test" if n == 4 else "")
    text = build_session_context(store, PROJECT, settings)["text"]
    lines = recent_lines(text)
    assert any("request number 4" in line for line in lines), text
    stamps = [line[2:18] for line in lines]
    assert stamps == sorted(stamps, reverse=True), lines


# ---------------------------------------------------------------------- clipping


def test_clean_cuts_at_a_word_boundary_with_an_ellipsis():
    assert clean("alpha beta gamma", 13) == "alpha beta…"
    assert clean("alpha beta gamma", 40) == "alpha beta gamma"
    cut = clean("Resolved it by using `:otel_span.hex_trace_id/1` instead of manual extraction", 45)
    assert cut.endswith("…") and len(cut) <= 45
    assert "hex_tra" not in cut or "hex_trace_id/1`" in cut  # never half an expression


def test_a_sentence_end_is_preferred_when_close_to_the_limit():
    text = "The rate table was stale. It is now rebuilt from the tax service on every deploy of the api"
    assert clean(text, 40) == "The rate table was stale. …"
    assert clean(text, 60) == "The rate table was stale. It is now rebuilt from the tax…"


def test_no_field_of_the_start_block_is_cut_mid_word(store, settings):
    words = [f"word{n}_{'x' * (n % 7)}" for n in range(120)]
    add_summary(store, PROJECT, "s1", days_ago(1), request=" ".join(words[:60]), completed=" ".join(words[60:]),
                learned=" ".join(words[10:80]), next_steps=" ".join(words[30:100]))
    add_observation(store, PROJECT, "Fixed " + " ".join(words[:50]), type="bugfix",
                    facts=[" ".join(words[20:90]), " ".join(words[40:110])], created_at=days_ago(1))
    text = build_session_context(store, PROJECT, settings)["text"]
    known = set(words)
    clipped = re.findall(r"(\S+)…", text)
    assert clipped, text
    for token in clipped:
        assert token in known, f"{token!r} is a cut word in:\n{text}"


# ---------------------------------------------------------------------- salient facts

NOISY_FIX = {
    "title": "Fixed failing test_vat.py",
    "facts": [
        "$ pytest tests/test_vat.py",
        "exit status 1",
        "output: collected 12 items",
        "changed RATES['DE'] from 0.20 to 0.19 in cart/vat.py",
        "agent: the DE rate was read from the UK table because country codes were lowercased",
    ],
}


def test_detail_line_shows_the_change_and_the_cause_not_the_first_facts():
    line = detail_line({"id": 7, "type": "bugfix", "created_at": "2025-03-01T10:00:00Z", **NOISY_FIX})
    assert "RATES['DE'] from 0.20 to 0.19" in line
    assert "because country codes were lowercased" in line
    assert "exit status 1" not in line


def test_settings_and_decision_reasons_outrank_command_echoes():
    facts = ["$ npm run build", "exit status 0", "output: built in 2.1s",
             "set NODE_OPTIONS=--max-old-space-size=4096 in .env.production",
             "user: use pnpm instead of npm since the lockfile is pnpm's"]
    from offmem.retrieval.format import rank_facts

    top = rank_facts(facts, "Build the web app")[:2]
    assert set(top) == set(facts[3:])


def test_salience_is_generic_order_within_equals_is_kept():
    from offmem.retrieval.format import rank_facts

    facts = ["read src/a.py", "read src/b.py", "read src/c.py"]
    assert rank_facts(facts, "Read sources") == facts


def test_the_start_block_shows_the_salient_fact(store, settings):
    fix = add_observation(store, PROJECT, NOISY_FIX["title"], type="bugfix", facts=NOISY_FIX["facts"],
                          files_modified=["cart/vat.py"], created_at=days_ago(1))
    flood(store, PROJECT, 30, start_days_ago=10)
    result = build_session_context(store, PROJECT, settings)
    assert fix in result["detailed_ids"]
    assert "from 0.20 to 0.19" in result["text"]


# ---------------------------------------------------------------------- summaries


def test_summary_line_puts_what_was_learned_and_left_before_what_was_done():
    line = summary_line({"started_at": "2025-03-01T10:00:00Z", "request": "fix VAT",
                         "completed": "x " * 200, "learned": "RATES is keyed by upper-case codes",
                         "next_steps": "add the UK rate"})
    assert line.index("learned:") < line.index("done:") and line.index("next:") < line.index("done:")


# ---------------------------------------------------------------------- what is recorded


def test_only_memories_shown_with_details_are_recorded_as_given(store, settings, offmem_home):
    fix = add_observation(store, PROJECT, "Fixed VAT for DE carts", type="bugfix",
                          facts=["RATES is keyed by upper-case codes"], created_at=days_ago(0))
    flood(store, PROJECT, 60, start_days_ago=10, end_days_ago=1)
    out = run_hook({"session_id": "new-session", "hook_event_name": "SessionStart", "source": "startup",
                    "cwd": PROJECT, "transcript_path": "/tmp/t.jsonl"})
    assert out.returncode == 0, out.stderr
    expected = build_session_context(store, PROJECT, settings)
    recorded = set(json.loads(store.get_meta("injected:start:new-session")))
    assert fix in expected["detailed_ids"] and fix in recorded
    title_only = set(expected["observation_ids"]) - set(expected["detailed_ids"])
    assert title_only, expected["text"]
    assert not title_only & recorded
    assert recorded == set(expected["detailed_ids"])


def test_a_fact_that_restates_the_title_goes_last():
    from offmem.retrieval.format import rank_facts

    title = "Fixed [object][object] display - Send content string instead of object wrapper"
    facts = ["agent: Fixed [object][object] display - Send content string instead of object wrapper.",
             "agent: the client expects a raw string, so the service now sends message.content"]
    assert rank_facts(facts, title)[0] == facts[1]


def test_memories_with_their_facts_get_most_of_the_block(store, settings):
    """Measured on the corpus (bench_reach): details of more memories beat more titles."""
    from offmem.retrieval.tokens import count_tokens

    for n in range(3):
        add_summary(store, PROJECT, f"s{n}", days_ago(n), request="fix the VAT rules " * 8,
                    learned="rates are keyed by upper-case codes " * 8, completed="moved rates to a table " * 8)
    for n in range(30):
        add_observation(store, PROJECT, f"Fixed VAT case {n} for carts", type="bugfix", session_id=f"s{n % 3}",
                        facts=[f"agent: case {n} failed because the code was lowercased", f"changed rates_{n}.py"],
                        files_modified=[f"cart/rates_{n}.py"], created_at=days_ago(n / 10))
    text = build_session_context(store, PROJECT, settings)["text"]
    key = text.split("Key memories (bugfixes, decisions, most-touched files):\n", 1)[1].split("\n\n", 1)[0]
    assert count_tokens(key) >= 0.5 * settings.context.budget_tokens, text
