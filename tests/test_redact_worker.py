"""Where redaction happens: prompts in the hook, tool events in the worker's first step.

Every check reads the bytes of ``offmem.db`` and ``offmem.db-wal``, not just rows.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from conftest import fixture_payloads, run_hook

from offmem.config import load_settings, save_settings
from offmem.worker.pipeline import Pipeline
from offmem.privacy import Redactor
from offmem.privacy.stage import PrivacyStage
from offmem.store.db import Store

AWS = "AKIA" + "7Q2W3E4R5T6Y7U8I"
GITHUB = "ghp_" + "Zx8Cv7Bn6Mq5Wr4Et3Yu2Io1Pa9Sd8Fg7Hj6K"
PASSWORD = "Tr0ub4dor&3xyz"


def disk_bytes(home: Path) -> bytes:
    return b"".join(p.read_bytes() for p in (home / "offmem.db", home / "offmem.db-wal") if p.exists())


def tool_event(**overrides) -> dict:
    base = next(p for p in fixture_payloads() if p["hook_event_name"] == "PostToolUse")
    return {**base, **overrides}


def process(home: Path) -> None:
    with Store.open(home / "offmem.db") as store:
        Pipeline(store).run_once(force=True)


def test_tool_event_is_redacted_in_place_before_processing(offmem_home):
    command = f"aws configure set aws_access_key_id {AWS}"
    stdout = f"remote: token {GITHUB}\nDB_PASSWORD={PASSWORD}"
    result = run_hook(tool_event(tool_use_id="toolu_s1", tool_input={"command": command}, tool_response={"stdout": stdout}))
    assert result.returncode == 0
    raw = disk_bytes(offmem_home)
    assert AWS.encode() in raw and GITHUB.encode() in raw  # the hook stored it raw: the check below can fail

    process(offmem_home)

    raw = disk_bytes(offmem_home)
    for secret in (AWS, GITHUB, PASSWORD):
        assert secret.encode() not in raw
    conn = sqlite3.connect(offmem_home / "offmem.db")
    payload, redacted, status = conn.execute("SELECT payload, redacted, status FROM events WHERE tool_use_id = 'toolu_s1'").fetchone()
    assert redacted == 1 and status == "done"
    data = json.loads(payload)
    assert data["tool_input"]["command"] == "aws configure set aws_access_key_id [REDACTED:aws-access-key]"
    assert "[REDACTED:github-token]" in data["tool_response"]["stdout"]
    assert "DB_PASSWORD=[REDACTED:secret-assignment]" in data["tool_response"]["stdout"]
    titles = " ".join(r[0] for r in conn.execute("SELECT title || narrative || facts FROM observations"))
    assert "[REDACTED:aws-access-key]" in titles and AWS not in titles


def test_prompt_and_stop_message_are_redacted_by_the_hook_itself(offmem_home):
    start, prompt = fixture_payloads()[:2]
    stop = next(p for p in fixture_payloads() if p["hook_event_name"] == "Stop")
    run_hook(start)
    run_hook({**prompt, "prompt": f"deploy with key {AWS} and password: {PASSWORD}"})
    run_hook({**stop, "last_assistant_message": f"Pushed with {GITHUB}."})
    raw = disk_bytes(offmem_home)  # no worker has run: the hook never stored them
    for secret in (AWS, GITHUB, PASSWORD):
        assert secret.encode() not in raw
    conn = sqlite3.connect(offmem_home / "offmem.db")
    text = conn.execute("SELECT text FROM prompts").fetchone()[0]
    assert text == "deploy with key [REDACTED:aws-access-key] and password: [REDACTED:secret-assignment]"
    hits = conn.execute("SELECT count(*) FROM prompts_fts WHERE prompts_fts MATCH 'REDACTED'").fetchone()[0]
    assert hits == 1
    assert conn.execute("SELECT count(*) FROM prompts_fts WHERE prompts_fts MATCH ?", (f'"{AWS}"',)).fetchone()[0] == 0
    message = conn.execute("SELECT last_assistant_message FROM sessions").fetchone()[0]
    assert message == "Pushed with [REDACTED:github-token]."


def test_prompt_redaction_survives_a_broken_config_file(offmem_home):
    offmem_home.mkdir(parents=True)
    (offmem_home / "config.toml").write_text("[privacy\nredact = maybe\n")
    start, prompt = fixture_payloads()[:2]
    run_hook(start)
    assert run_hook({**prompt, "prompt": f"use {GITHUB}"}).returncode == 0
    assert GITHUB.encode() not in disk_bytes(offmem_home)


def test_corrupt_rows_are_set_aside_never_crash_and_never_leak(offmem_home):
    run_hook(tool_event(tool_use_id="toolu_ok"))
    conn = sqlite3.connect(offmem_home / "offmem.db", isolation_level=None)
    for i, payload in enumerate([f'{{"tool_response": "{GITHUB}" garbage', "[1, 2, 3]", "null", ""]):
        conn.execute(
            "INSERT INTO events (session_id, project, kind, tool_name, tool_use_id, payload, created_at)"
            " VALUES ('s-corrupt', '/p', 'PostToolUse', 'Bash', ?, ?, '2026-01-01T00:00:00.000Z')",
            (f"bad{i}", payload),
        )
    conn.close()
    with Store.open(offmem_home / "offmem.db") as store:
        stats = Pipeline(store).run_once(force=True)
        again = Pipeline(store).run_once(force=True)
        rows = store.conn.execute("SELECT tool_use_id, status, last_error, payload FROM events ORDER BY id").fetchall()
    assert stats.errors == [] and again.events == 0
    statuses = {r["tool_use_id"]: r["status"] for r in rows}
    assert statuses == {"toolu_ok": "done", "bad0": "corrupt", "bad1": "corrupt", "bad2": "corrupt", "bad3": "corrupt"}
    assert all("not a JSON object" in r["last_error"] for r in rows if r["status"] == "corrupt")
    assert "[REDACTED:github-token]" in rows[1]["payload"]
    assert GITHUB.encode() not in disk_bytes(offmem_home)


def test_files_in_excluded_paths_are_dropped(offmem_home, tmp_path):
    secrets_dir = tmp_path / "vault"
    save_settings(load_settings(), {"capture": {"excluded_paths": [str(secrets_dir)]}})
    read = tool_event(tool_name="Read", tool_use_id="toolu_vault", tool_input={"file_path": str(secrets_dir / "notes.txt")},
                      tool_response={"type": "text", "file": {"filePath": str(secrets_dir / "notes.txt"), "content": "launch codes 0000"}})
    run_hook(read)
    run_hook(tool_event(tool_use_id="toolu_normal"))
    process(offmem_home)
    conn = sqlite3.connect(offmem_home / "offmem.db")
    status, payload = conn.execute("SELECT status, payload FROM events WHERE tool_use_id = 'toolu_vault'").fetchone()
    assert status == "excluded" and "launch codes" not in payload
    assert b"launch codes" not in disk_bytes(offmem_home)
    observed = " ".join(r[0] for r in conn.execute("SELECT files_read || title FROM observations"))
    assert "notes.txt" not in observed


def test_checkpoint_blocked_by_a_reader_is_retried_until_the_old_bytes_are_gone(offmem_home):
    run_hook(tool_event(tool_use_id="toolu_s2", tool_response={"stdout": f"token={GITHUB}"}))
    reader = sqlite3.connect(offmem_home / "offmem.db", isolation_level=None)
    reader.execute("BEGIN")
    reader.execute("SELECT count(*) FROM events").fetchone()  # holds the snapshot with the raw payload
    stage = PrivacyStage(Redactor())
    with Store.open(offmem_home / "offmem.db") as store:
        first = stage.run(store)
        assert first.changed == 1 and not first.checkpointed and stage.checkpoint_due
        assert GITHUB.encode() in disk_bytes(offmem_home)  # the reader still needs the old page
        reader.execute("COMMIT")
        reader.close()
        second = stage.run(store)
        assert second.redacted == 0 and second.checkpointed
    assert GITHUB.encode() not in disk_bytes(offmem_home)


def test_pipeline_never_reads_an_event_the_stage_has_not_cleaned(offmem_home):
    run_hook(tool_event(tool_use_id="toolu_s3", tool_response={"stdout": f"key {AWS}"}))

    class Refusing(PrivacyStage):
        def run(self, store, limit=None):  # a stage that cleans nothing this pass
            return super().run(store, limit=0)

    with Store.open(offmem_home / "offmem.db") as store:
        stats = Pipeline(store, privacy=Refusing(Redactor())).run_once(force=True)
        assert stats.events == 0 and store.queue_depth() == 1
        stats = Pipeline(store).run_once(force=True)
        assert stats.events == 1 and store.queue_depth() == 0


def test_the_hook_applies_extra_patterns_and_env_overrides_from_the_config_cache(offmem_home):
    save_settings(load_settings(), {"privacy": {"extra_patterns": ["acme-badge=ACME-[0-9]{6}"]}})
    start, prompt = fixture_payloads()[:2]
    run_hook(start)  # first run: parses config.toml and writes the cache the next runs read
    run_hook({**prompt, "prompt": "badge ACME-123456 please"})
    run_hook({**prompt, "prompt": "badge ACME-654321 again", "prompt_id": "p2"})
    run_hook({**prompt, "prompt": "raw AKIA" + "Q7W3E4R5T6Y7U8I9 kept", "prompt_id": "p3"},
             env={"OFFMEM_PRIVACY_REDACT": "0"})
    texts = [r[0] for r in sqlite3.connect(offmem_home / "offmem.db").execute("SELECT text FROM prompts ORDER BY id")]
    assert texts == ["badge [REDACTED:acme-badge] please", "badge [REDACTED:acme-badge] again",
                     "raw AKIAQ7W3E4R5T6Y7U8I9 kept"]  # (redaction turned off on purpose for the last one)
