"""offmem import-transcripts: real Claude Code transcripts rebuilt into the events the hooks would have sent."""

from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path

import pytest

from conftest import FIXTURES, fixture_payloads, replay
from support.durability import offmem

from offmem.portability import discover, transcript_events

SESSION1 = "aec79197-7a7d-4653-bf2b-6e40ad63e1d2"
SESSION2 = "e6f389e1-d90a-4f2c-ab80-5e36d47af64e"
TRANSCRIPTS = [FIXTURES / "transcript-session1.jsonl", FIXTURES / "transcript-session2.jsonl"]


def q(home: Path, sql: str, *args) -> list[tuple]:
    conn = sqlite3.connect(home / "offmem.db")
    try:
        return conn.execute(sql, args).fetchall()
    finally:
        conn.close()


def claude_projects(home: Path) -> Path:
    """The transcripts laid out as Claude Code does, under $HOME/.claude/projects, with a subagent file."""
    folder = home / ".claude" / "projects" / "-home-dev-shop-api"
    folder.mkdir(parents=True)
    for path in TRANSCRIPTS:
        shutil.copy(path, folder / path.name.replace("transcript-session1", SESSION1).replace("transcript-session2", SESSION2))
    sub = folder / SESSION1 / "subagents"
    sub.mkdir(parents=True)
    (sub / "agent-a9d3.jsonl").write_text(TRANSCRIPTS[1].read_text())
    return folder


def test_events_rebuilt_from_a_transcript_match_what_the_hooks_sent():
    session, events = transcript_events(TRANSCRIPTS[0])
    assert session == SESSION1
    live = [p for p in fixture_payloads() if p["session_id"] == SESSION1 and p["hook_event_name"] != "PreToolUse"]
    assert [e.payload["hook_event_name"] for e in events] == [p["hook_event_name"] for p in live]
    for rebuilt, hook in zip(events, live):
        for key in ("tool_name", "tool_use_id", "tool_input", "tool_response", "prompt", "last_assistant_message"):
            assert rebuilt.payload.get(key) == hook.get(key), key
    failure = next(e for e in events if e.payload["hook_event_name"] == "PostToolUseFailure")
    assert failure.payload["error"].startswith("Exit code 1\nTraceback")
    assert events[0].time == "2026-11-24T21:25:22.916Z"  # the first user record's timestamp


def test_backfill_from_the_default_folder_equals_live_capture(offmem_home, tmp_path):
    folder = claude_projects(Path.home())  # HOME is the test's own
    # live, the hooks name the transcript Claude Code writes; here the same files the backfill reads
    replay([{**p, "transcript_path": str(folder / Path(p["transcript_path"]).name)} for p in fixture_payloads()])
    offmem("process", "--rules")
    # per session in order (the backfill takes the newest transcript first)
    live = q(offmem_home, "SELECT type, title, files_read, files_modified FROM observations ORDER BY session_id, id")
    live_summaries = q(offmem_home, "SELECT session_id, request, completed FROM summaries ORDER BY session_id")

    fresh = tmp_path / "fresh"
    out = json.loads(offmem("import-transcripts", "--rules", "--json", env={"OFFMEM_HOME": str(fresh)}).stdout)
    assert out["files"] == 2 and out["imported_files"] == 2 and out["processed"] is True  # the subagent file is left out
    assert q(fresh, "SELECT type, title, files_read, files_modified FROM observations ORDER BY session_id, id") == live
    assert q(fresh, "SELECT session_id, request, completed FROM summaries ORDER BY session_id") == live_summaries
    prompts = [r[0] for r in q(fresh, "SELECT text FROM prompts ORDER BY session_id, id")]
    assert prompts == ["Fix the VAT calculation for EU carts; my token is", "Where is RATES used?"]
    assert b"sk-live-123" not in (fresh / "offmem.db").read_bytes()  # <private> is stripped as in the hook
    stamps = [json.loads(line).get("timestamp") for path in TRANSCRIPTS for line in path.read_text().splitlines()
              if json.loads(line).get("type") in ("user", "assistant")]
    assert q(fresh, "SELECT min(created_at), max(created_at) FROM events") == [(min(stamps), max(stamps))]
    assert q(fresh, "SELECT count(*) FROM events WHERE status != 'done'") == [(0,)]


def test_import_is_idempotent_and_skips_sessions_the_hooks_captured(offmem_home):
    first = json.loads(offmem("import-transcripts", *map(str, TRANSCRIPTS), "--rules", "--json").stdout)
    assert [r["status"] for r in first["results"]] == ["imported", "imported"]
    counts = q(offmem_home, "SELECT (SELECT count(*) FROM events), (SELECT count(*) FROM observations), (SELECT count(*) FROM prompts)")
    again = json.loads(offmem("import-transcripts", *map(str, TRANSCRIPTS), "--rules", "--json").stdout)
    assert [r["status"] for r in again["results"]] == ["unchanged", "unchanged"] and again["events"] == 0
    assert q(offmem_home, "SELECT (SELECT count(*) FROM events), (SELECT count(*) FROM observations), (SELECT count(*) FROM prompts)") == counts

    other = offmem_home.parent / "other-home"
    replay([p for p in fixture_payloads() if p["session_id"] == SESSION1], env={"OFFMEM_HOME": str(other)})
    result = json.loads(offmem("import-transcripts", *map(str, TRANSCRIPTS), "--rules", "--json",
                               env={"OFFMEM_HOME": str(other)}).stdout)
    assert [r["status"] for r in result["results"]] == ["captured-live", "imported"]


