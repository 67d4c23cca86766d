"""Shared fixtures: every test gets its own data directory and HOME."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

FIXTURES = Path(__file__).parent / "fixtures"
BIN = Path(sys.executable).parent


@pytest.fixture(autouse=True)
def isolated_env(tmp_path, monkeypatch):
    """OFFMEM_HOME and HOME in tmp_path; no worker auto-start unless a test asks."""
    home = tmp_path / "offmem-home"
    user_home = tmp_path / "user-home"
    user_home.mkdir()
    monkeypatch.setenv("OFFMEM_HOME", str(home))
    monkeypatch.setenv("HOME", str(user_home))
    monkeypatch.setenv("OFFMEM_WORKER_AUTOSTART", "0")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    for key in list(os.environ):
        if key.startswith("OFFMEM_") and key not in ("OFFMEM_HOME", "OFFMEM_WORKER_AUTOSTART", "OFFMEM_CLAUDE_BIN"):
            monkeypatch.delenv(key)
    return home


@pytest.fixture
def offmem_home(isolated_env) -> Path:
    return isolated_env


def fixture_payloads() -> list[dict]:
    with open(FIXTURES / "hook-payloads.jsonl", encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


HOOK_LAUNCHER = Path(__file__).resolve().parent.parent / "offmem" / "hooks" / "run.py"
INSTALLED_HOOK = [sys.executable, "-S", str(HOOK_LAUNCHER)]  # the form `offmem install` writes
SCRIPT_HOOK = [str(BIN / "offmem-hook")]  # the console-script entry point


def run_hook(payload, *, env: dict | None = None, timeout: float = 60, argv=None) -> subprocess.CompletedProcess:
    """Run the hook as Claude Code does: a fresh process, the payload on stdin."""
    data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    return subprocess.run(
        argv or INSTALLED_HOOK,
        input=data,
        capture_output=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
    )


def replay(payloads, **kwargs) -> list[subprocess.CompletedProcess]:
    return [run_hook(p, **kwargs) for p in payloads if p.get("hook_event_name") != "PreToolUse"]
