"""Rule-based compression of the real Claude Code payloads."""

from __future__ import annotations

from conftest import fixture_payloads

from offmem.records import EventRecord
from offmem.summarize import rules
from offmem.summarize.types import SessionContext

PROJECT = "/home/dev/shop-api"


def events(payloads, start_id=1):
    out = []
    for i, p in enumerate(payloads, start=start_id):
        out.append(EventRecord(id=i, session_id=p["session_id"], project=PROJECT, kind=p["hook_event_name"],
                               tool_name=p.get("tool_name"), payload=p, created_at="2026-11-24T10:00:00.000Z"))
    return out


def session1():
    return [p for p in fixture_payloads() if p["session_id"].startswith("aec7") and p["hook_event_name"] != "PreToolUse"]


def test_fixture_session_becomes_typed_observations():
    obs = rules.compress(events(session1()), PROJECT)
    by_type = {}
    for o in obs:
        by_type.setdefault(o.type, []).append(o)
    # Read (+ the ls before it) is one exploration observation
    assert by_type["discovery"][0].files_read == ["cart/vat.py"]
    failure = next(o for o in obs if "failed (exit 1)" in o.title)
    assert "AssertionError: 20.0" in failure.title
    assert "$ python3 check.py" in failure.facts and "exit status 1" in failure.facts
    edit = next(o for o in obs if o.title.startswith("Edited cart/vat.py"))
    assert edit.files_modified == ["cart/vat.py"]
    assert any("rate = RATES[country]" in f for f in edit.facts)
    bugfix = by_type["bugfix"][0]
    assert bugfix.files_modified == ["cart/vat.py"]
    assert "AssertionError: 20.0" in bugfix.title and "check.py" in bugfix.title
    created = next(o for o in obs if o.title == "Created NOTES.md")
    assert created.type == "feature" and created.files_modified == ["NOTES.md"]
    task = next(o for o in obs if "Add UK rate" in o.title)
    assert task.title.startswith("Created task")
    # every tool event is covered by exactly one observation
    covered = sorted(i for o in obs for i in o.event_ids)
    tool_ids = [e.id for e in events(session1()) if e.kind.startswith("PostToolUse")]
    assert sorted(set(covered)) == tool_ids


def test_bugfix_found_across_batches():
    evs = events(session1())
    failing_at = next(i for i, e in enumerate(evs) if e.kind == "PostToolUseFailure")
    history, later = evs[: failing_at + 1], evs[failing_at + 1:]
    obs = rules.compress(later, PROJECT, history=history)
    assert any(o.type == "bugfix" for o in obs)


def test_generic_tools_mcp_and_agent():
    base = {"session_id": "s", "cwd": PROJECT, "hook_event_name": "PostToolUse", "tool_use_id": "t"}
    payloads = [
        {**base, "tool_name": "mcp__github__create_issue", "tool_input": {"title": "Flaky VAT test", "body": "..."}},
        {**base, "tool_name": "Agent", "tool_input": {"description": "Find VAT code", "prompt": "look", "subagent_type": "Explore"}},
        {**base, "tool_name": "WebSearch", "tool_input": {"query": "EU VAT rates 2026"}},
        {**base, "tool_name": "SomethingNew", "tool_input": {}},
    ]
    obs = rules.compress(events(payloads), PROJECT)
    titles = [o.title for o in obs]
    assert titles[0] == "Used MCP tool github/create_issue: Flaky VAT test"
    assert titles[1] == "Delegated to a subagent: Find VAT code"
    assert obs[2].type == "discovery" and "EU VAT rates 2026" in titles[2]
    assert titles[3] == "Used SomethingNew"


def test_interrupted_and_garbage_payloads_do_not_crash():
    base = {"session_id": "s", "cwd": PROJECT, "hook_event_name": "PostToolUse", "tool_use_id": "t"}
    payloads = [
        {**base, "tool_name": "Bash", "tool_input": "not a dict", "tool_response": None},
        {**base, "tool_name": "Edit", "tool_input": {"file_path": 5}, "tool_response": "weird"},
        {**base, "tool_name": "Bash", "tool_input": {"command": "sleep 100"}, "tool_response": {"interrupted": True}},
        {**base, "hook_event_name": "PostToolUseFailure", "tool_name": "Bash", "tool_input": {"command": "x"}, "error": None},
    ]
    obs = rules.compress(events(payloads), PROJECT)
    assert len(obs) == 4
    assert "exit 130" in obs[2].title


def test_session_summary_from_prompt_files_failures_and_last_message():
    evs = events(session1())
    obs = rules.compress(evs, PROJECT)
    ctx = SessionContext(
        session_id="s", project=PROJECT, prompts=["Fix the VAT calculation for EU carts"], observations=obs,
        events=[e for e in evs if e.kind.startswith("PostToolUse")],
        last_assistant_message="Fixed: vat() now looks up RATES[country]; DE gives 19.0.\nNext: add the UK rate",
    )
    summary = rules.summarize_session(ctx)
    assert summary.request == "Fix the VAT calculation for EU carts"
    assert "cart/vat.py" in summary.investigated
    assert "AssertionError: 20.0" in summary.learned
    assert "RATES[country]" in summary.completed and "NOTES.md" in summary.completed
    assert summary.next_steps == "add the UK rate"
    assert summary.files_modified == ["cart/vat.py", "NOTES.md"]


def test_unresolved_failure_becomes_a_next_step():
    failing = [p for p in session1() if p["hook_event_name"] == "PostToolUseFailure"]
    evs = events(failing)
    ctx = SessionContext(session_id="s", project=PROJECT, prompts=["x"], observations=rules.compress(evs, PROJECT),
                         events=evs)
    assert "still fails" in rules.summarize_session(ctx).next_steps
