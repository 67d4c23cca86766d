"""The fault suite: crashes, contention, locks, full and read-only disks, damaged rows.

The property every test checks: each hook exits 0 with valid output, and every
event a hook accepted is processed exactly once: it ends ``done`` (or set aside
as ``corrupt``), and the memories made from it exist once. Tool events here are
distinct successful commands, which the rule-based compressor turns into one
observation each, so "exactly once" is checked event by event.
"""

from __future__ import annotations

import json
import os
import random
import resource
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from conftest import INSTALLED_HOOK
from support.durability import backlog, memory_home, start_worker, statuses, stop_worker, wait_until_drained  # noqa: F401
from support.polling import wait_for

from offmem.hooks import capture
from offmem.worker.pipeline import BatchPolicy, Pipeline
from offmem.store.db import Store

PROJECT = "/home/dev/shop-api"


def session_script(session: str, tools: int, prompt_every: int = 50) -> list[dict]:
    base = {"session_id": session, "cwd": PROJECT, "transcript_path": f"/tmp/{session}.jsonl"}
    script = [{**base, "hook_event_name": "SessionStart", "source": "startup"}]
    for i in range(tools):
        if i % prompt_every == 0:
            script.append({**base, "hook_event_name": "UserPromptSubmit", "prompt": f"Step {i} of the {session} migration"})
        script.append({**base, "hook_event_name": "PostToolUse", "tool_name": "Bash", "tool_use_id": f"toolu_{session}_{i}",
                       "tool_input": {"command": f"make migrate-{session}-{i}", "description": f"step {i}"},
                       "tool_response": {"stdout": f"applied {i}", "stderr": "", "interrupted": False}})
    script.append({**base, "hook_event_name": "Stop", "stop_hook_active": False, "last_assistant_message": f"{session} done"})
    script.append({**base, "hook_event_name": "SessionEnd", "reason": "other"})
    return script


def hook(payload: dict, **kwargs) -> subprocess.CompletedProcess:
    result = subprocess.run(INSTALLED_HOOK, input=json.dumps(payload).encode(), capture_output=True, timeout=60,
                            env={**os.environ, **kwargs.pop("env", {})}, **kwargs)
    return result


def assert_valid_hook_exit(result: subprocess.CompletedProcess, kind: str) -> None:
    assert result.returncode == 0, result.stderr
    if result.stdout.strip():
        assert kind in ("SessionStart", "UserPromptSubmit"), result.stdout
        assert json.loads(result.stdout)["hookSpecificOutput"]["hookEventName"] == kind


def check_exactly_once(home: Path, scripts: list[list[dict]]) -> None:
    """Every event stored once, processed once, and each command remembered by exactly one observation."""
    conn = sqlite3.connect(home / "offmem.db")
    try:
        expected = sum(len(s) for s in scripts)
        assert conn.execute("SELECT count(*) FROM events").fetchone()[0] == expected
        assert conn.execute("SELECT status, count(*) FROM events GROUP BY status").fetchall() == [("done", expected)]
        tools = {p["tool_use_id"] for s in scripts for p in s if p["hook_event_name"] == "PostToolUse"}
        stored = [r[0] for r in conn.execute("SELECT tool_use_id FROM events WHERE tool_use_id IS NOT NULL")]
        assert sorted(stored) == sorted(tools)
        tool_ids = {r[0] for r in conn.execute("SELECT id FROM events WHERE kind = 'PostToolUse'")}
        seen: dict[int, int] = {}
        for (event_ids,) in conn.execute("SELECT event_ids FROM observations"):
            for eid in json.loads(event_ids):
                seen[eid] = seen.get(eid, 0) + 1
        assert set(seen) == tool_ids and set(seen.values()) == {1}
        sessions = {s[0]["session_id"] for s in scripts}
        assert {r[0] for r in conn.execute("SELECT session_id FROM summaries")} == sessions
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    finally:
        conn.close()
    assert not list((home / "spool").glob("*.json")) if (home / "spool").exists() else True


def spool_in_process(home: Path, scripts: list[list[dict]]) -> None:
    """Store events through the hook's own code, in this process (fast set-up)."""
    for script in scripts:
        for payload in script:
            capture.handle(json.dumps(payload).encode(), str(home))


# ---------------------------------------------------------------------- crash


