"""offmem forget: by id, session, project and age; from SQLite, FTS (bytes included) and Chroma."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from conftest import fixture_payloads, replay, run_hook
from support.durability import minilm_dir, offmem  # noqa: F401

from offmem.config import load_settings

SESSION1 = "aec79197-7a7d-4653-bf2b-6e40ad63e1d2"
SESSION2 = "e6f389e1-d90a-4f2c-ab80-5e36d47af64e"


def q(home: Path, sql: str, *args):
    conn = sqlite3.connect(home / "offmem.db")
    try:
        return conn.execute(sql, args).fetchall()
    finally:
        conn.close()


def counts(home: Path, session: str | None = None) -> dict:
    where = " WHERE session_id = ?" if session else ""
    args = (session,) if session else ()
    return {t: q(home, f"SELECT count(*) FROM {t}{where}", *args)[0][0] for t in ("observations", "summaries", "prompts", "events")}


@pytest.fixture
def memory(offmem_home) -> Path:
    payloads = fixture_payloads()
    marked = [
        {**p, "prompt": "Where is RATES used? Zebrafinch"} if p["session_id"] == SESSION2 and p["hook_event_name"] == "UserPromptSubmit" else p
        for p in payloads
    ]
    replay(marked)
    offmem("process", "--rules")
    return offmem_home


def disk(home: Path) -> bytes:
    return b"".join(p.read_bytes() for p in (home / "offmem.db", home / "offmem.db-wal") if p.exists())


def test_forget_a_session_removes_every_trace_including_index_bytes(memory):
    assert b"Zebrafinch" in disk(memory)
    assert q(memory, "SELECT count(*) FROM prompts_fts WHERE prompts_fts MATCH 'zebrafinch'") == [(1,)]
    before_other = counts(memory, SESSION1)
    out = json.loads(offmem("forget", "--session", SESSION2, "--yes", "--json").stdout)
    assert out["removed"]["sessions"] == 1 and out["removed"]["observations"] >= 1 and out["removed"]["prompts"] == 1
    assert counts(memory, SESSION2) == {"observations": 0, "summaries": 0, "prompts": 0, "events": 0}
    assert q(memory, "SELECT count(*) FROM sessions WHERE id = ?", SESSION2) == [(0,)]
    assert counts(memory, SESSION1) == before_other
    assert q(memory, "SELECT count(*) FROM prompts_fts WHERE prompts_fts MATCH 'zebrafinch'") == [(0,)]
    assert b"Zebrafinch" not in disk(memory) and b"zebrafinch" not in disk(memory)  # FTS segments were rewritten


def share_an_event(home: Path) -> None:
    """A second memory made from one event of the first, as a decision taken in a unit of work is."""
    from offmem.records import Observation
    from offmem.store.db import Store, transaction

    oid, event_ids = q(home, "SELECT id, event_ids FROM observations WHERE session_id = ? ORDER BY id", SESSION1)[0]
    with Store.open(load_settings().db_path) as store, transaction(store.conn):
        store.insert_observation(Observation(type="decision", title="Look the rate up per country",
                                             event_ids=json.loads(event_ids)[:1]), session_id=SESSION1,
                                 project="/home/dev/shop-api")


def test_forget_observations_by_id_with_their_raw_events(memory):
    share_an_event(memory)
    rows = q(memory, "SELECT id, event_ids FROM observations WHERE session_id = ? ORDER BY id", SESSION1)
    uses = {}
    for oid, event_ids in rows:
        for e in json.loads(event_ids):
            uses.setdefault(e, []).append(oid)
    shared = {e for e, users in uses.items() if len(users) > 1}
    assert shared, "the fixture session has an event two observations were made from"
    target_id, event_ids = next((oid, json.loads(ev)) for oid, ev in rows if set(json.loads(ev)) & shared)
    own = [e for e in event_ids if e not in shared]
    out = json.loads(offmem("forget", str(target_id), "999999", "--yes", "--json").stdout)
    assert out["planned"]["missing_ids"] == [999999]
    assert out["removed"] == {"observations": 1, "events": len(own)}
    assert q(memory, "SELECT count(*) FROM observations WHERE id = ?", target_id) == [(0,)]
    kept = sorted(set(event_ids) & shared)  # still the source of another memory
    assert [r[0] for r in q(memory, f"SELECT id FROM events WHERE id IN ({','.join('?' * len(event_ids))})", *event_ids)] == kept
    assert q(memory, "SELECT count(*) FROM observations_fts WHERE rowid = ?", target_id) == [(0,)]
    assert len(q(memory, "SELECT id FROM observations WHERE session_id = ?", SESSION1)) == len(rows) - 1


def test_forget_a_project_leaves_other_projects(memory, tmp_path):
    other = str(tmp_path / "other-project")
    run_hook({**fixture_payloads()[0], "session_id": "other-1", "cwd": other})
    run_hook({**fixture_payloads()[1], "session_id": "other-1", "cwd": other, "prompt": "Keep this one"})
    out = json.loads(offmem("forget", "--project", "/home/dev/shop-api", "--yes", "--json").stdout)
    assert out["removed"]["sessions"] == 2
    assert q(memory, "SELECT project FROM sessions") == [(other,)]
    assert q(memory, "SELECT text FROM prompts") == [("Keep this one",)]
    assert counts(memory)["observations"] == 0


def test_forget_older_than_a_date(memory):
    q_conn = sqlite3.connect(memory / "offmem.db")
    q_conn.execute("UPDATE observations SET created_at = '2020-01-01T00:00:00.000Z' WHERE session_id = ?", (SESSION1,))
    q_conn.execute("UPDATE prompts SET created_at = '2020-01-01T00:00:00.000Z' WHERE session_id = ?", (SESSION1,))
    q_conn.commit()
    q_conn.close()
    old = counts(memory, SESSION1)["observations"]
    dry = json.loads(offmem("forget", "--older-than", "2021-06-01", "--dry-run", "--json").stdout)
    assert dry["planned"]["observations"] == old and dry["removed"] is None
    assert counts(memory, SESSION1)["observations"] == old
    out = json.loads(offmem("forget", "--older-than", "2021-06-01", "--yes", "--json").stdout)
    assert out["removed"]["observations"] == old and out["removed"]["prompts"] == 1
    assert counts(memory, SESSION1)["observations"] == 0 and counts(memory, SESSION2)["observations"] > 0
    assert q(memory, "SELECT count(*) FROM sessions") == [(2,)]  # both still hold newer rows


def test_confirmation_is_asked_unless_yes(memory):
    before = counts(memory)
    declined = offmem("forget", "--session", SESSION1, input="n\n", check=False)
    assert declined.returncode == 1 and "Forget session" in declined.stderr
    assert counts(memory) == before
    accepted = offmem("forget", "--session", SESSION1, input="y\n")
    assert "forgot" in accepted.stdout
    assert counts(memory, SESSION1)["observations"] == 0


@pytest.mark.parametrize(
    "args,message",
    [((), "say what to forget"), (("3", "--session", "x"), "not both"), (("--older-than", "last tuesday"), "cannot read the time")],
)
def test_bad_requests_say_how_to_fix_them(memory, args, message):
    result = offmem("forget", *args, "--yes", check=False)
    assert result.returncode == 1 and message in result.stderr


def test_forgotten_memories_leave_chroma(memory, monkeypatch, minilm_dir):  # noqa: F811
    monkeypatch.setenv("OFFMEM_MODELS_DIR", str(minilm_dir))
    from offmem.portability import sync_vectors
    from offmem.search.chroma import ChromaIndex
    from offmem.search.documents import vector_id
    from offmem.search.indexer import instance_id
    from offmem.store.db import Store

    settings = load_settings()
    assert "updated" in sync_vectors(settings)
    with Store.open(settings.db_path) as store:
        instance = instance_id(store, create=False)
    ids = [r[0] for r in q(memory, "SELECT id FROM observations WHERE session_id = ?", SESSION1)]
    index = ChromaIndex.from_settings(settings)
    total = index.count()
    assert total == counts(memory)["observations"]
    assert len(index.collection().get(ids=[vector_id(instance, i) for i in ids])["ids"]) == len(ids)
    index._client = index._collection = None  # the CLI process writes the store next

    out = json.loads(offmem("forget", "--session", SESSION1, "--yes", "--json").stdout)
    assert out["vectors"].startswith("semantic index: updated")
    index = ChromaIndex.from_settings(settings)
    assert index.count() == total - len(ids)
    assert index.collection().get(ids=[vector_id(instance, i) for i in ids])["ids"] == []
    assert q(memory, "SELECT count(*) FROM vector_outbox") == [(0,)]
