"""Issue 12 item 20: the export → import round trip of docs/export-format.md holds on real data.

A store is captured for real: hook payloads (the recorded fixtures plus a session whose tools ran
before its first prompt and whose user typed the same prompt twice) go through the real hook
subprocess and `offmem process --rules`; memories are remembered through offmem's own remember
operation. `offmem export` → `offmem import` into a fresh OFFMEM_HOME must then recreate every
observation, summary and prompt, field by field.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from conftest import fixture_payloads, replay
from support.durability import offmem

from offmem.config import load_settings
from offmem.portability import parse_line
from offmem.store.db import Store

PROJECT = "/home/dev/shop-api"
SID = "c0ffee00-3333-4444-8888-000000000003"


def _payload(kind: str, **extra) -> dict:
    base = {"session_id": SID, "transcript_path": f"/home/dev/.claude/projects/-home-dev-shop-api/{SID}.jsonl",
            "cwd": PROJECT, "hook_event_name": kind}
    base.update(extra)
    return base


def _tool(kind: str, tool: str, tool_input: dict, response, use_id: str) -> dict:
    return _payload(kind, tool_name=tool, tool_input=tool_input, tool_response=response, tool_use_id=use_id)


def promptless_session() -> list[dict]:
    """A session whose first tools run before any prompt (a resumed or scripted start), then the
    same short prompt twice, as users type "continue"."""
    return [
        _payload("SessionStart", source="resume"),
        _tool("PostToolUse", "Write", {"file_path": f"{PROJECT}/cart/rounding.py", "content": "def round2(x):\n"
                                       "    return round(x, 2)\n"},
              {"type": "create", "filePath": f"{PROJECT}/cart/rounding.py"}, "toolu_p001"),
        _tool("PostToolUse", "Read", {"file_path": f"{PROJECT}/cart/vat.py"},
              {"type": "text", "file": {"filePath": f"{PROJECT}/cart/vat.py", "content": "RATES = {}\n",
                                        "numLines": 1, "startLine": 1, "totalLines": 1}}, "toolu_p002"),
        _payload("UserPromptSubmit", prompt="continue", prompt_id="p-1"),
        _tool("PostToolUse", "Bash", {"command": "python3 -m pytest -q cart", "description": "Run cart tests"},
              {"stdout": "3 passed", "stderr": "", "interrupted": False}, "toolu_p003"),
        _payload("UserPromptSubmit", prompt="continue", prompt_id="p-2"),
        _tool("PostToolUse", "Edit", {"file_path": f"{PROJECT}/cart/vat.py", "old_string": "RATES = {}",
                                      "new_string": "RATES = {'DE': 0.19}"},
              {"filePath": f"{PROJECT}/cart/vat.py", "oldString": "RATES = {}", "newString": "RATES = {'DE': 0.19}"},
              "toolu_p004"),
        _payload("Stop", stop_hook_active=False, last_assistant_message="Rounding helper added; DE rate set."),
        _payload("SessionEnd", reason="other"),
    ]


def capture_real_store(home: Path) -> None:
    done = replay(fixture_payloads() + promptless_session())
    assert all(r.returncode == 0 for r in done)
    offmem("process", "--rules")
    from offmem.privacy import default_redactor
    from offmem.retrieval.memories import remember

    settings = load_settings()
    with Store.open(settings.db_path) as store:
        remember(store, PROJECT, "We keep VAT rates in cart/vat.py, never in settings.", type="decision",
                 files=["cart/vat.py"], redactor=default_redactor(settings))
        remember(store, PROJECT, "Split the invoice renderer into pdf.py and html.py.", title="Renderer split",
                 type="refactor", session_id="mcp-session-1", redactor=default_redactor(settings))


def table(home: Path, name: str) -> list[dict]:
    conn = sqlite3.connect(home / "offmem.db")
    conn.row_factory = sqlite3.Row
    try:
        return [dict(r) for r in conn.execute(f"SELECT * FROM {name} ORDER BY id")]
    finally:
        conn.close()


# What the format does not carry (docs/export-format.md, "Not in the format"): row ids, the events an
# observation was made from, a summary's first-written time (a summary line carries its last update),
# and Claude Code's prompt_id.
NOT_CARRIED = {"observations": {"id", "event_ids"}, "summaries": {"id", "created_at"},
               "prompts": {"id", "prompt_id"}}


def memory_rows(home: Path) -> dict:
    out = {}
    for name, skip in NOT_CARRIED.items():
        rows = [{k: v for k, v in row.items() if k not in skip} for row in table(home, name)]
        if name == "observations":
            for row in rows:  # "no prompt": the capture pipeline writes 0, remember writes NULL
                row["prompt_number"] = row["prompt_number"] or None
        out[name] = rows
    return out


def test_round_trip_of_a_real_captured_store_keeps_every_memory_field_by_field(offmem_home, tmp_path):
    capture_real_store(offmem_home)
    source = memory_rows(offmem_home)
    observations = table(offmem_home, "observations")
    # the store really holds every kind the format covers, and the cases that broke the round trip
    assert {o["type"] for o in observations} == {"bugfix", "feature", "refactor", "change", "discovery", "decision"}
    assert {o["origin"] for o in observations} == {"capture", "remember"}
    assert any(o["prompt_number"] == 0 for o in observations), "an observation made before the first prompt"
    assert any(o["prompt_number"] is None for o in observations), "a remembered memory"
    assert len(source["summaries"]) == 3
    session_prompts = [p["text"] for p in table(offmem_home, "prompts") if p["session_id"] == SID]
    assert session_prompts == ["continue", "continue"]

    dump = tmp_path / "memories.jsonl"
    offmem("export", "--output", str(dump))
    lines = dump.read_text("utf-8").splitlines()
    assert len(lines) == len(observations) + 3 + len(table(offmem_home, "prompts"))
    for line in lines:
        data = json.loads(line)
        assert data.get("prompt_number") is None or data["prompt_number"] >= 1, line
        parse_line(line)  # every exported line is a valid line

    fresh = tmp_path / "fresh-home"
    result = offmem("import", str(dump), "--json", env={"OFFMEM_HOME": str(fresh)}, check=False)
    report = json.loads(result.stdout)
    assert report["rejected"] == [] and result.returncode == 0, report
    assert report["imported_total"] == len(lines)
    assert memory_rows(fresh) == source

    again = json.loads(offmem("import", str(dump), "--json", env={"OFFMEM_HOME": str(fresh)}).stdout)
    assert again["imported_total"] == 0 and again["duplicates"] == len(lines)
    assert memory_rows(fresh) == source
    into_source = json.loads(offmem("import", str(dump), "--json").stdout)
    assert into_source["imported_total"] == 0 and memory_rows(offmem_home) == source


def test_lines_already_exported_with_prompt_number_0_are_imported(offmem_home):
    legacy = {"format": "offmem-memory", "version": 1, "project": PROJECT, "session": "old-export",
              "time": "2026-11-24T21:25:23.642Z", "type": "change", "title": "Created cart/rounding.py",
              "text": "", "prompt_number": 0, "origin": "capture", "backend": "rules"}
    assert parse_line(json.dumps(legacy)).prompt_number is None
    result = offmem("import", "-", "--json", input=json.dumps(legacy) + "\n", check=False)
    report = json.loads(result.stdout)
    assert result.returncode == 0 and report["imported"] == {"change": 1}, report
    assert [r["prompt_number"] for r in table(offmem_home, "observations")] == [None]
    for bad in (-1, "1", True, 1.5):
        line = json.dumps({**legacy, "prompt_number": bad})
        try:
            parse_line(line)
        except ValueError as exc:
            assert "prompt_number" in str(exc)
        else:
            raise AssertionError(f"prompt_number {bad!r} was accepted")


def test_a_summary_whose_request_is_blank_is_exported_and_round_trips(offmem_home, tmp_path):
    """A prompt made only of a <private> span leaves a blank request; export must still write the summary."""
    with Store.open(load_settings().db_path) as store:
        store.conn.execute(
            "INSERT INTO summaries (session_id, project, request, completed, created_at, updated_at)"
            " VALUES ('blank-1', ?, ' \n ', 'Rotated the staging key.', '2026-03-01T10:00:00.000Z',"
            " '2026-03-01T10:05:00.000Z')", (PROJECT,))
    dump = tmp_path / "memories.jsonl"
    offmem("export", "--output", str(dump))
    [line] = [json.loads(x) for x in dump.read_text("utf-8").splitlines()]
    assert line["type"] == "summary" and line["title"] == "Session summary" and line["request"] == " \n "
    fresh = tmp_path / "fresh-home"
    report = json.loads(offmem("import", str(dump), "--json", env={"OFFMEM_HOME": str(fresh)}).stdout)
    assert report["imported"] == {"summary": 1}
    assert memory_rows(fresh)["summaries"] == memory_rows(offmem_home)["summaries"]
