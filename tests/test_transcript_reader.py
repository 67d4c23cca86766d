"""offmem.transcript.reader on real transcripts (eval/transcripts) and crafted edge cases.

Real files, no mocks: the corpus is read as Claude Code wrote it (1.0.98 to 2.1.39),
and the live cases append to, truncate, replace and damage real files on disk.
"""

from __future__ import annotations

import json
import os
import shutil
from collections import Counter
from pathlib import Path

import pytest

from offmem.privacy.redact import Redactor
from offmem.transcript import Evidence, TranscriptState, read_transcript, subagent_files

ROOT = Path(__file__).resolve().parent.parent
SESSIONS = ROOT / "eval" / "transcripts" / "sessions"
REDACT = Redactor().redact_text


def keys(items: list[Evidence]) -> list[str]:
    return [i.key for i in items]


def read_all(path, **kw):
    return read_transcript(path, redact=REDACT, final=True, **kw)


def record(kind: str, uuid: str, session: str = "s-1", **extra) -> dict:
    base = {"parentUuid": None, "isSidechain": False, "userType": "external", "cwd": "/home/dev/app",
            "sessionId": session, "version": "2.1.39", "type": kind, "uuid": uuid,
            "timestamp": "2026-02-11T20:31:53.375Z"}
    base.update(extra)
    return base


def user_text(uuid: str, text: str, **extra) -> dict:
    return record("user", uuid, message={"role": "user", "content": text}, **extra)


def assistant(uuid: str, *blocks: dict, **extra) -> dict:
    return record("assistant", uuid, message={"id": "msg_" + uuid, "role": "assistant", "model": "claude-opus-4-6",
                                              "content": list(blocks), "stop_reason": None}, **extra)


def text(t: str) -> dict:
    return {"type": "text", "text": t}


def tool_use(use_id: str, name: str = "Bash", **inp) -> dict:
    return {"type": "tool_use", "id": use_id, "name": name, "input": inp or {"command": "ls"}}


def tool_result(uuid: str, use_id: str, content, is_error: bool = False, **extra) -> dict:
    block = {"tool_use_id": use_id, "type": "tool_result", "content": content}
    if is_error:
        block["is_error"] = True
    return record("user", uuid, message={"role": "user", "content": [block]}, **extra)


def write_lines(path: Path, records: list, mode: str = "w") -> None:
    with open(path, mode, encoding="utf-8") as fh:
        for r in records:
            fh.write((r if isinstance(r, str) else json.dumps(r)) + "\n")


# ------------------------------------------------------------------ real transcripts


def test_real_2_0_session_with_manual_compaction():
    result = read_all(SESSIONS / "fasthooks-sample.jsonl")
    kinds = Counter(i.kind for i in result.items)
    assert result.malformed == 0 and result.errors == []
    prompts = [i.text for i in result.items if i.kind == "user_prompt"]
    assert prompts[0] == "can you run a command ls -la"
    assert not any(p.startswith(("<command-", "<local-command", "Caveat:")) for p in prompts)
    assert kinds["compact_boundary"] == 1 and kinds["compact_summary"] == 1
    boundary = next(i for i in result.items if i.kind == "compact_boundary")
    assert boundary.meta["trigger"] == "manual" and boundary.text == ""
    summary = next(i for i in result.items if i.kind == "compact_summary")
    assert summary.text.startswith("This session is being continued")
    # assistant text is placed after the tool call that preceded it
    texts = [i for i in result.items if i.kind == "assistant_text"]
    assert texts and all(i.session_id for i in texts)
    assert any(i.after_tool_use_id and i.after_tool_use_id.startswith("toolu_") for i in texts)


def test_real_2_1_session_reads_its_subagents_folder_but_not_the_compaction_agent():
    main = SESSIONS / "spotter-unified-transcript.jsonl"
    names = [name for name, _ in subagent_files(main)]
    assert names == ["subagents/agent-a2898e3.jsonl"]  # agent-acompact-* left out
    result = read_all(main)
    sub = [i for i in result.items if i.kind == "subagent_text"]
    assert sub and {i.agent_id for i in sub} == {"a2898e3"}
    assert all(i.source.endswith("agent-a2898e3.jsonl") for i in sub)
    report = [i for i in result.items if i.kind == "subagent_result"]
    assert len(report) == 1
    assert report[0].meta == {"tool_use_id": "toolu_017pLRuPHYTX5t99EnLyV53m", "tool": "Task",
                               "agent_id": "a2898e3", "status": "completed"}
    assert "Comprehensive Exploration Report" in report[0].text
    assert Counter(i.kind for i in result.items)["compact_summary"] == 1
    assert set(result.state.subagents) == {"subagents/agent-a2898e3.jsonl"}


