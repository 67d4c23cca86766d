"""Facts before prose and units of work, rules path (issue 14 items 2 and 3).

The rule-based compressor on real payload shapes and the agent's own sentences:
decisions with their reasons, bugfix titles that name the error, summaries that
never list as open what the session finished, and observations that cover one
piece of work each. The pipeline-level cases play a session for real (transcript
on disk, the real hook, the real store).
"""

from __future__ import annotations

import json

from offmem.config import load_settings
from offmem.worker.pipeline import Pipeline
from offmem.records import EventRecord
from offmem.store.db import Store
from offmem.store.evidence import EvidenceRecord
from offmem.summarize import facts as F
from offmem.summarize import rules, units
from offmem.summarize.sentences import classify, select
from offmem.summarize.types import SessionContext
from tests.support.transcript_session import PlayedSession

PROJECT = "/home/dev/shop-api"


class Events:
    """Tool events as the spool holds them, with ids, turns and tool_use ids."""

    def __init__(self) -> None:
        self.out: list[EventRecord] = []
        self.turn = 1

    def add(self, kind: str, tool: str | None, payload: dict) -> EventRecord:
        n = len(self.out) + 1
        ev = EventRecord(id=n, session_id="s", project=PROJECT, kind=kind, tool_name=tool,
                         payload={"tool_use_id": f"toolu_{n}", **payload}, created_at="2026-03-02T10:00:00.000Z",
                         prompt_number=self.turn)
        self.out.append(ev)
        return ev

    def prompt(self, text: str) -> EventRecord:
        self.turn += 1
        return self.add("UserPromptSubmit", None, {"prompt": text})

    def bash(self, command: str, out: str = "", code: int = 0) -> EventRecord:
        if code:
            return self.add("PostToolUseFailure", "Bash", {"tool_input": {"command": command},
                                                            "error": f"Exit code {code}\n{out}"})
        return self.add("PostToolUse", "Bash", {"tool_input": {"command": command},
                                                "tool_response": {"stdout": out, "stderr": "", "interrupted": False}})

    def edit(self, rel: str, old: str = "a = 1", new: str = "a = 2") -> EventRecord:
        return self.add("PostToolUse", "Edit", {"tool_input": {"file_path": f"{PROJECT}/{rel}", "old_string": old,
                                                               "new_string": new}, "tool_response": {}})

    def read(self, rel: str) -> EventRecord:
        return self.add("PostToolUse", "Read", {"tool_input": {"file_path": f"{PROJECT}/{rel}"}, "tool_response": {}})

    def tool(self, name: str, tool_input: dict, response=None) -> EventRecord:
        return self.add("PostToolUse", name, {"tool_input": tool_input, "tool_response": response or {}})


def said(text: str, after: EventRecord | None = None, *, ident: int = 1, kind: str = "assistant_text",
         turns_since: int = 0) -> EvidenceRecord:
    return EvidenceRecord(id=ident, session_id="s", kind=kind, text=text, project=PROJECT,
                          after_tool_use_id=after.payload["tool_use_id"] if after else None,
                          prompts_since_tool=turns_since, anchor_event_id=after.id if after else None,
                          anchor_prompt=after.prompt_number if after else None)


def tool_events(events: list[EventRecord]) -> list[EventRecord]:
    return [e for e in events if e.kind.startswith("PostToolUse")]


UNITTEST_FAILURE = """..E.
======================================================================
ERROR: test_vat_uk (tests.test_cart.TestCart)
----------------------------------------------------------------------
Traceback (most recent call last):
  File "/home/dev/shop-api/tests/test_cart.py", line 9, in test_vat_uk
    self.assertEqual(vat(100, "UK"), 20.0)
  File "/home/dev/shop-api/cart/vat.py", line 4, in vat
    return amount * RATES[country]
KeyError: 'UK'

----------------------------------------------------------------------
Ran 4 tests in 0.002s

FAILED (errors=2)"""


# ---------------------------------------------------------------------- sentences


def test_sentence_cues_tell_causes_decisions_next_steps_from_chatter():
    kinds = {s: classify(s) for s in [
        "Now let me run the tests.",
        "Perfect!",
        "The root cause is that the cache key ignores the locale.",
        "I'll use a dict lookup instead of the if-chain because new countries then need no code.",
        "Next step: migrate the old invoices.",
        "Should we drop the legacy endpoint?",
        "Let me check the file.",
        "The `parse_rates()` helper is already defined in `cart/rates.py`.",
    ]}
    assert kinds["Now let me run the tests."] == "intent"
    assert kinds["Perfect!"] == "filler"
    assert kinds["The root cause is that the cache key ignores the locale."] == "cause"
    assert kinds["I'll use a dict lookup instead of the if-chain because new countries then need no code."] == "decision"
    assert kinds["Next step: migrate the old invoices."] == "next"
    assert kinds["Should we drop the legacy endpoint?"] != "decision"  # a question decides nothing
    assert kinds["The `parse_rates()` helper is already defined in `cart/rates.py`."] == "finding"
    kept = [(s.kind, s.text) for s in select(["Let me check the file. The issue was a stale lock file. Great!"])]
    assert kept == [("intent", "Let me check the file."), ("cause", "The issue was a stale lock file.")]


