"""The UI's library side on a real store filled from the real hook fixtures:
forgetting through the shared `offmem forget` (SQLite, FTS, the vector outbox, raw
events) as the UI calls it, and the live feed's cursor."""

from __future__ import annotations

import pytest

from conftest import fixture_payloads, replay
from offmem.config import load_settings
from offmem.worker.pipeline import Pipeline
from offmem.records import Observation
from offmem.store.db import Store, transaction
from offmem.privacy.forget import forget_observations, forget_session
from offmem.retrieval.browse import Cursor, changes_since, current_cursor, feed, observation_detail, session_detail
from offmem.search.indexer import apply_queued as sync_vectors

FIRST = "aec79197-7a7d-4653-bf2b-6e40ad63e1d2"
SECOND = "e6f389e1-d90a-4f2c-ab80-5e36d47af64e"


@pytest.fixture
def store(offmem_home):
    assert all(r.returncode == 0 for r in replay(fixture_payloads()))
    with Store.open(load_settings().db_path) as s:
        Pipeline(s).run_once(force=True)
        yield s


def obs_id(store, title_part: str) -> int:
    return store.conn.execute("SELECT id FROM observations WHERE title LIKE ?", (f"%{title_part}%",)).fetchone()[0]


def fts_ids(store, word: str, table: str = "observations") -> set[int]:
    return {r[0] for r in store.conn.execute(f"SELECT rowid FROM {table}_fts WHERE {table}_fts MATCH ?", (word,))}


def test_forget_a_memory_everywhere_but_keep_shared_events(store):
    fixed = obs_id(store, "Fixed AssertionError")
    failing_run = store.get_observations([fixed])[0]["event_ids"][:3]
    with transaction(store.conn):  # a second memory of the same failing run, as a decision made in its unit is
        failed = store.insert_observation(
            Observation(type="decision", title="Look the rate up per country after the AssertionError",
                        event_ids=failing_run), session_id=FIRST, project="/home/dev/shop-api")
    made_from = {o["id"]: set(o["event_ids"]) for o in store.get_observations([failed, fixed])}
    shared = made_from[failed] & made_from[fixed]
    assert shared, "two memories made from one failing run"
    assert failed in fts_ids(store, "AssertionError")

    result = forget_observations(store, [failed])
    assert result == {"observations": 1, "events": 0}  # the shared event stays for `fixed`
    assert store.get_observations([failed]) == []
    assert failed not in fts_ids(store, "AssertionError") and fixed in fts_ids(store, "AssertionError")
    queued = store.conn.execute("SELECT op FROM vector_outbox WHERE ref_id = ? ORDER BY seq DESC", (failed,)).fetchone()
    assert queued[0] == "delete"  # Chroma follows when the indexer drains the outbox
    assert len(store.events_by_ids(sorted(shared))) == len(shared)

    fixed_events = store.get_observations([fixed])[0]["event_ids"]
    assert forget_observations(store, [fixed])["events"] == len(fixed_events)
    assert store.events_by_ids(fixed_events) == []
    assert forget_observations(store, [fixed]) == {"observations": 0, "events": 0}


def test_pending_events_are_never_deleted(store):
    first = store.conn.execute("SELECT id FROM events WHERE session_id = ? ORDER BY id LIMIT 1", (FIRST,)).fetchone()[0]
    with transaction(store.conn):
        store.conn.execute("UPDATE events SET status = 'pending' WHERE id = ?", (first,))
        oid = store.insert_observation(Observation(type="change", title="made from a pending event", event_ids=[first]),
                                       session_id=FIRST, project="/home/dev/shop-api")
    assert forget_observations(store, [oid])["events"] == 0
    assert store.events_by_ids([first])


def test_forget_a_session_removes_everything_it_left(store):
    assert fts_ids(store, "VAT", "prompts") and fts_ids(store, "vat", "summaries")
    other = store.counts()
    other_obs = len(store.session_observations(SECOND))
    counts = forget_session(store, FIRST)
    assert counts["sessions"] == 1 and counts["summaries"] == 1 and counts["prompts"] == 1
    assert counts["observations"] > 0 and counts["events"] > 0
    for table, column in (("observations", "session_id"), ("summaries", "session_id"), ("prompts", "session_id"),
                          ("events", "session_id"), ("sessions", "id")):
        assert store.conn.execute(f"SELECT count(*) FROM {table} WHERE {column} = ?", (FIRST,)).fetchone()[0] == 0
    assert not fts_ids(store, "VAT", "prompts")  # the first session's prompt is gone from FTS too
    assert len(store.session_observations(SECOND)) == other_obs
    assert store.counts()["observations"] == other["observations"] - counts["observations"]
    deletes = store.conn.execute("SELECT count(*) FROM vector_outbox WHERE op = 'delete'").fetchone()[0]
    assert deletes == counts["observations"]
    assert session_detail(store, FIRST) is None
    assert forget_session(store, FIRST) == {"observations": 0, "summaries": 0, "prompts": 0, "events": 0, "sessions": 0}


def test_sync_vectors_without_an_index_is_a_no_op():
    assert sync_vectors(None) is None


def test_feed_is_newest_first_and_the_cursor_sees_only_what_is_new(store):
    items = feed(store)
    assert [(i["when"], i["kind"]) for i in items] == sorted(((i["when"], i["kind"]) for i in items), reverse=True)
    assert {i["kind"] for i in items} == {"observation", "summary"}
    cursor = current_cursor(store)
    assert changes_since(store, cursor)[0] == []

    with transaction(store.conn):
        new_id = store.insert_observation(Observation(type="decision", title="Keep RATES in one dict"),
                                          session_id=SECOND, project="/home/dev/shop-api")
        store.conn.execute("UPDATE summaries SET updated_at = '2999-01-01T00:00:00.000Z' WHERE session_id = ?",
                           (SECOND,))
    items, after = changes_since(store, cursor)
    assert [(i["kind"], i.get("title") or i["session_id"]) for i in items] == [
        ("observation", "Keep RATES in one dict"), ("summary", SECOND)]
    assert after == Cursor(new_id, "2999-01-01T00:00:00.000Z")
    assert changes_since(store, after)[0] == []
    assert changes_since(store, cursor, project="/elsewhere")[0] == []
    assert Cursor.decode(after.encode()) == after and Cursor.decode("junk") is None


def test_observation_detail_carries_its_raw_events(store):
    oid = obs_id(store, "by changing cart/vat.py")  # the unit of work that edited it
    detail = observation_detail(store, oid)
    assert {e["kind"] for e in detail["events"]} == {"PostToolUse", "PostToolUseFailure"}
    assert any('"tool_name": "Edit"' in e["payload"] for e in detail["events"])
    assert detail["session"]["id"] == FIRST and detail["missing_events"] == []
    assert observation_detail(store, 10_000) is None
