"""Shared fixtures: every test gets its own data directory and HOME."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

# llama.cpp's OpenMP threads must not spin-wait on 2 shared cores; torch loads the
# same libgomp, so this has to be set before either is imported (see
# offmem.summarize.llamacpp.prepare_runtime).
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

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


@pytest.fixture
def settings(offmem_home):
    from offmem.config import load_settings

    return load_settings()


@pytest.fixture
def store(settings):
    """The test's own offmem database, migrated."""
    from offmem.store.db import Store

    with Store.open(settings.db_path) as s:
        yield s


def fixture_payloads() -> list[dict]:
    with open(FIXTURES / "hook-payloads.jsonl", encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


HOOK_LAUNCHER = Path(__file__).resolve().parent.parent / "offmem" / "hooks" / "run.py"
INSTALLED_HOOK = [sys.executable, "-I", "-S", str(HOOK_LAUNCHER)]  # the form `offmem install` writes
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


# --------------------------------------------------------------------------- network guard
#
# The whole suite runs under a guard that refuses, and records, any connection or
# name lookup that leaves this machine: a C shim (LD_PRELOAD) in every process the
# tests start, and a socket patch in this process. Attempts by offmem's own
# processes (Python) fail the run; attempts by third-party programs the tests drive
# (the Claude Code CLI, Chromium) are refused too and listed in the summary.
# OFFMEM_NETGUARD=0 turns it off (to debug a test, not in CI).

_GUARD = {}


def pytest_configure(config):
    if os.environ.get("OFFMEM_NETGUARD", "1") == "0" or "NETGUARD_LOG" in os.environ:
        return
    import importlib.util
    import tempfile

    from tests.support.network import GUARD_DIR, build_shim

    folder = Path(tempfile.mkdtemp(prefix="offmem-netguard-"))
    log = folder / "attempts.log"
    os.environ["NETGUARD_LOG"] = str(log)
    os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(GUARD_DIR), os.environ.get("PYTHONPATH", "")]))
    try:
        shim = build_shim(folder)
    except subprocess.CalledProcessError:
        shim = None
    if shim is not None:
        os.environ["LD_PRELOAD"] = os.pathsep.join(filter(None, [str(shim), os.environ.get("LD_PRELOAD", "")]))
    spec = importlib.util.spec_from_file_location("offmem_test_netguard", GUARD_DIR / "sitecustomize.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)  # patches this process's socket module
    _GUARD.update(log=log, native=shim is not None)


def _guard_attempts() -> tuple[list[str], list[str]]:
    log = _GUARD.get("log")
    if not log or not log.exists():
        return [], []
    ours, others = [], []
    for line in log.read_text().splitlines():
        comm = next((part[5:] for part in line.split() if part.startswith("comm=")), "python")
        (ours if line.startswith("py-") or comm.startswith("python") else others).append(line)
    return ours, others


def pytest_sessionfinish(session, exitstatus):
    ours, _ = _guard_attempts()
    if ours:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter):
    if not _GUARD:
        return
    ours, others = _guard_attempts()
    mode = "C shim + Python" if _GUARD.get("native") else "Python only (no C compiler)"
    terminalreporter.write_sep("-", f"network guard ({mode})")
    if ours:
        terminalreporter.write_line("FAILED: offmem processes tried to reach outside this machine:", red=True)
        for line in ours[:50]:
            terminalreporter.write_line(f"  {line}")
    else:
        terminalreporter.write_line("no connection or lookup outside loopback by offmem's processes")
    if others:
        terminalreporter.write_line(f"refused for third-party programs driven by the tests ({len(others)}):")
        for line in sorted(set(others))[:20]:
            terminalreporter.write_line(f"  {line}")
