"""Forget a memory or a whole session, everywhere offmem keeps it.

Deleting rows from SQLite is enough for SQLite and FTS (the FTS tables follow
their content tables through triggers) and queues the Chroma deletion in
``vector_outbox`` (triggers of migration m002) in the same transaction; the
caller then drains the outbox with the worker's indexer so the vectors go at
once, and the worker retries later if Chroma is unavailable. ``secure_delete``
is on, so the freed pages are zeroed.

The raw events behind a forgotten memory go too, unless another remaining
memory was made from them or they are still waiting to be processed.
"""

from __future__ import annotations

from offmem.store.db import Store, transaction


def _delete_orphan_events(conn, ids: list[int]) -> int:
    if not ids:
        return 0
    marks = ",".join("?" * len(ids))
    cur = conn.execute(
        f"DELETE FROM events WHERE id IN ({marks}) AND status != 'pending' AND NOT EXISTS ("
        " SELECT 1 FROM observations o, json_each(o.event_ids) j"
        " WHERE o.session_id = events.session_id AND j.value = events.id)",
        ids,
    )
    return cur.rowcount


def forget_observations(store: Store, ids: list[int]) -> dict:
    """Delete observations (and their now unreferenced raw events); returns what went."""
    found = store.get_observations(list(ids))
    if not found:
        return {"observations": 0, "events": 0, "ids": []}
    event_ids = sorted({int(e) for obs in found for e in obs.get("event_ids", []) if str(e).isdigit()})
    gone = [obs["id"] for obs in found]
    with transaction(store.conn):
        store.conn.executemany("DELETE FROM observations WHERE id = ?", [(i,) for i in gone])
        events = _delete_orphan_events(store.conn, event_ids)
    return {"observations": len(gone), "events": events, "ids": gone}


def forget_session(store: Store, session_id: str) -> dict:
    """Delete a session and everything recorded or derived from it; returns counts."""
    conn = store.conn
    counts: dict = {}
    with transaction(conn):
        for table in ("observations", "summaries", "prompts", "events"):
            counts[table] = conn.execute(f"DELETE FROM {table} WHERE session_id = ?", (session_id,)).rowcount
        counts["sessions"] = conn.execute("DELETE FROM sessions WHERE id = ?", (session_id,)).rowcount
        conn.execute("DELETE FROM meta WHERE key = ?", (f"injected:{session_id}",))
    return counts


def sync_vectors(indexer) -> str | None:
    """Apply queued vector deletions now; a note (not an error) when it must wait for the worker."""
    if indexer is None:
        return None
    try:
        indexer.index_pending()
    except Exception as exc:  # noqa: BLE001 - the outbox keeps the work for the worker's next pass
        return f"the semantic index will drop it on the worker's next pass ({type(exc).__name__}: {exc})"
    return None
