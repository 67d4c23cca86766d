"""The worker's privacy pass (issue 12, items 7 and 9).

Item 7: raw tool events are redacted by a stage of their own, from the worker's start and
on every poll interval, whatever the models do: a semantic index that hangs while the
worker starts, or a model call that hangs in the middle of a batch, used to keep every
raw event on disk (for the call's timeout, or for ever).

Item 9: spool files the database never took (set aside as ``.bad``, or ``.tmp`` files a
dying hook left) used to keep raw payloads for ever; the worker now redacts or recovers
them and deletes them after 14 days, and ``offmem forget`` reaches them.

Real hook processes, a real worker process, real files; "hanging" is a real TCP server on
127.0.0.1 that accepts connections and never answers.
"""

from __future__ import annotations

import json
import os
import socket
import sqlite3
import threading
import time
from pathlib import Path

import pytest

from conftest import fixture_payloads, run_hook
from support.durability import minilm_dir, offmem, start_worker, stop_worker  # noqa: F401
from support.polling import wait_for

ORPHAN_AGE_S = 600  # a .tmp this old was left by a hook that died (docs/privacy.md)
BAD_MAX_AGE_S = 14 * 86400  # set-aside spool files are deleted after 14 days (docs/privacy.md)

AWS = "AKIA" + "Q2W3E4R5T6Y7U8I9"
GITHUB = "ghp_" + "Hj6KZx8Cv7Bn6Mq5Wr4Et3Yu2Io1Pa9Sd8Fg7"
PASSWORD = "Vq8#trellis-Kumquat"
SECRETS = (AWS, GITHUB, PASSWORD)


