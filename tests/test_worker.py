"""The worker process: one per data directory, started by hooks, clean on SIGTERM."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import fixture_payloads, replay, run_hook
from support.polling import wait_for

OFFMEM = [str(Path(sys.executable).parent / "offmem")]


def offmem(*args, check=True, env=None):
    result = subprocess.run(OFFMEM + list(args), capture_output=True, text=True, env={**os.environ, **(env or {})})
    if check:
        assert result.returncode == 0, result.stderr
    return result


@pytest.fixture
def rules_env(monkeypatch):
    monkeypatch.setenv("OFFMEM_SUMMARIZER_BACKEND", "rules")
    monkeypatch.setenv("OFFMEM_EMBEDDER_BACKEND", "none")
    monkeypatch.setenv("OFFMEM_WORKER_PORT", "0")
    yield
    offmem("worker", "stop", check=False)


def status():
    return json.loads(offmem("worker", "status", "--json").stdout)


def test_start_status_stop(offmem_home, rules_env):
    assert status()["running"] is False
    started = json.loads(offmem("worker", "start", "--json").stdout)
    assert started["running"] is True and started["port"]
    s = status()
    for key in ("queue_depth", "last_error", "model_loaded", "events_per_min"):
        assert key in s
    assert 0 < s["rss_mib"] <= s["peak_rss_mib"]
    human = offmem("worker", "status").stdout
    assert "embedder: none (keyword search only)" in human and "MiB peak" in human
    assert s["pid"] == started["pid"]
    # a second start is a no-op; a second worker process refuses to run
    assert json.loads(offmem("worker", "start", "--json").stdout)["pid"] == started["pid"]
    second = subprocess.run([sys.executable, "-m", "offmem.worker", "run"], capture_output=True, timeout=30)
    assert second.returncode == 0
    assert status()["pid"] == started["pid"]
    assert json.loads(offmem("worker", "stop", "--json").stdout)["stopped"] is True
    assert status()["running"] is False
    assert "stopped" in (offmem_home / "offmem.log").read_text()


def test_worker_binds_loopback_only(offmem_home, rules_env):
    started = json.loads(offmem("worker", "start", "--json").stdout)
    out = subprocess.run(["ss", "-ltnp"], capture_output=True, text=True).stdout
    lines = [ln for ln in out.splitlines() if f":{started['port']} " in ln]
    assert lines and all("127.0.0.1:" in ln for ln in lines)


def test_worker_processes_fixture_sessions(offmem_home, rules_env):
    replay(fixture_payloads())
    offmem("worker", "start")
    wait_for(lambda: status()["queue_depth"] == 0)
    import sqlite3

    conn = sqlite3.connect(offmem_home / "offmem.db")
    assert conn.execute("SELECT count(*) FROM summaries").fetchone()[0] == 2
    assert conn.execute("SELECT count(*) FROM observations").fetchone()[0] >= 3  # one per unit of work


def test_hook_starts_the_worker_when_absent(offmem_home, rules_env, monkeypatch):
    monkeypatch.setenv("OFFMEM_WORKER_AUTOSTART", "1")
    started = time.monotonic()
    result = run_hook(fixture_payloads()[0])
    assert result.returncode == 0
    assert time.monotonic() - started < 5
    wait_for(lambda: status()["running"], timeout=30)


def test_sigterm_is_a_clean_exit(offmem_home, rules_env):
    pid = json.loads(offmem("worker", "start", "--json").stdout)["pid"]
    os.kill(pid, signal.SIGTERM)
    wait_for(lambda: not status()["running"], timeout=20)
    assert not (offmem_home / "worker.json").exists()
    assert "stopped" in (offmem_home / "offmem.log").read_text()


def test_sigkill_leaves_no_stale_lock(offmem_home, rules_env):
    pid = json.loads(offmem("worker", "start", "--json").stdout)["pid"]
    os.kill(pid, signal.SIGKILL)
    wait_for(lambda: not status()["running"], timeout=20)
    restarted = json.loads(offmem("worker", "start", "--json").stdout)
    assert restarted["running"] and restarted["pid"] != pid


def test_restart(offmem_home, rules_env):
    first = json.loads(offmem("worker", "start", "--json").stdout)["pid"]
    second = json.loads(offmem("worker", "restart", "--json").stdout)["pid"]
    assert first != second and status()["running"]
