"""``offmem forget``: remove memories, and what they were made from, everywhere offmem keeps them.

What goes, by selector (several selectors narrow each other down):

* observation ids: those observations, and their raw events unless another
  remaining observation was made from them or they still wait to be processed;
* ``session``, ``project``: the observations, summaries, prompts, raw events and
  session rows of that session or project;
* ``older_than``: observations and prompts created, summaries last updated and
  processed events recorded before that moment, and sessions left empty.

What the worker read from the transcripts (``transcript_evidence``: the agent's
words an observation was made from) goes with the observation, session, project
or age it belongs to; where reading stopped is kept, so a session that goes on is
not read back from its start.

Spool files (events the database did not take yet, or set aside as ``.bad``) of
that session or project, or set aside before that date, are overwritten with zeros
and deleted (:mod:`offmem.privacy.spool`).

SQLite and FTS: rows are deleted in one transaction (FTS follows through its
triggers). The FTS indexes are then optimized, which rewrites their segments
without the deleted entries, and with ``secure_delete`` on and a WAL checkpoint
the old bytes are gone from ``offmem.db`` and its WAL. Chroma: the triggers of
migration m002 queue a delete for every removed observation in
``vector_outbox``; the caller applies the queue with the worker's indexer
(:func:`offmem.portability.sync_vectors`), or the running worker does.

Its deletes span every table at once, so this module runs its own SQL, one of the
three places outside :mod:`offmem.store` that do (with :mod:`offmem.search` and
:mod:`offmem.privacy.stage`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from pathlib import Path

from offmem.privacy import spool
from offmem.privacy.stage import checkpoint
from offmem.store import evidence as evidence_table
from offmem.store.db import Store, transaction

FTS_TABLES = ("observations_fts", "summaries_fts", "prompts_fts")


@dataclass
class ForgetQuery:
    ids: list[int] = field(default_factory=list)
    session: str | None = None
    project: str | None = None
    before: str | None = None  # stored-format time (2026-01-31T00:00:00.000Z): strictly older goes

    def empty(self) -> bool:
        return not (self.ids or self.session or self.project or self.before)

    def describe(self) -> str:
        parts = []
        if self.ids:
            parts.append("observation " + ", ".join(f"#{i}" for i in self.ids))
        if self.session:
            parts.append(f"session {self.session}")
        if self.project:
            parts.append(f"project {self.project}")
        if self.before:
            parts.append(f"older than {self.before}")
        return " in ".join(parts) if parts else "nothing"


def _where(query: ForgetQuery, time_column: str, session_column: str = "session_id") -> tuple[str, list]:
    clauses, args = [], []
    if query.session:
        clauses.append(f"{session_column} = ?")
        args.append(query.session)
    if query.project:
        clauses.append("project = ?")
        args.append(query.project)
    if query.before:
        clauses.append(f"{time_column} < ?")
        args.append(query.before)
    return " AND ".join(clauses) or "0", args


def _event_where(query: ForgetQuery) -> tuple[str, list]:
    where, args = _where(query, "created_at")
    if query.before:  # an age alone never takes events still waiting to be processed
        where += " AND status != 'pending'"
    return where, args


def _source_events(conn, observation_ids: list[int]) -> list[int]:
    if not observation_ids:
        return []
    marks = ",".join("?" * len(observation_ids))
    rows = conn.execute(
        f"SELECT DISTINCT j.value FROM observations o, json_each(o.event_ids) j WHERE o.id IN ({marks})",
        observation_ids,
    ).fetchall()
    return [int(r[0]) for r in rows if isinstance(r[0], int)]


def _delete(conn, table: str, where: str, args: list) -> int:
    return conn.execute(f"DELETE FROM {table} WHERE {where}", args).rowcount


def _orphans(event_ids: list[int]) -> str:
    marks = ",".join("?" * len(event_ids))
    return (f"id IN ({marks}) AND status != 'pending' AND NOT EXISTS (SELECT 1 FROM observations o,"
            " json_each(o.event_ids) j WHERE o.session_id = events.session_id AND j.value = events.id)")


def data_home(store: Store) -> Path | None:
    """The data directory of ``store``'s database (its spool is there); None for one in memory."""
    for _seq, name, file in store.conn.execute("PRAGMA database_list"):
        if name == "main" and file:
            return Path(file).parent
    return None


def _spool_files(store: Store, query: ForgetQuery) -> list[Path]:
    home = data_home(store)
    return spool.matching_files(home, query) if home is not None else []