class HangingServer:
    """Accepts TCP connections on 127.0.0.1 and never answers."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(32)
        self.port = self.sock.getsockname()[1]
        self.connections: list[socket.socket] = []
        self.received = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.connections.append(conn)
            threading.Thread(target=self._read, args=(conn,), daemon=True).start()

    def _read(self, conn: socket.socket) -> None:
        try:
            if conn.recv(65536):
                self.received.set()
        except OSError:
            pass

    def close(self) -> None:
        self.sock.close()
        for conn in self.connections:
            conn.close()


@pytest.fixture
def hanging():
    server = HangingServer()
    yield server
    server.close()


@pytest.fixture
def worker(offmem_home):
    procs = []

    def start(**env):
        proc = start_worker({k: str(v) for k, v in env.items()})
        procs.append(proc)
        return proc

    yield start
    for proc in procs:
        stop_worker(proc, timeout=15)


def tool_event(n: int, output: str) -> dict:
    base = next(p for p in fixture_payloads() if p["hook_event_name"] == "PostToolUse")
    return {**base, "tool_use_id": f"toolu_stage_{n}", "tool_name": "Bash",
            "tool_input": {"command": f"cat config/deploy_{n}.env"}, "tool_response": {"stdout": output, "stderr": ""}}


def secret_output(n: int) -> str:
    return f"AWS_ACCESS_KEY_ID={AWS}\nGITHUB_TOKEN={GITHUB}\nDB_PASSWORD={PASSWORD}\nline {n}"


def disk(home: Path) -> bytes:
    return b"".join(p.read_bytes() for p in (home / "offmem.db", home / "offmem.db-wal") if p.exists())


def clean(home: Path) -> bool:
    blob = disk(home)
    return not any(s.encode() in blob for s in SECRETS)


def unredacted(home: Path) -> int:
    conn = sqlite3.connect(f"file:{home / 'offmem.db'}?mode=ro", uri=True, timeout=10)
    try:
        return conn.execute("SELECT count(*) FROM events WHERE redacted = 0").fetchone()[0]
    finally:
        conn.close()


# ---------------------------------------------------------------------- item 7


def test_raw_events_are_redacted_at_start_while_the_semantic_index_hangs(offmem_home, worker, hanging, minilm_dir):  # noqa: F811
    run_hook(fixture_payloads()[0])
    for n in range(3):
        assert run_hook(tool_event(n, secret_output(n))).returncode == 0
    assert not clean(offmem_home)  # the hook stored them raw: the checks below can fail

    worker(OFFMEM_MODELS_DIR=minilm_dir, OFFMEM_EMBEDDER_BACKEND="auto", OFFMEM_CHROMA_MODE="http",
           OFFMEM_CHROMA_HOST="127.0.0.1", OFFMEM_CHROMA_PORT=hanging.port)
    wait_for(lambda: clean(offmem_home) and unredacted(offmem_home) == 0, timeout=15, interval=0.1,
             what="the backlog redacted at start")
    wait_for(lambda: hanging.connections, timeout=60, what="the worker reaching the hanging index")

    # while the index still hangs, a new event is redacted within a poll interval or so
    run_hook(tool_event(9, secret_output(9)))
    started = time.monotonic()
    wait_for(lambda: clean(offmem_home) and unredacted(offmem_home) == 0, timeout=10, interval=0.05,
             what="the new event redacted")
    assert time.monotonic() - started < 5


def test_a_worker_that_cannot_start_still_redacts_what_waits(offmem_home, worker, hanging, minilm_dir):  # noqa: F811
    """A worker that exits at once (it refuses to serve on a non-loopback address) has redacted
    the backlog first, even with a semantic index that would hang its processing."""
    run_hook(fixture_payloads()[0])
    for n in range(3):
        run_hook(tool_event(n, secret_output(n)))
    assert not clean(offmem_home)
    proc = worker(OFFMEM_WORKER_HOST="0.0.0.0", OFFMEM_MODELS_DIR=minilm_dir, OFFMEM_EMBEDDER_BACKEND="auto",
                  OFFMEM_CHROMA_MODE="http", OFFMEM_CHROMA_HOST="127.0.0.1", OFFMEM_CHROMA_PORT=hanging.port)
    assert proc.wait(60) != 0  # it refused to start
    assert clean(offmem_home) and unredacted(offmem_home) == 0


def test_events_arriving_while_a_model_call_hangs_are_redacted_at_once(offmem_home, worker, hanging):
    run_hook(fixture_payloads()[0])
    run_hook(tool_event(0, "ok"))
    worker(OFFMEM_SUMMARIZER_BACKEND="openai", OFFMEM_SUMMARIZER_OPENAI_BASE_URL=f"http://127.0.0.1:{hanging.port}/v1",
           OFFMEM_SUMMARIZER_OPENAI_MODEL="qwen", OFFMEM_SUMMARIZER_TIMEOUT_S=600,
           OFFMEM_SUMMARIZER_UNITS="model")  # the model writes each unit, so the batch waits on it
    assert hanging.received.wait(60), "the batch never reached the model"  # the pipeline now waits on it

    for n in range(1, 4):
        run_hook(tool_event(n, secret_output(n)))
    started = time.monotonic()
    wait_for(lambda: clean(offmem_home) and unredacted(offmem_home) == 0, timeout=10, interval=0.05,
             what="events redacted while the model call hangs")
    assert time.monotonic() - started < 5


# ---------------------------------------------------------------------- item 9


def spool(home: Path) -> Path:
    folder = home / "spool"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def record(session: str, n: int, output: str, **extra) -> dict:
    event = tool_event(n, output)
    event["session_id"] = session
    return {"session_id": session, "project": "/home/dev/shop-api", "kind": "PostToolUse", "tool_name": "Bash",
            "tool_use_id": event["tool_use_id"], "created_at": "2026-11-24T10:00:00.000Z", "payload": event, **extra}


def spool_bytes(home: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted((home / "spool").iterdir()) if p.is_file()}


def raw_secret_in_spool(home: Path) -> list[str]:
    return [name for name, blob in spool_bytes(home).items()
            if any(s.encode() in blob for s in SECRETS) or b"kiwiprivate" in blob]


def test_set_aside_and_orphaned_spool_files_are_redacted_recovered_and_expire(offmem_home, worker):
    run_hook(fixture_payloads()[0])  # the database exists
    folder = spool(offmem_home)
    private = "<private>kiwiprivate notes</private>"
    # a record the database cannot take (no "kind"): the worker sets it aside as .bad
    unstorable = record("s-bad", 1, secret_output(1) + private)
    del unstorable["kind"]
    (folder / "00000000000000000001-1.json").write_text(json.dumps(unstorable))
    # raw payload bytes no record can be built from (no session id)
    (folder / "00000000000000000002-1.raw").write_bytes(
        b"offmem-raw-payload 1\n" + json.dumps({"cwd": "/home/dev/shop-api", "received_at": "2026-11-24T10:00:00.000Z"}).encode()
        + b"\n" + json.dumps({"hook_event_name": "PostToolUse", "tool_name": "Bash", "prompt": private,
                              "tool_response": {"stdout": secret_output(2)}}).encode())
    # set aside by an older offmem: damaged text
    (folder / "00000000000000000003-1.bad").write_bytes(b'{"payload": {"stdout": "' + secret_output(3).encode() + b'", broken')
    # a hook died between writing and renaming: one complete record, one half-written
    whole = folder / "00000000000000000004-1.tmp"
    whole.write_text(json.dumps(record("s-orphan", 4, secret_output(4))))
    half = folder / "00000000000000000005-1.tmp"
    half.write_text(json.dumps(record("s-orphan", 5, secret_output(5)))[:200] + AWS)
    young = folder / "00000000000000000006-1.tmp"  # being written right now: left alone
    young.write_text("{")
    old = time.time() - ORPHAN_AGE_S - 60
    for path in (whole, half):
        os.utime(path, (old, old))
    assert len(raw_secret_in_spool(offmem_home)) == 5

    proc = worker()
    wait_for(lambda: not raw_secret_in_spool(offmem_home) and clean(offmem_home) and unredacted(offmem_home) == 0,
             timeout=30, interval=0.1, what="spool files redacted")
    kept = spool_bytes(offmem_home)
    assert sorted(kept) == ["00000000000000000001-1.bad", "00000000000000000002-1.bad", "00000000000000000003-1.bad",
                            "00000000000000000005-1.bad", "00000000000000000006-1.tmp"]
    for name in ("00000000000000000001-1.bad", "00000000000000000003-1.bad"):
        assert kept[name].startswith(b"offmem-redacted-spool 1\n") and b"[REDACTED:" in kept[name]
    conn = sqlite3.connect(offmem_home / "offmem.db")
    recovered = conn.execute("SELECT payload, redacted FROM events WHERE tool_use_id = 'toolu_stage_4'").fetchone()
    conn.close()
    assert recovered is not None and recovered[1] == 1 and "[REDACTED:aws-access-key]" in recovered[0]

    # 14 days after it was set aside, a file is gone
    expired = folder / "00000000000000000001-1.bad"
    then = time.time() - BAD_MAX_AGE_S - 60
    os.utime(expired, (then, then))
    wait_for(lambda: not expired.exists(), timeout=15, interval=0.1, what="the expired file deleted")
    assert (folder / "00000000000000000002-1.bad").exists()
    assert proc.poll() is None


def test_forget_reaches_spool_files(offmem_home):
    run_hook(fixture_payloads()[0])
    folder = spool(offmem_home)
    waiting_a = folder / "00000000000000000001-1.json"
    waiting_a.write_text(json.dumps(record("sess-a", 1, secret_output(1))))
    waiting_b = folder / "00000000000000000002-1.json"
    waiting_b.write_text(json.dumps(record("sess-b", 2, "ok")))
    damaged_a = folder / "00000000000000000003-1.bad"
    damaged_a.write_bytes(b'{"session_id": "sess-a", "payload": {"stdout": "' + secret_output(3).encode() + b'" broken')
    orphan_a = folder / "00000000000000000004-1.tmp"
    orphan_a.write_text(json.dumps(record("sess-a", 4, secret_output(4))))
    old = time.time() - ORPHAN_AGE_S - 60
    os.utime(orphan_a, (old, old))
    old_bad = folder / "00000000000000000005-1.bad"
    old_bad.write_text('offmem-redacted-spool 1\n{"session_id": "sess-c", "payload": {"stdout": "[REDACTED:aws-access-key]"}}')
    ancient = time.time() - 400 * 86400
    os.utime(old_bad, (ancient, ancient))

    dry = json.loads(offmem("forget", "--session", "sess-a", "--dry-run", "--json").stdout)
    assert dry["planned"]["spool_files"] == 3 and waiting_a.exists()

    out = json.loads(offmem("forget", "--session", "sess-a", "--yes", "--json").stdout)
    assert out["removed"]["spool_files"] == 3
    assert not waiting_a.exists() and not damaged_a.exists() and not orphan_a.exists()
    assert waiting_b.exists() and old_bad.exists()

    out = json.loads(offmem("forget", "--older-than", "30d", "--yes", "--json").stdout)
    assert out["removed"]["spool_files"] == 1  # the set-aside file; an event still waiting is not taken by age
    assert not old_bad.exists() and waiting_b.exists()

    out = json.loads(offmem("forget", "--project", "/home/dev/shop-api", "--yes", "--json").stdout)
    assert out["removed"]["spool_files"] == 1 and not waiting_b.exists()
    assert sorted(p.name for p in folder.iterdir()) == []