def test_real_1_0_inline_sidechains_are_subagent_text_not_the_main_threads():
    result = read_all(SESSIONS / "ccv-demo-todo-app.jsonl")
    kinds = Counter(i.kind for i in result.items)
    assert kinds["subagent_result"] == 5  # five Task calls returned a report
    assert kinds["subagent_text"] > 20
    assert kinds["summary"] == 1
    main_texts = [i for i in result.items if i.kind == "assistant_text"]
    # the sidechains' "I'll create React components…" belongs to a subagent, not the main thread
    assert not any("I'll create React components" in i.text for i in main_texts)
    assert any("I'll create React components" in i.text for i in result.items if i.kind == "subagent_text")
    summary = next(i for i in result.items if i.kind == "summary")
    assert summary.text == "Empty Repo Setup: CLAUDE.md Foundation Created"


def test_every_corpus_file_reads_without_errors_and_keeps_the_agents_reasons():
    files = sorted(SESSIONS.glob("*.jsonl"))
    assert len(files) == 16
    all_text = []
    for path in files:
        result = read_all(path)
        assert result.errors == [] and result.malformed == 0, path.name
        assert len(set(keys(result.items))) == len(result.items), path.name
        all_text += [i.text for i in result.items]
    joined = "\n".join(all_text)
    # reasons that live only in what the agent said (queries.json: decision answers)
    assert "Main branch had linting errors" in joined or "main branch had linting errors" in joined.lower()


# ------------------------------------------------------------------ live appending


def test_live_appending_in_arbitrary_pieces_gives_the_same_items_once(tmp_path):
    source = (SESSIONS / "fasthooks-sample.jsonl").read_bytes()
    whole = read_transcript(SESSIONS / "fasthooks-sample.jsonl", redact=REDACT)
    live = tmp_path / "live.jsonl"
    live.write_bytes(b"")
    state = TranscriptState()
    got: list[Evidence] = []
    step = 997  # cuts lines mid-record, mid-UTF-8 sequence, anywhere
    for end in range(0, len(source) + step, step):
        with open(live, "ab") as fh:
            fh.write(source[end - step if end else 0:end] if end else b"")
        result = read_transcript(live, state, redact=REDACT)
        got += result.items
        assert result.malformed == 0  # a partly written line is never taken for damage
        # the offset always stops at the start of a line
        assert state.main.offset == 0 or source[state.main.offset - 1:state.main.offset] == b"\n"
    assert keys(got) == keys(whole.items)
    assert [i.text for i in got] == [i.text for i in whole.items]
    assert [i.offset for i in got] == [i.offset for i in whole.items]


def test_partial_last_line_waits_unless_final(tmp_path):
    path = tmp_path / "s.jsonl"
    line = json.dumps(user_text("u1", "add a retry to the upload"))
    path.write_text(line[:-1], encoding="utf-8")
    state = TranscriptState()
    assert read_transcript(path, state, redact=REDACT).items == []
    assert state.main.offset == 0
    path.write_text(line, encoding="utf-8")  # complete, but no newline yet
    assert read_transcript(path, state, redact=REDACT).items == []
    result = read_transcript(path, state, redact=REDACT, final=True)
    assert [i.text for i in result.items] == ["add a retry to the upload"]
    assert state.main.offset == len(line)
    with open(path, "a", encoding="utf-8") as fh:  # the session resumes: newline, then more
        fh.write("\n" + json.dumps(user_text("u2", "and log it")) + "\n")
    assert [i.text for i in read_transcript(path, state, redact=REDACT).items] == ["and log it"]


def test_state_survives_json_and_a_garbage_state_starts_over(tmp_path):
    path = tmp_path / "s.jsonl"
    write_lines(path, [user_text("u1", "first"), assistant("a1", text("The cause is a stale cache."))])
    first = read_transcript(path, redact=REDACT)
    saved = json.loads(json.dumps(first.state.to_dict()))
    write_lines(path, [assistant("a2", text("Next: clear it on deploy."))], mode="a")
    resumed = read_transcript(path, TranscriptState.from_dict(saved), redact=REDACT)
    assert [i.text for i in resumed.items] == ["Next: clear it on deploy."]
    fresh = read_transcript(path, TranscriptState.from_dict({"version": 1, "main": {"offset": "x", "seen": 3}}),
                            redact=REDACT)
    assert len(fresh.items) == 3
    assert TranscriptState.from_dict("nonsense").main.offset == 0


