"""SessionStart context on a real SQLite store: relevance, budget, scope, no duplicates."""

from __future__ import annotations

import json
import re

import pytest

from conftest import run_hook
from offmem.retrieval.baseline import build_index_context
from offmem.retrieval import build_session_context, count_tokens
from offmem.retrieval.format import MCP_POINTER
from tests.support.seed import ALL_KINDS, add_observation, add_summary, days_ago, flood

PROJECT = "/home/dev/shop-api"
OTHER = "/home/dev/secret-project"


def ids_in(text: str) -> list[int]:
    return [int(m) for m in re.findall(r"(?m)^(?:- )?#(\d+) ", text)]


def plant_history(store) -> dict[str, int]:
    """An old fix and a decision about the file touched most, a remembered note, then routine work."""
    planted = {}
    for n in range(12):  # cart/vat.py is the project's hottest file
        add_observation(store, PROJECT, f"Read cart/vat.py while checking rate {n}", type="discovery",
                        files_read=["cart/vat.py"], session_id="s-old", created_at=days_ago(40 - n))
    planted["fix"] = add_observation(
        store, PROJECT, "Fixed VAT for DE carts: vat() used a flat 0.2 instead of RATES[country]",
        type="bugfix", facts=["AssertionError: 20.0 before the fix"], files_modified=["cart/vat.py"],
        session_id="s-old", created_at=days_ago(30))
    planted["decision"] = add_observation(
        store, PROJECT, "Decided to keep VAT rates in one RATES table instead of per-country modules",
        type="decision", files_modified=["cart/rates.py"], session_id="s-old", created_at=days_ago(60))
    planted["note"] = add_observation(
        store, PROJECT, "Staging deploys need the EU_VAT_MODE=strict flag", type="discovery",
        narrative="Staging deploys need the EU_VAT_MODE=strict flag or invoices round wrong.",
        session_id="remembered", created_at=days_ago(90), origin="remember")
    flood(store, PROJECT, 400, start_days_ago=20, end_days_ago=0)
    return planted


def test_relevant_older_memories_beat_a_flood_of_recent_routine_work(store, settings):
    planted = plant_history(store)
    result = build_session_context(store, PROJECT, settings)
    shown = set(result["observation_ids"])
    assert {planted["fix"], planted["decision"], planted["note"]} <= shown
    assert "RATES[country]" in result["text"] and "EU_VAT_MODE=strict" in result["text"]
    # Control: recency alone, with the same budget, surfaces none of them.
    recency = build_index_context(store, PROJECT, settings.context.budget_tokens)
    assert not {planted["fix"], planted["decision"], planted["note"]} & set(recency["observation_ids"])


@pytest.mark.parametrize("budget", [120, 400, 1500, 4000])
def test_context_stays_within_the_token_budget(store, settings, budget):
    flood(store, PROJECT, 3000, start_days_ago=100, kinds=ALL_KINDS, sessions=150)
    for n in range(8):
        add_summary(store, PROJECT, f"flood-session-{140 + n}", days_ago(1 - n / 10),
                    request=f"Work on step {n}" * 5, completed="Updated many files " * 10, next_steps="More " * 20)
    settings.context.budget_tokens = budget
    result = build_session_context(store, PROJECT, settings)
    assert result["tokens"] == count_tokens(result["text"]) <= budget
    if budget >= 400:
        assert result["text"].endswith(MCP_POINTER)
        assert result["observation_ids"] and result["summary_ids"]


def test_every_memory_appears_once(store, settings):
    for n in range(30):  # the same routine step repeated in many sessions: same title
        add_observation(store, PROJECT, "Ran the test suite", type="discovery", session_id=f"s{n}",
                        files_read=["tests/"], created_at=days_ago(n / 2))
    plant_history(store)
    result = build_session_context(store, PROJECT, settings)
    shown = ids_in(result["text"])
    assert shown == result["observation_ids"]
    assert len(shown) == len(set(shown))
    assert result["text"].count("Ran the test suite") == 1


def test_nothing_from_other_projects(store, settings):
    add_observation(store, OTHER, "Rotated the SECRET-PROJECT signing key", type="decision",
                    files_modified=["keys/signing.pem"], session_id="other", created_at=days_ago(0))
    add_summary(store, OTHER, "other", days_ago(0), request="SECRET-PROJECT release", next_steps="ship it")
    plant_history(store)
    result = build_session_context(store, PROJECT, settings)
    assert "SECRET-PROJECT" not in result["text"] and "signing" not in result["text"]
    other_ids = {r[0] for r in store.conn.execute("SELECT id FROM observations WHERE project = ?", (OTHER,))}
    assert not other_ids & set(result["observation_ids"])
    assert build_session_context(store, "/home/dev/never-seen", settings)["text"] == ""


def test_latest_summary_then_those_with_open_next_steps(store, settings):
    steps = {2: "Add the UK rate to RATES", 4: "Write the invoice rounding test"}
    for n in range(6):  # n = 0 is the newest
        add_summary(store, PROJECT, f"s{n}", days_ago(n), request=f"request number {n}",
                    completed=f"completed {n}", next_steps=steps.get(n, ""))
    result = build_session_context(store, PROJECT, settings)
    text = result["text"]
    assert "request number 0" in text
    assert "next: Add the UK rate to RATES" in text and "next: Write the invoice rounding test" in text
    assert "request number 1" not in text and len(result["summary_ids"]) == settings.context.max_summaries


def test_hook_injects_the_same_block_and_records_what_it_gave(store, settings, offmem_home):
    plant_history(store)
    payload = {"session_id": "new-session", "hook_event_name": "SessionStart", "source": "startup",
               "cwd": PROJECT, "transcript_path": "/tmp/t.jsonl"}
    out = run_hook(payload)
    assert out.returncode == 0, out.stderr
    context = json.loads(out.stdout)["hookSpecificOutput"]["additionalContext"]
    expected = build_session_context(store, PROJECT, settings)  # the hook stored its session first
    assert context == expected["text"] and "13 sessions" in context
    recorded = json.loads(store.get_meta("injected:start:new-session"))  # shown with details (issue 14 item 7)
    assert sorted(recorded) == sorted(expected["detailed_ids"])


def test_lean_hook_path_gives_the_same_block(store, settings, offmem_home, monkeypatch):
    from dataclasses import fields

    from offmem.config import ContextSettings
    from offmem.lean.settings import DEFAULTS
    from offmem.retrieval.session import session_start_block

    DEFAULT_BUDGET_TOKENS, DEFAULT_MAX_SUMMARIES = DEFAULTS["context"]["budget_tokens"], DEFAULTS["context"]["max_summaries"]

    defaults = {f.name: f.default for f in fields(ContextSettings)}
    assert (DEFAULT_BUDGET_TOKENS, DEFAULT_MAX_SUMMARIES) == (defaults["budget_tokens"], defaults["max_summaries"])
    plant_history(store)
    expected = build_session_context(store, PROJECT, settings)
    assert session_start_block(str(offmem_home), PROJECT, "lean-1") == expected["text"]
    assert sorted(json.loads(store.get_meta("injected:start:lean-1"))) == sorted(expected["detailed_ids"])
    monkeypatch.setenv("OFFMEM_CONTEXT_BUDGET_TOKENS", "300")
    small = session_start_block(str(offmem_home), PROJECT)
    assert count_tokens(small) <= 300 < count_tokens(expected["text"])
    assert session_start_block(str(offmem_home / "nowhere"), PROJECT) == ""
