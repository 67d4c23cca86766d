"""offmem.transcript.reader additions for the worker's transcript stage (issue 14 item 1).

Where an item sits relative to tool calls *and* turns (``prompts_since_tool``), and
what the reader does with a path that is not a regular file. Real files on disk.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

from offmem.transcript import TranscriptState, read_transcript
from tests.test_transcript_reader import assistant, text, tool_result, tool_use, user_text, write_lines

ROOT = Path(__file__).resolve().parent.parent
SESSIONS = ROOT / "eval" / "transcripts" / "sessions"


def same(t: str) -> str:
    return t


def test_items_count_the_turns_since_their_tool_call(tmp_path):
    path = tmp_path / "s.jsonl"
    write_lines(path, [
        user_text("u1", "why is the upload slow"),
        assistant("a1", text("Before any tool.")),
        assistant("a2", tool_use("toolu_1", command="cat up.py")),
        tool_result("r1", "toolu_1", "def upload(): ..."),
        assistant("a3", text("The chunk size is 1 byte, that is why.")),
        user_text("u2", "ok, what would you change"),
        assistant("a4", text("I would raise it to 8 MB because the server accepts that.")),
        user_text("u3", "do it later"),
        assistant("a5", text("Noted.")),
        assistant("a6", tool_use("toolu_2", command="make test")),
        tool_result("r2", "toolu_2", "ok"),
        assistant("a7", text("Tests pass.")),
    ])
    items = [i for i in read_transcript(path, redact=same).items if i.kind == "assistant_text"]
    got = [(i.text.split()[0], i.after_tool_use_id, i.prompt_index, i.prompts_since_tool) for i in items]
    assert got == [
        ("Before", None, 1, 1),  # before the first tool call: turns since the session's start
        ("The", "toolu_1", 1, 0),
        ("I", "toolu_1", 2, 1),  # a text-only turn after toolu_1's turn
        ("Noted.", "toolu_1", 3, 2),
        ("Tests", "toolu_2", 3, 0),
    ]


def test_turn_count_survives_a_saved_state(tmp_path):
    path = tmp_path / "s.jsonl"
    first = [
        user_text("u1", "run the tests"),
        assistant("a1", tool_use("toolu_1", command="make test")),
        tool_result("r1", "toolu_1", "ok"),
    ]
    write_lines(path, first)
    state = read_transcript(path, redact=same).state
    state = TranscriptState.from_dict(state.to_dict())
    write_lines(path, [user_text("u2", "and now?"), assistant("a2", text("Nothing left to do."))], mode="a")
    items = read_transcript(path, state, redact=same).items
    reply = [i for i in items if i.kind == "assistant_text"]
    assert [(i.after_tool_use_id, i.prompts_since_tool) for i in reply] == [("toolu_1", 1)]


def test_real_session_text_only_turns_have_a_turn_count():
    items = read_transcript(SESSIONS / "obra-scenario-agent.jsonl", redact=same, final=True).items
    texts = [i for i in items if i.kind == "assistant_text"]
    assert any(i.prompts_since_tool > 0 for i in texts)
    assert all(i.prompt_index - i.prompts_since_tool >= 0 for i in texts)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
def test_a_fifo_where_the_transcript_should_be_does_not_block(tmp_path):
    path = tmp_path / "s.jsonl"
    os.mkfifo(path)
    done: dict = {}

    def read() -> None:
        done["result"] = read_transcript(path, redact=same)

    worker = threading.Thread(target=read, daemon=True)
    worker.start()
    worker.join(5)
    if worker.is_alive():  # unblock the reader so the test process can end
        fd = os.open(path, os.O_WRONLY | os.O_NONBLOCK)
        os.close(fd)
        worker.join(5)
        pytest.fail("reading a FIFO blocked the reader")
    result = done["result"]
    assert result.items == [] and result.errors and "not a regular file" in result.errors[0]