# ------------------------------------------------------------------ truncation and rotation


def test_truncated_file_restarts_without_repeating_items(tmp_path):
    path = tmp_path / "s.jsonl"
    shutil.copy(SESSIONS / "pomodoro-timer.jsonl", path)
    state = TranscriptState()
    first = read_transcript(path, state, redact=REDACT)
    assert first.items
    data = path.read_bytes()
    cut = data.rfind(b"\n", 0, len(data) // 2) + 1
    with open(path, "r+b") as fh:
        fh.truncate(cut)
    again = read_transcript(path, state, redact=REDACT)
    assert again.restarts == 1 and again.items == []
    assert state.main.offset == cut
    write_lines(path, [user_text("new-1", "make the alarm quieter")], mode="a")
    after = read_transcript(path, state, redact=REDACT)
    assert [i.text for i in after.items] == ["make the alarm quieter"]
    # the prompt count was rebuilt from the file, not lost: the new prompt is the next number
    assert after.items[0].prompt_index == 1 + sum(1 for i in first.items if i.kind == "user_prompt"
                                                  and i.offset < cut)


def test_rotated_file_other_inode_yields_only_new_items(tmp_path):
    path = tmp_path / "s.jsonl"
    shutil.copy(SESSIONS / "obra-streaming-tentative.jsonl", path)
    state = TranscriptState()
    first = read_transcript(path, state, redact=REDACT)
    rotated = tmp_path / "s.jsonl.new"
    shutil.copy(path, rotated)
    write_lines(rotated, [assistant("late", text("The instructions now say: act, then report."))], mode="a")
    os.replace(rotated, path)
    result = read_transcript(path, state, redact=REDACT)
    assert result.restarts == 1
    assert [i.text for i in result.items] == ["The instructions now say: act, then report."]
    assert len(set(keys(first.items + result.items))) == len(first.items) + 1


def test_rewritten_head_same_inode_and_larger_restarts(tmp_path):
    path = tmp_path / "s.jsonl"
    write_lines(path, [user_text("u1", "one"), assistant("a1", text("answer one"))])
    state = TranscriptState()
    assert len(read_transcript(path, state, redact=REDACT).items) == 2
    inode = path.stat().st_ino
    with open(path, "r+b") as fh:  # rewritten in place, longer than before: the offset alone cannot tell
        fh.truncate(0)
        fh.write("".join(json.dumps(r) + "\n" for r in [
            user_text("u9", "a different session start"), assistant("a9", text("a different answer")),
            user_text("u1", "one"), assistant("a1", text("answer one"))]).encode())
    assert path.stat().st_ino == inode
    result = read_transcript(path, state, redact=REDACT)
    assert result.restarts == 1
    assert [i.text for i in result.items] == ["a different session start", "a different answer"]


def test_missing_file_yields_nothing_and_says_why(tmp_path):
    result = read_transcript(tmp_path / "gone.jsonl", redact=REDACT)
    assert result.items == [] and len(result.errors) == 1 and "FileNotFoundError" in result.errors[0]


# ------------------------------------------------------------------ damage and size


def test_malformed_lines_are_skipped_and_counted(tmp_path):
    path = tmp_path / "s.jsonl"
    write_lines(path, [
        user_text("u1", "before the damage"),
        '{"type": "assistant", "message": {"content": [',  # cut-off record
        "[1, 2, 3]",  # JSON, not an object
        "\x00\x00garbage",
        json.dumps(record("assistant", "a-odd", message="not an object")),  # odd shape: no item, no crash
        assistant("a1", text("after the damage")),
    ])
    with open(path, "ab") as fh:
        fh.write(b"\xff\xfe not utf-8 \n")
    result = read_transcript(path, redact=REDACT)
    assert [i.text for i in result.items] == ["before the damage", "after the damage"]
    assert result.malformed == 4 and result.state.main.malformed == 4


def test_huge_lines_are_skipped_without_being_held(tmp_path):
    path = tmp_path / "s.jsonl"
    big = assistant("big", text("x" * 5000))
    write_lines(path, [user_text("u1", "small one")])
    with open(path, "a", encoding="utf-8") as fh:
        fh.write(json.dumps(big)[:3000])  # an oversized line still being written
    state = TranscriptState()
    first = read_transcript(path, state, redact=REDACT, max_line_bytes=1000)
    assert [i.text for i in first.items] == ["small one"]
    assert state.main.skipping and first.oversized == 1
    with open(path, "a", encoding="utf-8") as fh:
        fh.write(json.dumps(big)[3000:] + "\n")
    write_lines(path, [assistant("a2", text("after the big one"))], mode="a")
    second = read_transcript(path, state, redact=REDACT, max_line_bytes=1000)
    assert [i.text for i in second.items] == ["after the big one"]
    assert second.oversized == 0 and state.main.oversized == 1 and not state.main.skipping
    # a complete oversized line read in one go is skipped too
    whole = read_transcript(path, redact=REDACT, max_line_bytes=1000)
    assert [i.text for i in whole.items] == ["small one", "after the big one"] and whole.oversized == 1


def test_max_bytes_reads_a_backlog_in_steps(tmp_path):
    path = tmp_path / "s.jsonl"
    shutil.copy(SESSIONS / "spotter-otel-tracing.jsonl", path)
    whole = read_transcript(path, redact=REDACT)
    state = TranscriptState()
    got, calls = [], 0
    while True:
        result = read_transcript(path, state, redact=REDACT, max_bytes=1 << 20)
        got += result.items
        calls += 1
        if not result.more:
            break
    assert calls >= 3
    assert keys(got) == keys(whole.items)


# ------------------------------------------------------------------ kinds, privacy


def test_prompts_corrections_notifications_and_tool_positions(tmp_path):
    path = tmp_path / "s.jsonl"
    write_lines(path, [
        {"type": "summary", "summary": "Fix upload retries", "leafUuid": "leaf-1"},
        user_text("u1", "the upload fails on big files"),
        user_text("m1", "Caveat: The messages below were generated by the user", isMeta=True),
        user_text("c1", "<command-name>/mcp</command-name>"),
        assistant("a1", text("Let me look at the uploader."), tool_use("toolu_1", command="cat up.py")),
        tool_result("r1", "toolu_1", "def upload(): ..."),
        assistant("a2", text("The root cause: the chunk size is 0 for files over 2 GB."),
                  tool_use("toolu_2", "Edit", file_path="/home/dev/app/up.py", old_string="a", new_string="b")),
        tool_result("r2", "toolu_2", "The user doesn't want to proceed with this tool use. The tool use was rejected "
                    "(eg. if it was a file edit, the new_string was NOT written to the file). To tell you how to "
                    "proceed, the user said:\nuse the config value, not a constant", is_error=True),
        user_text("i1", "[Request interrupted by user for tool use]"),
        user_text("u2", "and keep the old default"),
        assistant("a3", tool_use("toolu_3", "Task", description="check callers", prompt="find callers")),
        tool_result("r3", "toolu_3", [text("Callers: api/upload.py and cli.py")],
                    toolUseResult={"status": "completed", "agentId": "abc123"}),
        user_text("t1", "<task-notification>\n<summary>Background command \"pytest\" completed (exit code 0)</summary>"
                  "\n</task-notification>"),
        record("system", "b1", subtype="compact_boundary", content="Conversation compacted",
               compactMetadata={"trigger": "auto", "preTokens": 167094}),
        user_text("cs1", "This session is being continued from a previous conversation. Summary: retries.",
                  isCompactSummary=True, isVisibleInTranscriptOnly=True),
        assistant("e1", text("API Error: overloaded"), isApiErrorMessage=True),
    ])
    items = read_transcript(path, redact=REDACT).items
    got = [(i.kind, i.text, i.after_tool_use_id, i.prompt_index) for i in items]
    assert got == [
        ("summary", "Fix upload retries", None, 0),
        ("user_prompt", "the upload fails on big files", None, 1),
        ("assistant_text", "Let me look at the uploader.", None, 1),
        ("assistant_text", "The root cause: the chunk size is 0 for files over 2 GB.", "toolu_1", 1),
        ("user_correction", "use the config value, not a constant", "toolu_2", 1),
        ("user_prompt", "and keep the old default", "toolu_2", 2),
        ("subagent_result", "Callers: api/upload.py and cli.py", "toolu_3", 2),
        ("task_notification", items[7].text, "toolu_3", 2),
        ("compact_boundary", "", "toolu_3", 2),
        ("compact_summary", "This session is being continued from a previous conversation. Summary: retries.",
         "toolu_3", 2),
    ]
    assert items[5].meta == {"after_interrupt": True}
    assert items[6].meta == {"tool_use_id": "toolu_3", "tool": "Task", "agent_id": "abc123", "status": "completed"}
    assert items[8].meta == {"trigger": "auto", "pre_tokens": 167094}
    assert "pytest" in items[7].text


def test_redaction_and_private_spans_apply_to_every_kind(tmp_path):
    key = "AKIA" + "IOSFODNN7EXAMPLE"
    path = tmp_path / "s.jsonl"
    write_lines(path, [
        user_text("u1", "deploy with <private>my card 4111</private> the staging key"),
        user_text("u2", "<private>everything here is private</private>"),
        assistant("a1", text(f"I exported AWS_ACCESS_KEY_ID={key} for the test.")),
        user_text("cs", f"Summary: the user gave key {key}. <private>home address", isCompactSummary=True),
    ])
    items = read_transcript(path, redact=REDACT).items
    texts = [i.text for i in items]
    assert texts[0] == "deploy with  the staging key"
    assert len(items) == 3  # the all-private prompt records nothing
    assert key not in "\n".join(texts) and "[REDACTED:" in texts[1]
    assert "home address" not in texts[2] and key not in texts[2]
    # the caller's function is what redacts: with a no-op one the key stays (the reader adds nothing of its own)
    raw = read_transcript(path, redact=lambda t: t).items
    assert key in raw[1].text


def test_old_layout_sibling_agent_files_of_this_session_only(tmp_path):
    main = tmp_path / "s-1.jsonl"
    write_lines(main, [user_text("u1", "explore the repo"),
                       assistant("a1", tool_use("toolu_9", "Task", description="explore", prompt="explore"))])
    write_lines(tmp_path / "agent-11aa.jsonl", [
        user_text("x1", "explore", isSidechain=True, agentId="11aa"),
        assistant("x2", text("The config lives in settings/base.py."), isSidechain=True, agentId="11aa")])
    write_lines(tmp_path / "agent-22bb.jsonl", [
        assistant("y1", text("another session's agent"), session="s-2", isSidechain=True, agentId="22bb")])
    (tmp_path / "agent-33cc.jsonl").write_text("", encoding="utf-8")  # just created: looked at again later
    state = TranscriptState()
    result = read_transcript(main, state, redact=REDACT)
    sub = [(i.kind, i.agent_id, i.text) for i in result.items if i.kind == "subagent_text"]
    assert sub == [("subagent_text", "11aa", "The config lives in settings/base.py.")]
    assert state.not_ours == ["agent-22bb.jsonl"]
    write_lines(tmp_path / "agent-33cc.jsonl", [
        assistant("z1", text("late agent of this session"), isSidechain=True, agentId="33cc")])
    later = read_transcript(main, state, redact=REDACT)
    assert [(i.agent_id, i.text) for i in later.items] == [("33cc", "late agent of this session")]


def test_subagent_folder_appearing_later_is_picked_up(tmp_path):
    main = tmp_path / "s-1.jsonl"
    write_lines(main, [user_text("u1", "go")])
    state = TranscriptState()
    assert len(read_transcript(main, state, redact=REDACT).items) == 1
    folder = tmp_path / "s-1" / "subagents"
    folder.mkdir(parents=True)
    write_lines(folder / "agent-a1.jsonl", [assistant("s1", text("found it"), isSidechain=True, agentId="a1")])
    write_lines(folder / "agent-acompact-9.jsonl", [assistant("s2", text("<summary>compaction</summary>"),
                                                              isSidechain=True, agentId="acompact-9")])
    result = read_transcript(main, state, redact=REDACT)
    assert [(i.kind, i.agent_id, i.text) for i in result.items] == [("subagent_text", "a1", "found it")]
    assert read_transcript(main, state, redact=REDACT).items == []


@pytest.mark.parametrize("name", ["spotter-main-short.jsonl", "obra-scenario-agent.jsonl"])
def test_reading_twice_from_a_saved_state_returns_nothing_new(name):
    first = read_all(SESSIONS / name)
    again = read_transcript(SESSIONS / name, TranscriptState.from_dict(first.state.to_dict()), redact=REDACT,
                            final=True)
    assert first.items and again.items == [] and again.restarts == 0


def test_deeply_nested_line_is_malformed_not_a_crash(tmp_path):
    path = tmp_path / "s.jsonl"
    write_lines(path, [user_text("u1", "before"), "[" * 200000 + "]" * 200000,
                       '{"a": ' * 100000 + "1" + "}" * 100000, assistant("a1", text("after"))])
    result = read_transcript(path, redact=REDACT)
    assert [i.text for i in result.items] == ["before", "after"]
    assert result.malformed == 2
