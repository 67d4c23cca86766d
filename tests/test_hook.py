"""The hook process: durable capture, fail-open behaviour, real payloads."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import time

import pytest

from conftest import INSTALLED_HOOK, SCRIPT_HOOK, fixture_payloads, replay, run_hook

SESSION1 = "aec79197-7a7d-4653-bf2b-6e40ad63e1d2"


def db(home):
    conn = sqlite3.connect(home / "offmem.db")
    conn.row_factory = sqlite3.Row
    return conn


def assert_clean_exit(result: subprocess.CompletedProcess, stdout_allowed: bool = False) -> None:
    assert result.returncode == 0, result.stderr
    if stdout_allowed and result.stdout.strip():
        out = json.loads(result.stdout)
        assert "hookSpecificOutput" in out
    elif not stdout_allowed:
        assert result.stdout == b""


def test_replay_real_payloads_stores_every_captured_event(offmem_home):
    payloads = fixture_payloads()
    for result in replay(payloads):
        assert_clean_exit(result, stdout_allowed=True)
    conn = db(offmem_home)
    kinds = [r["kind"] for r in conn.execute("SELECT kind FROM events WHERE session_id = ? ORDER BY id", (SESSION1,))]
    expected = [p["hook_event_name"] for p in payloads if p["session_id"] == SESSION1 and p["hook_event_name"] != "PreToolUse"]
    assert kinds == expected
    failure = conn.execute("SELECT * FROM events WHERE kind = 'PostToolUseFailure'").fetchone()
    assert failure["tool_name"] == "Bash"
    assert "AssertionError: 20.0" in json.loads(failure["payload"])["error"]
    session = conn.execute("SELECT * FROM sessions WHERE id = ?", (SESSION1,)).fetchone()
    assert session["project"] == "/home/dev/shop-api"
    assert session["status"] == "ended" and session["end_reason"] == "other"
    assert session["last_assistant_message"].startswith("Fixed: vat()")
    assert session["prompt_count"] == 1


def test_console_script_entry_point_captures_too(offmem_home):
    event = next(p for p in fixture_payloads() if p["hook_event_name"] == "PostToolUse")
    assert_clean_exit(run_hook(event, argv=SCRIPT_HOOK))
    assert db(offmem_home).execute("SELECT count(*) FROM events").fetchone()[0] == 1


def test_private_tags_are_stripped_before_storage(offmem_home):
    replay(fixture_payloads()[:2])
    conn = db(offmem_home)
    prompt = conn.execute("SELECT text FROM prompts").fetchone()["text"]
    assert "sk-live-123" not in prompt and "<private>" not in prompt
    assert prompt.startswith("Fix the VAT calculation")
    raw = (offmem_home / "offmem.db").read_bytes()
    assert b"sk-live-123" not in raw


def test_all_private_prompt_records_nothing(offmem_home):
    start = fixture_payloads()[0]
    prompt = {**fixture_payloads()[1], "prompt": "<private>rotate key ABC</private>"}
    replay([start, prompt])
    conn = db(offmem_home)
    assert conn.execute("SELECT count(*) FROM prompts").fetchone()[0] == 0
    assert conn.execute("SELECT count(*) FROM events WHERE kind = 'UserPromptSubmit'").fetchone()[0] == 0


def test_repeated_tool_use_id_is_stored_once(offmem_home):
    event = next(p for p in fixture_payloads() if p["hook_event_name"] == "PostToolUse")
    for _ in range(3):
        assert_clean_exit(run_hook(event))
    conn = db(offmem_home)
    assert conn.execute("SELECT count(*) FROM events WHERE tool_use_id = ?", (event["tool_use_id"],)).fetchone()[0] == 1


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"   \n",
        b"{not json",
        b"[1, 2, 3]",
        b"null",
        b'{"hook_event_name": "PostToolUse"}',  # no session id
        b'{"session_id": "s", "hook_event_name": "PostToolUse", "cwd": "/tmp"}',  # no tool name
        bytes(range(256)) * 40,  # binary garbage
        b'{"session_id": "s", "hook_event_name": "Notification", "message": "hi"}',  # not ours
    ],
)
def test_bad_input_exits_zero_with_nothing_on_stdout(offmem_home, raw):
    assert_clean_exit(run_hook(raw))


def test_malformed_payload_is_logged(offmem_home):
    run_hook(b"{broken")
    log = (offmem_home / "offmem.log").read_text()
    assert "malformed hook payload" in log


def test_binary_and_huge_tool_output_is_truncated_with_marker(offmem_home):
    base = next(p for p in fixture_payloads() if p["hook_event_name"] == "PostToolUse")
    head, tail = "HEAD-" + "a" * 1000, "b" * 1000 + "-TAIL"
    big = head + ("\x00\x01\ufffd\u00e9x" * 4_000_000) + tail  # ~20 MB of mixed binary-ish text
    payload = {**base, "tool_use_id": "toolu_big", "tool_response": {"stdout": big, "stderr": "", "interrupted": False}}
    raw = json.dumps(payload).encode() + b""
    assert len(raw) > 20_000_000
    result = run_hook(raw)
    assert_clean_exit(result)
    row = db(offmem_home).execute("SELECT payload FROM events WHERE tool_use_id = 'toolu_big'").fetchone()
    stored = json.loads(row["payload"])["tool_response"]["stdout"]
    assert stored.startswith("HEAD-") and stored.endswith("-TAIL")
    assert "chars truncated" in stored
    assert len(stored) < 20_000


def test_invalid_utf8_bytes_are_kept_as_replacement_characters(offmem_home):
    base = next(p for p in fixture_payloads() if p["hook_event_name"] == "PostToolUse")
    raw = json.dumps({**base, "tool_use_id": "toolu_bytes"}).encode().replace(b"List cart package", b"List \xff\xfe cart")
    assert_clean_exit(run_hook(raw))
    row = db(offmem_home).execute("SELECT payload FROM events WHERE tool_use_id = 'toolu_bytes'").fetchone()
    assert "\ufffd" in json.loads(row["payload"])["tool_input"]["description"]


def test_locked_database_spools_to_file_and_nothing_is_lost(offmem_home):
    replay(fixture_payloads()[:1])  # creates the database
    holder = subprocess.Popen(
        [sys.executable, "-c",
         "import sqlite3,sys,time; c=sqlite3.connect(sys.argv[1], isolation_level=None);"
         "c.execute('BEGIN EXCLUSIVE'); print('locked', flush=True); time.sleep(30)",
         str(offmem_home / "offmem.db")],
        stdout=subprocess.PIPE,
    )
    try:
        assert holder.stdout.readline().strip() == b"locked"
        event = next(p for p in fixture_payloads() if p["hook_event_name"] == "PostToolUseFailure")
        started = time.monotonic()
        result = run_hook(event, env={"OFFMEM_CAPTURE_BUSY_TIMEOUT_MS": "200"})
        elapsed = time.monotonic() - started
        assert_clean_exit(result)
        assert elapsed < 10
        spooled = list((offmem_home / "spool").glob("*.json"))
        assert len(spooled) == 1
        assert "database unavailable" in (offmem_home / "offmem.log").read_text()
    finally:
        holder.kill()
        holder.wait()
    # the worker (or `offmem process`) ingests the spool once the lock is gone
    from offmem.store.db import Store

    with Store.open(offmem_home / "offmem.db") as store:
        assert store.ingest_spool_dir(offmem_home) == 1
        assert store.ingest_spool_dir(offmem_home) == 0
        kinds = [e.kind for e in store.pending_events()]
    assert "PostToolUseFailure" in kinds
    assert not list((offmem_home / "spool").glob("*.json"))


def test_corrupt_database_keeps_the_event_in_the_spool(offmem_home):
    offmem_home.mkdir(parents=True)
    (offmem_home / "offmem.db").write_bytes(b"this is not a database" * 100)
    event = next(p for p in fixture_payloads() if p["hook_event_name"] == "PostToolUse")
    assert_clean_exit(run_hook(event))
    assert len(list((offmem_home / "spool").glob("*.json"))) == 1
    assert "database unavailable" in (offmem_home / "offmem.log").read_text()


def test_session_start_with_corrupt_database_outputs_nothing(offmem_home):
    offmem_home.mkdir(parents=True)
    (offmem_home / "offmem.db").write_bytes(b"garbage" * 1000)
    assert_clean_exit(run_hook(fixture_payloads()[0]))


def test_unwritable_data_directory_exits_zero(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    for payload in [p for p in fixture_payloads()[:8] if p["hook_event_name"] != "PreToolUse"]:
        result = run_hook(payload, env={"OFFMEM_HOME": str(blocker / "home")})
        assert result.returncode == 0
        assert result.stdout == b""
        assert b"offmem:" in result.stderr  # the problem is reported on stderr (Claude's debug log)


def test_missing_database_is_created(offmem_home):
    assert not offmem_home.exists()
    assert_clean_exit(run_hook(fixture_payloads()[2] | {"hook_event_name": "PostToolUse"}))
    assert (offmem_home / "offmem.db").exists()


def test_session_start_injects_nothing_without_memory(offmem_home):
    result = run_hook(fixture_payloads()[0])
    assert_clean_exit(result)
    assert result.stdout == b""


def test_session_start_injects_memory_of_earlier_session(offmem_home):
    payloads = fixture_payloads()
    session1 = [p for p in payloads if p["session_id"] == SESSION1]
    replay(session1)
    subprocess.run([sys.executable, "-m", "offmem", "process", "--rules"], check=True, capture_output=True)
    result = run_hook(next(p for p in payloads if p["session_id"] != SESSION1))
    assert_clean_exit(result, stdout_allowed=True)
    out = json.loads(result.stdout)["hookSpecificOutput"]
    assert out["hookEventName"] == "SessionStart"
    context = out["additionalContext"]
    assert "cart/vat.py" in context and "AssertionError: 20.0" in context


def test_session_start_never_shows_another_projects_memory(offmem_home):
    payloads = fixture_payloads()
    replay([p for p in payloads if p["session_id"] == SESSION1])
    subprocess.run([sys.executable, "-m", "offmem", "process", "--rules"], check=True, capture_output=True)
    other = {**payloads[0], "session_id": "other-session", "cwd": "/home/dev/another-project"}
    result = run_hook(other)
    assert_clean_exit(result)
    assert result.stdout == b""


HEAVY = ["chromadb", "sentence_transformers", "llama_cpp", "torch", "anthropic", "typer", "numpy", "fastapi"]


@pytest.mark.parametrize("index", [0, 1, 3, 5, 6, 17, 19, 23])
def test_hook_process_loads_no_heavy_module(offmem_home, index):
    """Each event kind runs the real entry point; the modules it imported are listed."""
    payloads = fixture_payloads()
    replay([p for p in payloads if p["session_id"] == SESSION1])  # memory exists, so SessionStart builds context
    payload = payloads[index]
    probe = (
        "import sys, runpy\n"
        "sys.argv = ['offmem-hook']\n"
        "from offmem.hooks.capture import main\n"
        "main()\n"
        "sys.stderr.write('\\nMODULES ' + ' '.join(sorted(sys.modules)))\n"
    )
    result = subprocess.run([sys.executable, "-c", probe], input=json.dumps(payload).encode(), capture_output=True)
    assert result.returncode == 0, result.stderr
    modules = set(result.stderr.decode().split("MODULES ")[-1].split())
    assert modules, "probe printed no module list"
    loaded = sorted(m for m in modules if m.split(".")[0] in HEAVY)
    assert loaded == [], f"{payload['hook_event_name']} loaded {loaded}"


def test_post_tool_use_hot_path_avoids_slow_stdlib_modules(offmem_home):
    """json/re/dataclasses/pathlib cost milliseconds each; the PostToolUse path must not need them."""
    replay(fixture_payloads()[:2])
    payload = fixture_payloads()[3]
    probe = (
        "import sys\n"
        "from offmem.hooks.capture import main\n"
        "main()\n"
        "sys.stderr.write('\\nMODULES ' + ' '.join(sorted(sys.modules)))\n"
    )
    result = subprocess.run([sys.executable, "-S", "-c", "import sys; sys.path[:0] = " + repr(sys.path) + "\n" + probe],
                            input=json.dumps(payload).encode(), capture_output=True)
    assert result.returncode == 0, result.stderr
    modules = set(result.stderr.decode().split("MODULES ")[-1].split())
    for slow in ("json", "re", "dataclasses", "pathlib", "typing", "subprocess", "logging"):
        assert slow not in modules, f"PostToolUse imported {slow}"


def test_unknown_events_are_ignored(offmem_home):
    payload = {**fixture_payloads()[0], "hook_event_name": "SubagentStop"}
    assert_clean_exit(run_hook(payload))
    assert not (offmem_home / "offmem.db").exists()


def test_skip_list_and_excluded_projects(offmem_home):
    offmem_home.mkdir(parents=True)
    (offmem_home / "config.toml").write_text('[capture]\nskip_tools = ["TaskCreate"]\nexcluded_projects = ["/home/dev/secret"]\n')
    payloads = fixture_payloads()
    task = next(p for p in payloads if p.get("tool_name") == "TaskCreate" and p["hook_event_name"] == "PostToolUse")
    bash = next(p for p in payloads if p["hook_event_name"] == "PostToolUse")
    secret = {**bash, "cwd": "/home/dev/secret/sub", "tool_use_id": "toolu_secret"}
    for p in (task, bash, secret, task):
        assert_clean_exit(run_hook(p))
    conn = db(offmem_home)
    tools = [r[0] for r in conn.execute("SELECT tool_use_id FROM events")]
    assert tools == [bash["tool_use_id"]]


def test_concurrent_hooks_lose_nothing(offmem_home):
    base = next(p for p in fixture_payloads() if p["hook_event_name"] == "PostToolUse")
    run_hook(fixture_payloads()[0])
    procs = []
    for i in range(24):
        payload = {**base, "session_id": f"s{i % 4}", "tool_use_id": f"toolu_c{i}"}
        procs.append(subprocess.Popen(INSTALLED_HOOK,
                                      stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                      env=os.environ.copy()))
        procs[-1].stdin.write(json.dumps(payload).encode())
        procs[-1].stdin.close()
    for p in procs:
        assert p.wait(60) == 0
        assert p.stdout.read() == b""
    conn = db(offmem_home)
    stored = conn.execute("SELECT count(*) FROM events WHERE tool_use_id LIKE 'toolu_c%'").fetchone()[0]
    spooled = len(list((offmem_home / "spool").glob("*.json"))) if (offmem_home / "spool").exists() else 0
    assert stored + spooled == 24
