"""End to end, on both pinned Claude Code versions: memory across a compaction, and for a subagent.

The real ``claude`` CLI runs one session prompt by prompt (stream-json input,
:class:`tests.support.claude_cli.ClaudeSession`) against
:class:`tests.support.claude_cli.ScriptedClaude`, which also plays the compaction
(``/compact``) and the subagents; offmem is installed with ``offmem install`` in a
throwaway HOME, with its real hooks and worker.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.claude_cli import ClaudeSession, ScriptedClaude, claude_bin, claude_version  # noqa: F401
from tests.support.fake_anthropic import ToolCall
from tests.test_e2e_claude import (  # noqa: F401 (fixtures)
    FACT, PROCESSING_TIMEOUT_S, backdate_session, claude, commit_all, debugging_script, dirs, flood_after, installed,
    offmem, query, wait_for_summary,
)

pytestmark = pytest.mark.e2e

COMPACT_SUMMARY = "Summary: the user is writing invoice notes in NOTES.md; nothing else was done yet."
NO_PROMPT_TIME = '[summarizer]\nbackend = "rules"\n\n[context]\nprompt_timeout_ms = 0\n'
# a generous time box: the worker's first lookups on a loaded 2-core CI machine
PROMPT_TIME = '[summarizer]\nbackend = "rules"\n\n[context]\nprompt_timeout_ms = 4000\n'
START_MARK = "SessionStart hook additional context:"
SUBAGENT_MARK = "SubagentStart hook additional context:"


@pytest.fixture
def fake() -> Iterator[ScriptedClaude]:
    with ScriptedClaude(compact_summary=COMPACT_SUMMARY,
                        subagent_script=["The VAT check failed with AssertionError: 20.0 before the fix."]) as server:
        yield server


def session(fake: ScriptedClaude, dirs: dict[str, Path], binary: Path) -> ClaudeSession:
    return ClaudeSession(cwd=dirs["project"], home=dirs["home"], base_url=fake.base_url, offmem_home=dirs["data"],
                         binary=binary)


def remember_the_vat_fix(fake: ScriptedClaude, dirs: dict[str, Path], binary: Path) -> str:
    """Session 1: the debugging session of test_e2e_claude, processed into memories; a clean tree after."""
    fake.set_script(debugging_script(dirs["project"]))
    first = claude(fake, dirs, binary, "Fix the VAT calculation for EU carts").result["session_id"]
    wait_for_summary(dirs["data"] / "offmem.db", first)
    commit_all(dirs["project"], "fix vat")  # the CLI's git-status snapshot names no file
    return first


def wait_for(db_path: Path, sql: str, *params: object, timeout: float = PROCESSING_TIMEOUT_S) -> list[tuple]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        rows = query(db_path, sql, *params) if db_path.exists() else []
        if rows and rows[0][0]:
            return rows
        time.sleep(0.5)
    raise AssertionError(f"nothing for {sql} {params} within {timeout:.0f}s; see {db_path.parent}/offmem.log")


def test_memory_is_in_the_first_request_after_a_compaction(claude_bin, fake, dirs, installed):
    """A session compacts mid-way (``/compact``): the next request to the model, which no longer holds
    the start of the session, carries the project's memory again (SessionStart, source compact)."""
    (dirs["data"] / "config.toml").write_text(NO_PROMPT_TIME)  # memory can only come from SessionStart
    db_path = dirs["data"] / "offmem.db"
    remember_the_vat_fix(fake, dirs, claude_bin)

    with session(fake, dirs, claude_bin) as live:
        notes = str(dirs["project"] / "NOTES.md")  # (2.1.197 compacts nothing shorter than a tool call)
        fake.set_script([[ToolCall("Write", {"file_path": notes, "content": "Invoices: see invoices/.\n"})],
                         "Noted: invoices go in NOTES.md."])
        live.send("Let's keep notes about invoices")
        compact = fake.set_script(["Compacted."])
        live.send("/compact")
        after = fake.set_script(["RATES lives in cart/vat.py."])
        answer = live.send("Where are the VAT rates defined?")
        session_id = live.session_id
    assert answer["result"] == "RATES lives in cart/vat.py.", live.describe()
    assert fake.requests_of("compact", run=compact), "no compaction request reached the model"

    first_after = fake.requests_of("agent", run=after)[0].dumps()
    assert COMPACT_SUMMARY in first_after  # the request really is one of the compacted conversation
    assert START_MARK in first_after, "no SessionStart context after the compaction"
    memory = first_after.split(START_MARK, 1)[1]
    assert "vat.py" in memory and any(fact in memory for fact in ("check.py", "RATES", "AssertionError")), memory[:600]

    # The compaction summary is kept once, as evidence of the session, read from its transcript.
    sources = wait_for(db_path, "SELECT count(*) FROM transcript_evidence WHERE session_id = ? AND kind = ?",
                       session_id, "compact_summary")
    assert sources[0][0] == 1
    kinds = {k for (k,) in query(db_path, "SELECT kind FROM events WHERE session_id = ?", session_id)}
    assert {"SessionStart", "PreCompact"} <= kinds and "SubagentStop" not in kinds, kinds  # not its own generation