def test_worker_sigkill_mid_batch_then_restart_processes_every_event_exactly_once(offmem_home, tmp_path):
    scripts = [session_script(f"k{n}", 150) for n in range(8)]
    spool_in_process(offmem_home, scripts)
    control = tmp_path / "control"
    control.mkdir()
    for name in ("offmem.db", "offmem.db-wal"):
        if (offmem_home / name).exists():
            shutil.copy(offmem_home / name, control / name)

    rng = random.Random(5)
    kills_mid_work = 0
    for _attempt in range(8):
        worker = start_worker()
        try:
            start_done = statuses(offmem_home).get("done", 0)
            wait_for(lambda: statuses(offmem_home).get("done", 0) > start_done or worker.poll() is not None,
                     timeout=60, interval=0.01, what="the worker making progress")
            time.sleep(rng.uniform(0, 0.05))
            pending_at_kill = backlog(offmem_home)[0]
            os.kill(worker.pid, signal.SIGKILL)
            worker.wait()
        finally:
            stop_worker(worker)
        if pending_at_kill == 0:
            break
        kills_mid_work += 1
    assert kills_mid_work >= 3, "the worker finished before it could be killed mid-way; give it more events"
    worker = start_worker()
    try:
        wait_until_drained(offmem_home, timeout=120, vectors=False)
    finally:
        stop_worker(worker)
    check_exactly_once(offmem_home, scripts)

    # ... and what it remembers is what one uninterrupted pass remembers
    with Store.open(control / "offmem.db") as store:
        pipeline = Pipeline(store, policy=BatchPolicy(idle_s=0))
        while pipeline.run_once().events:
            pass
    columns = "session_id, type, title, subtitle, narrative, facts, files_read, files_modified, event_ids"
    crashed = sorted(sqlite3.connect(offmem_home / "offmem.db").execute(f"SELECT {columns} FROM observations").fetchall())
    calm = sorted(sqlite3.connect(control / "offmem.db").execute(f"SELECT {columns} FROM observations").fetchall())
    assert crashed == calm


# ---------------------------------------------------------------------- contention


def test_eight_concurrent_sessions_of_five_hundred_hook_events_with_the_worker_running(memory_home):
    offmem_home = memory_home
    scripts = [session_script(f"c{n}", 487, prompt_every=50) for n in range(8)]
    assert all(len(s) == 500 for s in scripts)
    worker = start_worker()
    try:
        def run(script: list[dict]) -> None:
            for payload in script:
                assert_valid_hook_exit(hook(payload), payload["hook_event_name"])

        with ThreadPoolExecutor(max_workers=8) as pool:  # 8 sessions at once; each its own sequence
            list(pool.map(run, scripts))
        wait_until_drained(offmem_home, timeout=180, vectors=False)
        assert worker.poll() is None, worker.stderr.read().decode() if worker.stderr else ""
    finally:
        stop_worker(worker)
    check_exactly_once(offmem_home, scripts)


# ---------------------------------------------------------------------- locks


