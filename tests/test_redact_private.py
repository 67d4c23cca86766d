"""``<private>`` is honoured before anything is clipped, in every field people or the model write
(issue 12, item 4); clipping never splits a key in two.

Every check reads the bytes of the data directory (database, WAL, spool files) and the
terms of every FTS index, after the real hook (or the real import command) ran.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from conftest import fixture_payloads, run_hook
from support.durability import data_files, fts_terms, offmem

HIDDEN = "quokkazanzibar71"  # the private text: must be nowhere afterwards
FILLER = "the cart total is rounded per line before tax. "  # 47 characters of ordinary words


def base(kind: str) -> dict:
    event = next(p for p in fixture_payloads() if p["hook_event_name"] == kind)
    return json.loads(json.dumps(event))


def long_text_with_private_in_the_middle() -> str:
    """Longer than the 12,000 characters a field keeps: its head is the first 8,000 and its tail
    the last 4,000, and the opening tag sits between them, in the part clipping cuts away.
    The private span runs on into the tail, and holds the hidden word there."""
    head = FILLER * 200  # 9,400 characters: the tag lands past the kept head
    private = "<private>" + FILLER * 80 + f" my staging login is {HIDDEN} " + FILLER * 10 + "</private>"
    return head + private + " thanks, " + FILLER * 20


def leaked(home: Path) -> list[str]:
    found = [name for name, blob in data_files(home).items() if HIDDEN.encode() in blob]
    db = home / "offmem.db"
    if db.is_file() and any(HIDDEN in term for term in fts_terms(db)):
        found.append("FTS terms")
    return found


def test_the_long_text_really_puts_the_opening_tag_in_the_clipped_middle():
    from offmem.lean.settings import DEFAULTS
    from offmem.store.events import clip

    DEFAULT_MAX_FIELD_CHARS = DEFAULTS["capture"]["max_field_chars"]

    text = long_text_with_private_in_the_middle()
    clipped = clip(text, DEFAULT_MAX_FIELD_CHARS)
    assert "<private>" not in clipped and "</private>" in clipped and HIDDEN in clipped


def test_long_prompt_whose_private_tag_is_clipped_away_is_never_stored(offmem_home):
    start, prompt = fixture_payloads()[:2]
    run_hook(start)
    result = run_hook({**prompt, "prompt": long_text_with_private_in_the_middle()})
    assert result.returncode == 0
    conn = sqlite3.connect(offmem_home / "offmem.db")
    stored = conn.execute("SELECT text FROM prompts").fetchone()[0]
    conn.close()
    # with the private span gone first, what is left fits: nothing around it was cut either
    assert stored == (FILLER * 200 + " thanks, " + FILLER * 20).strip()
    assert leaked(offmem_home) == []


@pytest.mark.parametrize("kind,field", [("PreCompact", "custom_instructions"), ("Stop", "last_assistant_message")])
def test_private_in_compact_instructions_and_stop_messages(offmem_home, kind, field):
    start = fixture_payloads()[0]
    run_hook(start)
    if kind == "PreCompact":
        event = {k: start[k] for k in ("session_id", "transcript_path", "cwd")}
        event.update(hook_event_name="PreCompact", trigger="manual")
    else:
        event = base("Stop")
    for text in (f"keep the VAT notes <private>{HIDDEN}</private> and drop the rest",
                 long_text_with_private_in_the_middle()):
        assert run_hook({**event, field: text}).returncode == 0
    assert leaked(offmem_home) == []
    conn = sqlite3.connect(offmem_home / "offmem.db")
    payloads = [json.loads(r[0]) for r in conn.execute("SELECT payload FROM events WHERE kind = ?", (kind,))]
    conn.close()
    assert len(payloads) == 2 and payloads[0][field] == "keep the VAT notes  and drop the rest"


def test_private_in_tool_inputs_and_their_echo_in_tool_outputs(offmem_home):
    bash = base("PostToolUse")
    command = f"echo 'deploy <private>{HIDDEN}</private>' > notes.txt"
    run_hook({**bash, "tool_use_id": "toolu_p1", "tool_name": "Bash",
              "tool_input": {"command": command, "description": "write notes"},
              "tool_response": {"stdout": "", "stderr": "", "interrupted": False}})
    content = long_text_with_private_in_the_middle()
    path = f"{bash['cwd']}/notes.md"
    run_hook({**bash, "tool_use_id": "toolu_p2", "tool_name": "Write",
              "tool_input": {"file_path": path, "content": content},
              "tool_response": {"type": "create", "filePath": path, "content": content, "structuredPatch": []}})
    run_hook({**bash, "tool_use_id": "toolu_p3", "tool_name": "Edit",
              "tool_input": {"file_path": path, "old_string": "thanks", "new_string": f"<private>{HIDDEN}</private>"},
              "tool_response": {"filePath": path, "oldString": "thanks", "newString": f"<private>{HIDDEN}</private>",
                                "originalFile": content}})
    assert leaked(offmem_home) == []  # before any worker: the hook never stored it, not even raw
    conn = sqlite3.connect(offmem_home / "offmem.db")
    stored = {r[0]: json.loads(r[1]) for r in conn.execute("SELECT tool_use_id, payload FROM events")}
    conn.close()
    assert stored["toolu_p1"]["tool_input"]["command"] == "echo 'deploy ' > notes.txt"
    assert stored["toolu_p2"]["tool_input"]["file_path"] == path  # the rest of the event is kept


def test_private_text_is_kept_out_of_the_file_spool_too(offmem_home):
    """When the database cannot take the event, the spool file the hook writes instead is clean."""
    offmem_home.mkdir(parents=True)
    (offmem_home / "offmem.db").mkdir()  # a directory where the database should be: SQLite cannot open it
    start, prompt = fixture_payloads()[:2]
    run_hook({**prompt, "prompt": long_text_with_private_in_the_middle()})
    spooled = list((offmem_home / "spool").glob("*"))
    assert spooled, "the event was not spooled"
    assert leaked(offmem_home) == []


def test_transcript_import_strips_before_clipping(offmem_home, tmp_path):
    session = "5d2f8a10-3c4b-4e5f-8a9b-0c1d2e3f4a5b"
    cwd = "/home/dev/shop-api"
    lines = [
        {"type": "user", "sessionId": session, "cwd": cwd, "uuid": "u1", "timestamp": "2026-11-24T10:00:00.000Z",
         "message": {"role": "user", "content": long_text_with_private_in_the_middle()}},
        {"type": "assistant", "sessionId": session, "cwd": cwd, "uuid": "a1", "timestamp": "2026-11-24T10:00:05.000Z",
         "message": {"id": "msg_1", "role": "assistant", "stop_reason": "end_turn",
                     "content": [{"type": "text", "text": f"Noted. <private>{HIDDEN}</private> Done."}]}},
    ]
    transcript = tmp_path / f"{session}.jsonl"
    transcript.write_text("\n".join(json.dumps(line) for line in lines) + "\n")
    out = json.loads(offmem("import-transcripts", str(transcript), "--rules", "--json").stdout)
    assert out["events"] >= 3
    assert leaked(offmem_home) == []
    conn = sqlite3.connect(offmem_home / "offmem.db")
    assert conn.execute("SELECT count(*) FROM prompts").fetchone()[0] == 1
    conn.close()


def test_clipping_never_splits_a_key_in_two(offmem_home):
    """A token straddling the clip boundary used to leave its first half in the prompt, too short
    for the redactor to recognize."""
    token = "ghp_" + "Zx8Cv7Bn6Mq5Wr4Et3Yu2Io1Pa9Sd8Fg7Hj6K"
    head = FILLER * 170  # 7,990 characters: the kept head ends inside the token
    text = head + " " + token + " " + FILLER * 150
    start, prompt = fixture_payloads()[:2]
    run_hook(start)
    run_hook({**prompt, "prompt": text})
    pieces = [token[i:i + 8] for i in range(0, len(token) - 8)]
    blobs = data_files(offmem_home)
    assert [p for p in pieces if any(p.encode() in blob for blob in blobs.values())] == []