def test_a_subagent_starts_with_the_memory_of_its_task(claude_bin, fake, dirs, installed):
    """The main agent hands a question about the past to a subagent: the subagent's first request
    carries the memory that answers it (SubagentStart context, from the warm worker)."""
    (dirs["data"] / "config.toml").write_text(PROMPT_TIME)
    db_path = dirs["data"] / "offmem.db"
    first = remember_the_vat_fix(fake, dirs, claude_bin)
    # a store with a history, as in test_prompt_brings_back_what_recency_would_not (the relevance gate
    # weighs a prompt's words by how rare they are in the project)
    project = query(db_path, "SELECT project FROM sessions WHERE id = ?", first)[0][0]
    backdate_session(db_path, first, days=10)
    flood_after(db_path, project, 400, start_days_ago=8)
    started = offmem(dirs, fake, "worker", "start", "--json")
    assert started.returncode == 0, started.stderr

    task = {"description": "Look up the old VAT failure", "subagent_type": "Explore", "run_in_background": False,
            "prompt": "Which assertion error did the VAT check fail with before the fix?"}
    run = fake.set_script([[ToolCall("Agent", task)], "It failed with AssertionError: 20.0."])
    claude(fake, dirs, claude_bin, "Ask a subagent about the history of the VAT check")

    subagent = fake.requests_of("subagent", run=run)
    assert subagent, "the subagent sent no request"
    first = subagent[0].dumps()
    log = (dirs["data"] / "offmem.log").read_text() if (dirs["data"] / "offmem.log").exists() else ""
    assert SUBAGENT_MARK in first, f"no SubagentStart context reached the subagent; offmem.log:\n{log[-3000:]}"
    assert FACT in first.split(SUBAGENT_MARK, 1)[1], first.split(SUBAGENT_MARK, 1)[1][:600]


def test_what_a_prompt_was_given_comes_back_after_a_compaction(claude_bin, fake, dirs, installed):
    """A prompt is given a memory the SessionStart block does not hold; the session compacts; the
    first request after it carries that memory again (the compaction summary need not keep it)."""
    from offmem.retrieval.hook import EARLIER_HEADING

    (dirs["data"] / "config.toml").write_text(PROMPT_TIME)
    db_path = dirs["data"] / "offmem.db"
    first = remember_the_vat_fix(fake, dirs, claude_bin)
    project = query(db_path, "SELECT project FROM sessions WHERE id = ?", first)[0][0]
    backdate_session(db_path, first, days=10)
    flood_after(db_path, project, 400, start_days_ago=8)
    preview = json.loads(offmem(dirs, fake, "context", "--json").stdout)
    assert FACT not in preview["text"]  # control: the SessionStart block does not carry it
    started = offmem(dirs, fake, "worker", "start", "--json")
    assert started.returncode == 0, started.stderr

    with session(fake, dirs, claude_bin) as live:
        notes = str(dirs["project"] / "NOTES.md")
        asked = fake.set_script([[ToolCall("Write", {"file_path": notes, "content": "VAT history.\n"})],
                                 "It failed with AssertionError: 20.0."])
        live.send("Which assertion error did the VAT check fail with before the fix?")
        fake.set_script(["Compacted."])
        live.send("/compact")
        after = fake.set_script(["Going on."])
        live.send("ok, go on")  # no topic: no prompt-time lookup
    given = fake.requests_of("agent", run=asked)[0].dumps()
    assert FACT in given.split("UserPromptSubmit hook additional context:", 1)[-1], "the prompt was given no memory"

    first_after = fake.requests_of("agent", run=after)[0].dumps()
    assert COMPACT_SUMMARY in first_after and START_MARK in first_after
    block = first_after.split(START_MARK, 1)[1]
    assert EARLIER_HEADING in block, block[:800]
    assert FACT in block.split(EARLIER_HEADING, 1)[1]