def test_database_locked_by_another_process(offmem_home):
    scripts = [session_script("locked", 30, prompt_every=10)]
    first, rest = scripts[0][:3], scripts[0][3:]
    for payload in first:
        assert_valid_hook_exit(hook(payload), payload["hook_event_name"])
    worker = start_worker()
    holder = subprocess.Popen(
        [sys.executable, "-c",
         "import sqlite3,sys,time; c=sqlite3.connect(sys.argv[1], isolation_level=None);"
         "c.execute('BEGIN EXCLUSIVE'); print('locked', flush=True); sys.stdin.readline()",
         str(offmem_home / "offmem.db")],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    try:
        assert holder.stdout.readline().strip() == b"locked"
        started = time.monotonic()
        for payload in rest:
            result = hook(payload, env={"OFFMEM_CAPTURE_BUSY_TIMEOUT_MS": "100"})
            assert_valid_hook_exit(result, payload["hook_event_name"])
        assert time.monotonic() - started < 30
        assert len(list((offmem_home / "spool").glob("*.json"))) == len(rest)
        time.sleep(1.5)  # the worker meets the lock too
        assert worker.poll() is None
    finally:
        holder.stdin.close()
        holder.wait()
    try:
        wait_until_drained(offmem_home, timeout=60, vectors=False)
        assert worker.poll() is None
    finally:
        stop_worker(worker)
    check_exactly_once(offmem_home, scripts)


# ---------------------------------------------------------------------- disks


def _limit_file_size(limit: int):
    def apply() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails with EFBIG instead of killing
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
    return apply


def test_full_disk_hooks_exit_zero_report_it_and_leave_the_database_intact(offmem_home):
    scripts = [session_script("full", 20, prompt_every=10)]
    ok, blocked = scripts[0][:5], scripts[0][5:15]
    for payload in ok:
        assert_valid_hook_exit(hook(payload), payload["hook_event_name"])
    (offmem_home / "offmem.log").write_text("x" * 4096)  # the log cannot take a line either
    for payload in blocked:  # no file may grow by a byte: database, WAL, spool and log are all full
        result = hook(payload, preexec_fn=_limit_file_size(1))
        assert_valid_hook_exit(result, payload["hook_event_name"])
        assert b"offmem:" in result.stderr  # Claude Code's debug log gets the reason
    conn = sqlite3.connect(offmem_home / "offmem.db")
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert conn.execute("SELECT count(*) FROM events").fetchone()[0] == len(ok)
    conn.close()
    # space again: capture and processing resume; what was accepted is processed once
    recovered = ok + scripts[0][15:]
    for payload in scripts[0][15:]:
        assert_valid_hook_exit(hook(payload), payload["hook_event_name"])
    with Store.open(offmem_home / "offmem.db") as store:
        Pipeline(store).run_once(force=True)
    check_exactly_once(offmem_home, [recovered])


def test_worker_meets_a_full_disk_keeps_events_pending_and_recovers_on_its_own(offmem_home):
    scripts = [session_script("wfull", 40, prompt_every=20)]
    spool_in_process(offmem_home, [scripts[0][:2]])
    worker = start_worker(preexec_fn=lambda: signal.signal(signal.SIGXFSZ, signal.SIG_IGN))
    try:
        wait_until_drained(offmem_home, timeout=60, vectors=False)
        from offmem.config import load_settings
        from offmem.worker.client import request_json

        wait_for(lambda: request_json(load_settings(), "/api/health"), timeout=60, what="the worker serving HTTP")
        unlimited = resource.RLIM_INFINITY
        resource.prlimit(worker.pid, resource.RLIMIT_FSIZE, (1, unlimited))  # the disk is full from now on
        spool_in_process(offmem_home, [scripts[0][2:]])  # (this process still has room)
        time.sleep(3)
        assert worker.poll() is None, worker.stderr.read().decode()[-3000:]
        assert statuses(offmem_home).get("pending", 0) == len(scripts[0]) - 2  # nothing half-done
        conn = sqlite3.connect(offmem_home / "offmem.db")
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        conn.close()
        resource.prlimit(worker.pid, resource.RLIMIT_FSIZE, (unlimited, unlimited))
        wait_until_drained(offmem_home, timeout=60, vectors=False)  # room again: the same worker carries on
        assert worker.poll() is None
    finally:
        stop_worker(worker)
    check_exactly_once(offmem_home, scripts)


@pytest.fixture
def read_only_home(offmem_home):
    """``offmem_home`` on a file system that is then made read-only (chmod does not stop root)."""
    offmem_home.mkdir(parents=True)
    if os.geteuid() != 0:
        yield offmem_home, lambda: offmem_home.chmod(0o500), lambda: offmem_home.chmod(0o700)
        return
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=16m", "tmpfs", str(offmem_home)], capture_output=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot make a read-only file system here (mount: {mounted.stderr.decode().strip()})")
    remount = lambda mode: subprocess.run(["mount", "-o", f"remount,{mode}", str(offmem_home)], check=True)  # noqa: E731
    try:
        yield offmem_home, lambda: remount("ro"), lambda: remount("rw")
    finally:
        subprocess.run(["umount", "-l", str(offmem_home)], capture_output=True)


def test_read_only_data_directory(read_only_home):
    home, make_read_only, make_writable = read_only_home
    scripts = [session_script("ro", 12, prompt_every=6)]
    ok, blocked, later = scripts[0][:4], scripts[0][4:10], scripts[0][10:]
    for payload in ok:
        assert_valid_hook_exit(hook(payload), payload["hook_event_name"])
    make_read_only()
    try:
        for payload in blocked:
            result = hook(payload)
            assert_valid_hook_exit(result, payload["hook_event_name"])
            assert b"offmem:" in result.stderr
    finally:
        make_writable()
    for payload in later:
        assert_valid_hook_exit(hook(payload), payload["hook_event_name"])
    with Store.open(home / "offmem.db") as store:
        Pipeline(store).run_once(force=True)
    check_exactly_once(home, [ok + later])


# ---------------------------------------------------------------------- damaged rows


def test_corrupt_rows_do_not_stop_the_worker(offmem_home):
    scripts = [session_script("dmg", 20, prompt_every=10)]
    spool_in_process(offmem_home, [scripts[0][:10]])
    conn = sqlite3.connect(offmem_home / "offmem.db", isolation_level=None)
    garbage = ["{\"tool_input\": ", "\x00\x01binary", "[]", "42", "{\"a\": [1, 2, {\"b\": NaN}", "\"just a string\""]
    for i, payload in enumerate(garbage):
        conn.execute("INSERT INTO events (session_id, project, kind, tool_name, tool_use_id, payload, created_at)"
                     " VALUES ('dmg', ?, 'PostToolUse', 'Bash', ?, ?, '2026-01-01T00:00:00.000Z')",
                     (PROJECT, f"garbage{i}", payload))
    conn.close()
    worker = start_worker()
    try:
        spool_in_process(offmem_home, [scripts[0][10:]])
        wait_until_drained(offmem_home, timeout=60, vectors=False)
        assert worker.poll() is None
    finally:
        stop_worker(worker)
    conn = sqlite3.connect(offmem_home / "offmem.db", isolation_level=None)
    assert statuses(offmem_home) == {"done": len(scripts[0]), "corrupt": len(garbage)}
    conn.execute("DELETE FROM events WHERE status = 'corrupt'")
    conn.close()
    check_exactly_once(offmem_home, scripts)