# ---------------------------------------------------------------------- decisions


def test_a_choice_and_its_reason_become_a_decision_memory():
    ev = Events()
    read = ev.read("cart/vat.py")
    edit = ev.edit("cart/vat.py", "if country == 'DE': rate = 0.19", "rate = RATES[country]")
    evidence = [
        said("Let me read the VAT code.", None, ident=1),
        said("I'll use a RATES table instead of the if-chain. New countries then need no code change.", read, ident=2),
    ]
    made = rules.compress_unit([read, edit], PROJECT, [], evidence)
    decisions = [o for o in made if o.type == "decision"]
    assert len(decisions) == 1
    assert decisions[0].title == "Use a RATES table instead of the if-chain"
    assert decisions[0].facts[:2] == ["agent: I'll use a RATES table instead of the if-chain.",
                                      "agent: New countries then need no code change."]
    assert decisions[0].files_modified == ["cart/vat.py"]
    main = made[0]
    assert main.type == "change" and "agent: I'll use a RATES table instead of the if-chain." in main.facts


def test_a_user_correction_is_a_decision_too():
    ev = Events()
    edit = ev.edit("cart/vat.py")
    made = rules.compress_unit([edit], PROJECT, [], [said("use the config value, not a constant", edit,
                                                          kind="user_correction")])
    assert any(o.type == "decision" and o.title == "User: use the config value, not a constant" for o in made)


# ---------------------------------------------------------------------- bugfix titles


def test_bugfix_title_names_the_error_not_the_runners_last_line():
    ev = Events()
    failing = ev.bash("python -m unittest", UNITTEST_FAILURE, code=1)
    ev.edit("cart/vat.py", "RATES = {'DE': 0.19}", "RATES = {'DE': 0.19, 'UK': 0.20}")
    ev.bash("cd /home/dev/shop-api && python3 -m unittest 2>&1 | tail -5", "....\nRan 4 tests in 0.002s\n\nOK\n")
    observations = rules.compress_unit(tool_events(ev.out), PROJECT)
    fix = observations[0]
    assert fix.type == "bugfix"
    assert "KeyError: 'UK'" in fix.title
    assert "FAILED (errors=2)" not in fix.title and "return amount * RATES" not in fix.title
    assert fix.files_modified == ["cart/vat.py"]
    assert F.error_line(failing.payload["error"]) == "KeyError: 'UK'"


def test_traceback_source_lines_and_separators_are_never_the_error():
    output = ("Traceback (most recent call last):\n  File \"app.py\", line 3, in <module>\n"
              "    main(config['port'])\n           ~~~~~~^^^^^^^^\nKeyError: 'port'\n")
    assert F.error_line(output) == "KeyError: 'port'"
    boxed = "╭──────────╮\n│ lint  ✖  │\n╰──────────╯\nsrc/a.ts:3:1 lint/style: Unexpected any. Specify a different type."
    assert F.error_line(boxed).startswith("src/a.ts:3:1")


def test_a_piped_test_run_that_reports_failures_is_a_failure():
    ev = Events()
    ev.bash("mix test 2>&1 | tail -3", "Finished in 0.4 seconds\n14 doctests, 297 tests, 11 failures\n")
    ev.edit("lib/a.ex")
    ev.bash("mix test", "14 doctests, 297 tests, 0 failures\n")
    made = rules.compress_unit(tool_events(ev.out), PROJECT)
    assert made[0].type == "bugfix" and "11 failures" in made[0].title


# ---------------------------------------------------------------------- summaries: nothing open that was done


def test_a_check_that_passed_later_under_another_prefix_is_not_open():
    ev = Events()
    ev.bash("python -m pytest tests/test_cart.py", "E   assert 20.0 == 19.0\n1 failed", code=1)
    ev.edit("cart/vat.py")
    ev.bash("cd /home/dev/shop-api && python3 -m pytest -q 2>&1 | tail -3", "12 passed in 0.3s\n")
    ev.bash("npm run lint", "src/a.ts: error  Unexpected any", code=1)
    ctx = SessionContext(session_id="s", project=PROJECT, prompts=["fix it"], observations=[],
                         events=tool_events(ev.out), last_assistant_message="All green.")
    summary = rules.summarize_session(ctx)
    assert "pytest" not in summary.next_steps
    assert "`npm run lint` still fails" in summary.next_steps