def resumed_lines(session: str, cwd: str = "/home/dev/shop-api") -> list[str]:
    common = {"sessionId": session, "cwd": cwd, "isSidechain": False, "version": "2.1.197"}
    records = [
        {**common, "type": "user", "timestamp": "2026-11-25T09:00:00.000Z", "promptId": "p-2",
         "message": {"role": "user", "content": "Add the UK rate too"}},
        {**common, "type": "assistant", "timestamp": "2026-11-25T09:00:01.000Z",
         "message": {"id": "msg_r1", "role": "assistant", "stop_reason": "tool_use", "content": [
             {"type": "tool_use", "id": "toolu_r1", "name": "Edit",
              "input": {"file_path": "/home/dev/shop-api/cart/vat.py", "old_string": '"IT": 0.22}', "new_string": '"IT": 0.22, "UK": 0.20}'}}]}},
        {**common, "type": "user", "timestamp": "2026-11-25T09:00:02.000Z", "toolUseResult": {"filePath": "/home/dev/shop-api/cart/vat.py"},
         "message": {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_r1", "content": "updated"}]}},
        {**common, "type": "assistant", "timestamp": "2026-11-25T09:00:03.000Z",
         "message": {"id": "msg_r2", "role": "assistant", "stop_reason": "end_turn", "content": [{"type": "text", "text": "UK added."}]}},
    ]
    return [json.dumps(r) for r in records]


def test_a_resumed_transcript_contributes_only_its_new_lines(offmem_home, tmp_path):
    path = tmp_path / f"{SESSION1}.jsonl"
    shutil.copy(TRANSCRIPTS[0], path)
    offmem("import-transcripts", str(path), "--rules")
    before = q(offmem_home, "SELECT count(*) FROM events")[0][0]
    with open(path, "a") as fh:
        fh.write("not json at all\n" + "\n".join(resumed_lines(SESSION1)) + "\n")
    result = json.loads(offmem("import-transcripts", str(path), "--rules", "--json").stdout)
    assert result["results"][0]["status"] == "imported"
    kinds = [r[0] for r in q(offmem_home, "SELECT kind FROM events WHERE id > ? ORDER BY id", before)]
    assert kinds == ["SessionStart", "UserPromptSubmit", "PostToolUse", "Stop", "SessionEnd"]
    assert [r[0] for r in q(offmem_home, "SELECT text FROM prompts ORDER BY prompt_number")][-1] == "Add the UK rate too"
    assert q(offmem_home, "SELECT prompt_count FROM sessions") == [(2,)]
    titles = [r[0] for r in q(offmem_home, "SELECT title FROM observations ORDER BY id")]
    assert any("UK" in t for t in titles)


def test_secrets_in_transcripts_are_redacted(offmem_home, tmp_path):
    key = "sk-ant-api03-" + "Qx7" * 30 + "AA"
    lines = resumed_lines("secret-session")
    lines[0] = lines[0].replace("Add the UK rate too", f"Use ANTHROPIC_API_KEY={key} for the check")
    lines[2] = lines[2].replace('"content": "updated"', f'"content": "export ANTHROPIC_API_KEY={key}"').replace(
        '{"filePath": "/home/dev/shop-api/cart/vat.py"}', f'"{key}"')
    path = tmp_path / "secret-session.jsonl"
    path.write_text("\n".join(lines) + "\n")
    offmem("import-transcripts", str(path), "--rules")
    for name in ("offmem.db", "offmem.db-wal", "offmem.log"):
        if (offmem_home / name).exists():
            assert key[20:40].encode() not in (offmem_home / name).read_bytes(), name
    assert "[REDACTED:anthropic-api-key]" in q(offmem_home, "SELECT text FROM prompts")[0][0]


def test_no_transcripts_folder_is_a_clear_error(offmem_home):
    result = offmem("import-transcripts", check=False)
    assert result.returncode == 1
    assert "no transcript file or folder" in result.stderr and ".claude/projects" in result.stderr


def test_discover_leaves_subagents_out(tmp_path):
    folder = claude_projects(tmp_path)
    assert [p.name for p in discover([folder.parent])] == [f"{SESSION1}.jsonl", f"{SESSION2}.jsonl"]
    with pytest.raises(FileNotFoundError):
        discover([tmp_path / "missing"])


def test_transcripts_honour_the_capture_skip_list(offmem_home):
    offmem_home.mkdir(parents=True)
    (offmem_home / "config.toml").write_text('[capture]\nskip_tools = ["TaskCreate", "Read"]\n')
    result = json.loads(offmem("import-transcripts", str(TRANSCRIPTS[0]), "--rules", "--json").stdout)
    assert result["results"][0]["skipped"] == 2
    assert q(offmem_home, "SELECT count(*) FROM events WHERE tool_name IN ('TaskCreate', 'Read')") == [(0,)]
