"""The hook against what each pinned Claude Code version really sends (issue 15 items 2 and 3).

``tests/fixtures/claude-code-<version>/hook-payloads.jsonl`` are every hook payload of
one captured session per version (``python -m tests.support.capture_payloads``): a
debugging turn with a foreground subagent, ``/compact``, a question answered by a
background subagent (2.1.332 runs the Agent tool in the background by default and
reports back through a ``<task-notification>`` prompt), and a failed model call. Each
payload runs through the real hook process; the store is real SQLite; the pipeline
is the real one with the rules.
"""

from __future__ import annotations

import json
import sqlite3
import time
from pathlib import Path

import pytest

from conftest import run_hook
from offmem.install import HOOK_EVENTS

FIXTURES = Path(__file__).parent / "fixtures"
VERSIONS = ("2.1.197", "2.1.332")
HOOK_BUDGET_S = 5.0  # one run of the hook process, generously (the bench measures it properly)


def captured(version: str) -> list[dict]:
    path = FIXTURES / f"claude-code-{version}" / "hook-payloads.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def db_rows(home: Path, sql: str, *args) -> list[tuple]:
    conn = sqlite3.connect(home / "offmem.db")
    try:
        return conn.execute(sql, args).fetchall()
    finally:
        conn.close()


def not_offmems(payload: dict) -> bool:
    """What offmem leaves out on purpose: a prompt Claude Code wrote itself (a background agent's
    ``<task-notification>``: the agent's SubagentStop carries its report) and the compaction's own
    generation (a SubagentStop with no agent type: the transcript's summary record is read instead)."""
    event = payload["hook_event_name"]
    if event == "UserPromptSubmit":
        return str(payload.get("prompt", "")).lstrip().startswith("<task-notification>")
    return event == "SubagentStop" and not payload.get("agent_type")


def assert_hook_output(result, event: str) -> None:
    assert result.returncode == 0, result.stderr.decode()[-2000:]
    out = result.stdout.decode().strip()
    if out:
        answer = json.loads(out)
        assert set(answer) == {"hookSpecificOutput"}, answer
        assert answer["hookSpecificOutput"]["hookEventName"] == event, answer


def test_offmem_registers_the_subagent_events():
    assert {"SubagentStart", "SubagentStop"} <= set(HOOK_EVENTS)
    assert "compact" in HOOK_EVENTS["SessionStart"][0].split("|")


@pytest.mark.parametrize("version", VERSIONS)
def test_every_captured_payload_exits_clean_and_every_registered_one_is_kept(version, offmem_home):
    payloads = captured(version)
    events = {p["hook_event_name"] for p in payloads}
    # the capture covers every event offmem registers, and the new ones it was checked against
    assert set(HOOK_EVENTS) | {"PostCompact", "PostToolBatch", "StopFailure", "PreToolUse"} <= events, events
    for payload in payloads:  # all of them: a settings file may send offmem any event
        started = time.monotonic()
        result = run_hook(payload)
        assert time.monotonic() - started < HOOK_BUDGET_S
        assert_hook_output(result, payload["hook_event_name"])
    kept = [p for p in payloads if p["hook_event_name"] in HOOK_EVENTS and p["hook_event_name"] != "SubagentStart"
            and not not_offmems(p)]
    stored = db_rows(offmem_home, "SELECT kind, tool_name FROM events ORDER BY id")
    assert stored == [(p["hook_event_name"], p.get("tool_name")) for p in kept]
    prompts = [row[0] for row in db_rows(offmem_home, "SELECT text FROM prompts ORDER BY id")]
    assert prompts and not any("task-notification" in text for text in prompts), prompts
    assert all("sk-live-123" not in text for text in prompts)


@pytest.mark.parametrize("version", VERSIONS)
def test_the_new_events_give_no_output_when_there_is_no_memory(version, offmem_home):
    for payload in captured(version):
        if payload["hook_event_name"] in ("SubagentStart", "SubagentStop", "PostCompact", "StopFailure"):
            result = run_hook(payload)
            assert result.returncode == 0 and result.stdout == b"", result


def test_a_task_notification_is_not_a_prompt(offmem_home):
    payloads = captured("2.1.332")
    notification = next(p for p in payloads if p["hook_event_name"] == "UserPromptSubmit" and not_offmems(p))
    typed = next(p for p in payloads if p["hook_event_name"] == "UserPromptSubmit" and not not_offmems(p))
    assert run_hook(typed).returncode == 0
    assert run_hook(notification).returncode == 0
    assert db_rows(offmem_home, "SELECT prompt_count FROM sessions") == [(1,)]
    assert db_rows(offmem_home, "SELECT count(*) FROM events WHERE kind = 'UserPromptSubmit'") == [(1,)]