def test_a_failure_followed_by_changes_is_not_claimed_open():
    ev = Events()
    ev.bash("make test", "FAIL: test_rates", code=2)
    ev.edit("cart/vat.py")
    ctx = SessionContext(session_id="s", project=PROJECT, prompts=["fix it"], observations=[],
                         events=tool_events(ev.out), last_assistant_message="")
    assert "still fails" not in rules.summarize_session(ctx).next_steps


def test_next_steps_are_the_last_words_not_what_was_done_later():
    ev = Events()
    first = ev.edit("cart/vat.py")
    later = ev.bash("make docs", "built\n")
    evidence = [
        said("Next step: regenerate the docs.", first, ident=1),
        said("Docs are regenerated. The remaining work is the UK rate, which needs the 2026 table.", later, ident=2),
    ]
    ctx = SessionContext(session_id="s", project=PROJECT, prompts=["fix it"], observations=[], events=[first, later])
    final = Pipeline.final_words(evidence, [first, later])
    summary = rules.summarize_session(ctx, evidence, final_text=final)
    assert "regenerate the docs" not in summary.next_steps
    assert "The remaining work is the UK rate" in summary.next_steps
    assert "Docs are regenerated" in summary.completed


# ---------------------------------------------------------------------- units of work


def test_units_end_where_an_edit_test_fix_cycle_is_complete():
    ev = Events()
    ev.read("cart/vat.py")
    ev.edit("cart/vat.py")
    ev.bash("pytest -q", "1 failed", code=1)
    ev.edit("cart/vat.py")
    ev.bash("pytest -q", "5 passed")
    ev.bash("git commit -m 'fix vat'", "[main 1a2b3c] fix vat")  # wrapping up: same piece of work
    ev.tool("TodoWrite", {"todos": [{"content": "fix vat", "status": "completed"}]})
    ev.read("cart/invoice.py")  # reading code again: the next piece
    ev.edit("cart/invoice.py")
    ev.bash("pytest -q", "6 passed")
    parts = units.segment(ev.out)
    assert [len(p.events) for p in parts] == [7, 3]
    assert [p.closed_by for p in parts] == ["cycle", None]


def test_turns_and_a_size_cap_cut_units_too():
    ev = Events()
    for n in range(7):
        ev.bash(f"make step{n}", "ok")
    ev.prompt("now the other thing")
    ev.edit("b.py")
    parts = units.segment(ev.out, max_events=3)
    assert [len(p.events) for p in parts] == [3, 3, 1, 1]
    assert [p.closed_by for p in parts] == ["cap", "cap", "prompt", None]
    assert parts[3].carry[0].kind == "UserPromptSubmit"


def test_words_are_placed_in_their_unit_and_an_announcement_opens_the_next():
    ev = Events()
    a = ev.edit("a.py")
    passed = ev.bash("pytest", "3 passed")
    b = ev.edit("b.py")
    ev.bash("pytest", "4 passed")
    pool = units.place([
        said("Let me make `a.py` return early.", None, ident=1),
        said("That fixed it because the guard ran first.", a, ident=2),
        said("All 3 pass. The cache now expires after 10 s.", passed, ident=3),
        said("Now let me move on to the exporter in `b.py`.", passed, ident=4),
        said("Exporter done.", b, ident=5),
    ])
    parts = units.segment(ev.out)
    first = units.take_evidence(parts[0], pool)
    assert [r.id for r in first] == [1, 2, 3]
    parts[1].closed_by = "idle"
    assert [r.id for r in units.take_evidence(parts[1], pool)] == [4, 5]


def test_a_long_session_yields_one_specific_memory_per_piece_of_work():
    ev = Events()
    for n in range(12):
        ev.read(f"mod{n}/core.py")
        ev.edit(f"mod{n}/core.py", f"LIMIT_{n} = 1", f"LIMIT_{n} = 2")
        ev.bash(f"pytest tests/test_mod{n}.py", "", code=1)
        ev.edit(f"mod{n}/core.py", f"LIMIT_{n} = 2", f"LIMIT_{n} = 3")
        ev.bash(f"pytest tests/test_mod{n}.py", "3 passed")
    parts = [p for p in units.segment(ev.out) if isinstance(p, units.Unit)]
    assert len(parts) == 12
    history: list[EventRecord] = []
    memories = []
    for part in parts:
        memories += rules.compress_unit(part.events, PROJECT, history)
        history += part.events
    assert len(memories) == 12
    assert [m.files_modified for m in memories] == [[f"mod{n}/core.py"] for n in range(12)]
    assert all(any(f"LIMIT_{n} = 3" in f for f in m.facts) for n, m in enumerate(memories))