def plan(store: Store, query: ForgetQuery) -> dict:
    """What :func:`forget` would remove, as counts (and the observation ids)."""
    conn = store.conn
    if query.ids:
        marks = ",".join("?" * len(query.ids))
        found = [r[0] for r in conn.execute(f"SELECT id FROM observations WHERE id IN ({marks}) ORDER BY id", query.ids)]
        return {"observation_ids": found, "observations": len(found), "summaries": 0, "prompts": 0,
                "events": len(_source_events(conn, found)), "sessions": 0,
                "missing_ids": sorted(set(query.ids) - set(found))}
    obs_where, obs_args = _where(query, "created_at")
    ids = [r[0] for r in conn.execute(f"SELECT id FROM observations WHERE {obs_where} ORDER BY id", obs_args)]
    count = lambda table, where, args: conn.execute(f"SELECT count(*) FROM {table} WHERE {where}", args).fetchone()[0]  # noqa: E731
    return {
        "observation_ids": ids,
        "observations": len(ids),
        "summaries": count("summaries", *_where(query, "updated_at")),
        "prompts": count("prompts", *_where(query, "created_at")),
        "events": count("events", *_event_where(query)),
        "sessions": count("sessions", *_where(query, "last_activity_at", "id")) if not query.before else None,
        "spool_files": len(_spool_files(store, query)),
    }


def forget(store: Store, query: ForgetQuery) -> dict:
    """Delete what ``query`` selects; returns the counts removed per table (and ``spool_files``
    when spool files were deleted)."""
    if query.empty():
        raise ValueError("forget needs observation ids, a session, a project or a date")
    conn = store.conn
    counts: dict = {}
    if not query.ids:  # first the files the worker has not stored yet, so it cannot store them after the rows go
        shredded = sum(spool.shred(path) for path in _spool_files(store, query))
        if shredded:  # (the key appears only then: callers compare the counts of the tables)
            counts["spool_files"] = shredded
    with transaction(conn):
        if query.ids:
            marks = ",".join("?" * len(query.ids))
            events = _source_events(conn, list(query.ids))
            _forget_evidence(conn, counts, observation_ids=list(query.ids))
            counts["observations"] = conn.execute(f"DELETE FROM observations WHERE id IN ({marks})", query.ids).rowcount
            counts["events"] = _delete(conn, "events", _orphans(events), events) if events else 0
        else:
            counts["observations"] = _delete(conn, "observations", *_where(query, "created_at"))
            counts["summaries"] = _delete(conn, "summaries", *_where(query, "updated_at"))
            counts["prompts"] = _delete(conn, "prompts", *_where(query, "created_at"))
            counts["events"] = _delete(conn, "events", *_event_where(query))
            counts["sessions"] = _forget_sessions(conn, query)
            _forget_evidence(conn, counts, session=query.session, project=query.project, before=query.before)
    if any(counts.values()):
        for table in FTS_TABLES:  # rewrite the index segments without the deleted entries
            conn.execute(f"INSERT INTO {table}({table}) VALUES ('optimize')")
        checkpoint(conn)
    return counts


def forget_observations(store: Store, ids: list[int]) -> dict:
    """Delete observations (and their now unreferenced raw events); returns the counts removed."""
    return forget(store, ForgetQuery(ids=[int(i) for i in ids]))


def forget_session(store: Store, session_id: str) -> dict:
    """Delete a session and everything recorded or derived from it; returns the counts removed."""
    return forget(store, ForgetQuery(session=session_id))


def _forget_evidence(conn, counts: dict, **selectors) -> None:
    """What the worker read from the transcripts of what goes (the key appears only when some did)."""
    gone = evidence_table.forget_where(conn, **selectors)
    if gone:
        counts["transcript_evidence"] = gone


def _forget_sessions(conn, query: ForgetQuery) -> int:
    where, args = _where(query, "last_activity_at", "id")
    if query.before:  # by age: only sessions with nothing left in them
        where += (" AND NOT EXISTS (SELECT 1 FROM events e WHERE e.session_id = sessions.id)"
                  " AND NOT EXISTS (SELECT 1 FROM observations o WHERE o.session_id = sessions.id)"
                  " AND NOT EXISTS (SELECT 1 FROM summaries s WHERE s.session_id = sessions.id)"
                  " AND NOT EXISTS (SELECT 1 FROM prompts p WHERE p.session_id = sessions.id)")
    gone = [r[0] for r in conn.execute(f"SELECT id FROM sessions WHERE {where}", args)]
    for sid in gone:
        conn.execute("DELETE FROM meta WHERE key IN (?, ?, ?, ?)", (f"injected:{sid}", f"injected:start:{sid}",
                                                                   f"injected:summaries:{sid}", f"transcript:{sid}"))
    conn.executemany("DELETE FROM sessions WHERE id = ?", [(sid,) for sid in gone])
    return len(gone)