def test_bad_subagent_payloads_exit_clean(offmem_home):
    base = next(p for p in captured("2.1.332") if p["hook_event_name"] == "SubagentStop" and p.get("agent_type"))
    start = next(p for p in captured("2.1.332") if p["hook_event_name"] == "SubagentStart")
    for bad in (
        {**base, "last_assistant_message": None, "background_tasks": "x"},
        {**base, "agent_id": 5, "background_tasks": [None, 3, {"id": None}]},
        {**start, "agent_id": None, "transcript_path": "/nonexistent/x.jsonl"},
        {**start, "transcript_path": str(offmem_home)},  # a directory
        {**start, "agent_type": ["x"]},
    ):
        result = run_hook(bad)
        assert result.returncode == 0 and result.stdout == b"", result


def process_rules(offmem_home: Path) -> None:
    from offmem.api import Memory
    from offmem.config import load_settings

    (offmem_home / "config.toml").write_text('[summarizer]\nbackend = "rules"\n')
    Memory(load_settings()).process(rules_only=True)


@pytest.mark.parametrize("version", VERSIONS)
def test_each_subagent_report_becomes_one_memory(version, offmem_home):
    """A foreground subagent's report comes back in its Agent call's result; a background one's
    (2.1.332's default) only in its SubagentStop. Each report is remembered once, whichever way it came."""
    payloads = captured(version)
    for payload in payloads:
        if payload["hook_event_name"] in HOOK_EVENTS:
            assert run_hook(payload).returncode == 0
    process_rules(offmem_home)
    titles = [row[0] for row in db_rows(offmem_home, "SELECT title FROM observations ORDER BY id")]
    subagents = [t for t in titles if t.startswith("Subagent")]
    calls = [p["tool_input"]["description"] for p in payloads
             if p["hook_event_name"] == "PostToolUse" and p["tool_name"] == "Agent"]
    assert len(calls) == 2, calls
    for description in calls:
        assert sum(description in t for t in subagents) == 1, (description, titles)
    facts = " ".join(row[0] for row in db_rows(offmem_home, "SELECT facts FROM observations"))
    assert "nothing else reads it" in facts
    assert not any("Async agent" in t or "async_launched" in t for t in titles), titles


# ---------------------------------------------------------------------- after a compaction

PROJECT = "/home/dev/shop-api"


def session_payload(session_id: str, source: str) -> dict:
    return {"session_id": session_id, "transcript_path": f"/home/dev/.claude/projects/-home-dev-shop-api/{session_id}.jsonl",
            "cwd": PROJECT, "hook_event_name": "SessionStart", "source": source}


def context_of(result) -> str:
    assert result.returncode == 0, result.stderr.decode()[-2000:]
    return json.loads(result.stdout)["hookSpecificOutput"]["additionalContext"]


def given(home: Path, key: str) -> list[int]:
    rows = db_rows(home, "SELECT value FROM meta WHERE key = ?", f"injected:{key}")
    return json.loads(rows[0][0]) if rows else []


@pytest.fixture
def buried(store):
    """A memory the SessionStart block leaves out (400 later ones), and 20 more like it."""
    from tests.support.seed import add_observation, days_ago, flood

    old = [add_observation(store, PROJECT, f"Invoice rounding rule {n}: half-even for EU invoices",
                           type="discovery", facts=[f"invoices/round.py rounds half-even, case {n}"],
                           created_at=days_ago(40 + n)) for n in range(21)]
    flood(store, PROJECT, 400, start_days_ago=30)
    return old


def test_after_a_compaction_the_session_gets_back_what_its_prompts_were_given(buried, offmem_home):
    from offmem.retrieval.hook import EARLIER_HEADING, record_injected

    first = context_of(run_hook(session_payload("s-compact", "startup")))
    assert f"#{buried[0]} " not in first
    record_injected(str(offmem_home), "s-compact", [buried[0]])  # what a prompt was given (offmem.retrieval.hook)

    after = context_of(run_hook(session_payload("s-compact", "compact")))
    assert first.splitlines()[0] in after  # the SessionStart block as ever
    assert EARLIER_HEADING in after
    assert f"#{buried[0]} " in after and "half-even" in after.split(EARLIER_HEADING, 1)[1]
    assert given(offmem_home, "s-compact") == [buried[0]]  # given again, so a prompt does not repeat it


def test_a_compaction_frees_what_it_could_not_give_back(buried, offmem_home):
    from offmem.retrieval.hook import EARLIER_MAX, record_injected

    context_of(run_hook(session_payload("s-many", "startup")))
    assert given(offmem_home, "start:s-many")
    record_injected(str(offmem_home), "s-many", buried)
    record_injected(str(offmem_home), "summaries:s-many", [1])
    after = context_of(run_hook(session_payload("s-many", "compact")))
    again = given(offmem_home, "s-many")
    assert 0 < len(again) <= EARLIER_MAX and set(again) < set(buried)
    assert all(f"#{i} " in after for i in again)
    assert given(offmem_home, "summaries:s-many") == []  # prompts may bring those back now
    # another session's record is untouched, a startup keeps what the session was given
    record_injected(str(offmem_home), "s-other", buried[:3])
    context_of(run_hook(session_payload("s-other", "startup")))
    assert given(offmem_home, "s-other") == sorted(buried[:3])