def test_unit_facts_keep_what_code_defines_where_the_plan_stood_and_a_subagents_report_apart():
    ev = Events()
    ev.tool("Write", {"file_path": f"{PROJECT}/timer.js", "content":
                      "// Play the end-of-session beep with the Web Audio API, no sound file needed\n"
                      "const WORK_TIME = 25 * 60;\nfunction playNotificationSound() {\n  return 1;\n}\n"},
            {"type": "create"})
    ev.tool("Task", {"description": "Find the settings code", "prompt": "look", "subagent_type": "Explore"},
            {"content": [{"type": "text", "text": "## Report\n- Settings live in `config/settings.py`, loaded once at start."}]})
    ev.tool("TodoWrite", {"todos": [{"content": "write timer", "status": "in_progress"}]})
    ev.tool("TodoWrite", {"todos": [{"content": "write timer", "status": "completed"},
                                    {"content": "add sounds", "status": "pending"}]})
    failed = ev.add("PostToolUseFailure", "Write", {"tool_input": {"file_path": f"{PROJECT}/CLAUDE.md", "content": "x"},
                                                     "error": "Claude requested permissions to write to CLAUDE.md, "
                                                              "but you haven't granted it yet."})
    made = rules.compress_unit(tool_events(ev.out), PROJECT)
    main = made[0]
    text = "\n".join(main.facts)
    assert "defines: WORK_TIME, playNotificationSound" in text
    assert "note: Play the end-of-session beep with the Web Audio API, no sound file needed" in text
    delegated = [o for o in made if o.title.startswith("Subagent")]  # the subagent's piece of work: its own memory
    assert [o.title for o in delegated] == ["Subagent (Explore): Find the settings code"]
    assert "subagent: Settings live in `config/settings.py`, loaded once at start." in delegated[0].facts
    assert delegated[0].event_ids == [2] and 2 not in main.event_ids
    assert "todo (pending): add sounds" in text and "todo (in_progress)" not in text
    assert "haven't granted it yet" in text
    assert "CLAUDE.md" not in main.files_modified and failed.id in main.event_ids


# ---------------------------------------------------------------------- the pipeline, played for real


def test_a_turn_without_tool_calls_gets_its_own_memory(tmp_path, offmem_home):
    s = PlayedSession(tmp_path / "projects").start()
    s.prompt("fix the rounding")
    s.edit("cart/total.py", "round(x)", "round(x, 2)")
    s.bash("pytest -q", "8 passed\n")
    s.stop("Rounded to cents.")
    s.prompt("should we keep floats for money?")
    s.stop("No: we should switch to Decimal because floats cannot represent 0.1 exactly, which is why totals drift.")
    s.end()
    with Store.open(load_settings().db_path) as store:
        Pipeline(store).run_once(force=True)
        observations = store.session_observations(s.session_id)
    answer = [o for o in observations if not o["event_ids"]]
    assert answer, json.dumps(observations, indent=1)
    assert any("switch to Decimal because floats cannot represent 0.1 exactly" in f
               for o in answer for f in o["facts"])
    assert any(o["type"] == "decision" for o in answer)
    worked = [o for o in observations if o["event_ids"]]
    assert worked and all("Decimal" not in json.dumps(o) for o in worked if o["type"] != "decision")


def test_a_log_read_while_exploring_keeps_the_lines_that_report_a_problem():
    ev = Events()
    log = "\n".join([f"10:00:{n:02d}.000 [info] GET /assets/app.js 200 in {n}ms" for n in range(30)]
                    + ["10:00:31.000 [warning] socket join refused: channel terminal:42 unauthorized",
                       "10:00:32.000 [info] GET / 200 in 3ms"])
    ev.bash("tail -40 /tmp/server.log", log)
    main = rules.compress_unit(tool_events(ev.out), PROJECT)[0]
    assert "output: 10:00:31.000 [warning] socket join refused: channel terminal:42 unauthorized" in main.facts
    assert not any("GET /assets/app.js" in f for f in main.facts)


def test_an_intent_that_only_points_back_does_not_title_a_unit():
    ev = Events()
    a = ev.edit("lib/router.ex")
    ev.edit("lib/hooks.ex")
    vague = rules.compress_unit(tool_events(ev.out), PROJECT, [], [said("Now I have the picture. Let me implement everything.")])
    assert vague[0].title == "Edited lib/router.ex, lib/hooks.ex"
    named = rules.compress_unit(tool_events(ev.out), PROJECT, [],
                                [said("Now update the router and the hooks controller to call `touch/2`.", a)])
    assert named[0].title == "Update the router and the hooks controller to call `touch/2`"


def test_a_log_line_printed_during_a_test_run_is_not_its_error():
    output = ("  1) test idempotent sync (SyncTest)\n     test/sync_test.exs:40\n     Assertion with == failed\n"
              "     left: 4\n     right: 2\n"
              "16:58:16.024 [warning] Failed to parse /nonexistent/path.jsonl: :file_not_found\n\n3 tests, 1 failure\n")
    assert F.error_line(output) == "Assertion with == failed"