def test_a_compaction_with_nothing_given_is_the_usual_block(buried, offmem_home):
    from offmem.retrieval.hook import EARLIER_HEADING

    first = context_of(run_hook(session_payload("s-plain", "startup")))
    after = context_of(run_hook(session_payload("s-plain", "compact")))
    assert EARLIER_HEADING not in after and after.splitlines()[0] == first.splitlines()[0]


# ---------------------------------------------------------------------- a subagent's task

def transcript_at_second_call(version: str) -> str:
    """The captured transcript as it stood when the second subagent started: up to the Agent call."""
    lines = (FIXTURES / f"claude-code-{version}" / "transcript-session.jsonl").read_text().splitlines(keepends=True)
    calls = [n for n, line in enumerate(lines) if '"tool_use"' in line and '"name":"Agent"' in line]
    assert len(calls) == 2, calls
    return "".join(lines[:calls[1] + 1])


def test_the_subagent_task_is_read_from_the_end_of_the_transcript(tmp_path):
    from offmem.retrieval.hook import TAIL_BYTES, subagent_task

    for version in VERSIONS:
        transcript = tmp_path / f"{version}.jsonl"
        transcript.write_text(transcript_at_second_call(version))
        assert subagent_task(str(transcript), "Explore") == "Is RATES[country] used?"
    # a long transcript: only its end is read, the cut first line is skipped
    source = transcript_at_second_call("2.1.332")
    long = tmp_path / "long.jsonl"
    long.write_text("x" * (TAIL_BYTES * 3) + "\n" + source)
    assert subagent_task(str(long), "Explore") == "Is RATES[country] used?"
    # parallel calls in one message: those of the starting agent's type
    record = {"type": "assistant", "message": {"id": "m1", "role": "assistant", "content": [
        {"type": "tool_use", "id": "t1", "name": "Task", "input": {"description": "Plan it", "prompt": "Plan the VAT API",
                                                                   "subagent_type": "Plan"}},
        {"type": "tool_use", "id": "t2", "name": "Agent", "input": {"description": "Find it", "prompt": "Find vat()",
                                                                    "subagent_type": "Explore"}}]}}
    parallel = tmp_path / "parallel.jsonl"
    parallel.write_text(source + json.dumps(record) + "\n")
    assert subagent_task(str(parallel), "Plan") == "Plan the VAT API"
    assert subagent_task(str(parallel), "other") == "Plan the VAT API\nFind vat()"


def test_the_subagent_task_never_blocks_or_raises(tmp_path):
    import os

    from offmem.retrieval.hook import subagent_task

    fifo = tmp_path / "fifo.jsonl"
    os.mkfifo(fifo)
    broken = tmp_path / "broken.jsonl"
    broken.write_bytes(b'{"type": "assistant", "tool_use" "Agent"\n\xff\xfe"tool_use" "Agent"\n')
    for path in (str(fifo), str(tmp_path), str(broken), str(tmp_path / "missing.jsonl"), "relative.txt", None, 7):
        assert subagent_task(path, "Explore") == ""


def test_an_agent_call_of_an_earlier_turn_is_not_the_task(tmp_path):
    """Claude Code writes its transcript asynchronously: when the starting subagent's call is not
    there yet, the latest call there belongs to an earlier turn (a prompt came after it) and is
    not taken for its task."""
    from offmem.retrieval.hook import subagent_task

    source = transcript_at_second_call("2.1.332")
    later = tmp_path / "later.jsonl"
    prompt = {"type": "user", "isSidechain": False, "message": {"role": "user", "content": "Now update the docs"}}
    later.write_text(source + json.dumps(prompt) + "\n")
    assert subagent_task(str(later), "Explore") == ""
    meta = dict(prompt, isMeta=True)
    later.write_text(source + json.dumps(meta) + "\n")
    assert subagent_task(str(later), "Explore") == "Is RATES[country] used?"


def test_a_subagent_report_keeps_nothing_private(offmem_home):
    stop = next(p for p in captured("2.1.332") if p["hook_event_name"] == "SubagentStop" and p.get("agent_type"))
    report = "RATES is in cart/vat.py <private>my home is 12 Elm Street</private> and nowhere else."
    assert run_hook({**stop, "last_assistant_message": report}).returncode == 0
    (payload,) = [row[0] for row in db_rows(offmem_home, "SELECT payload FROM events WHERE kind = 'SubagentStop'")]
    assert "Elm Street" not in payload and "nowhere else" in payload
