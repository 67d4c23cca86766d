"""The SQLite store: the connection, transactions, and :class:`Store`, the facade over the tables.

SQLite is the source of truth; Chroma (offmem.search) is derived from it. Each
table's queries live in its own module, as functions of a connection:
:mod:`~offmem.store.events`, :mod:`~offmem.store.observations`,
:mod:`~offmem.store.sessions` (sessions and summaries), :mod:`~offmem.store.prompts`,
:mod:`~offmem.store.meta`, :mod:`~offmem.store.outbox`, and the file spool in
:mod:`~offmem.store.spool`. :class:`Store` holds one connection and offers them as
methods; the hook calls the table modules directly, over ``_sqlite3`` connections
(:func:`~offmem.store.events.connect_durable`, :func:`~offmem.store.meta.connect_light`).
Only the search (FTS and vector queries, :mod:`offmem.search`), ``offmem forget``
(:mod:`offmem.privacy.forget`) and the privacy stage (:mod:`offmem.privacy.stage`) run
SQL of their own.
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

from offmem.errors import StoreError
from offmem.filemodes import private_database
from offmem.lean import log
from offmem.records import EventRecord, Observation, SessionSummary
from offmem.store import events, meta, observations, outbox, prompts, sessions, spool
from offmem.store.migrations import migrate


def connect(path: Path | str, *, timeout: float = 10.0, readonly: bool = False) -> sqlite3.Connection:
    """Open (and migrate) the database in WAL mode with autocommit semantics.

    Transactions are explicit (``with transaction(conn):``), so a batch of writes
    is atomic and nothing is committed by accident.
    """
    path = Path(path)
    try:
        if readonly:
            conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=timeout, isolation_level=None)
        else:
            private_database(path)  # created 0600, an older 0644 file and its WAL repaired
            conn = sqlite3.connect(path, timeout=timeout, isolation_level=None, check_same_thread=False)
        conn.row_factory = sqlite3.Row
        if not readonly:
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=FULL")
            conn.execute("PRAGMA secure_delete=ON")
            migrate(conn)
    except sqlite3.DatabaseError as exc:
        raise StoreError(
            f"cannot open the offmem database {path}: {exc}. If it is corrupt, move it aside "
            f"(offmem will start a new one) and restore memories with `offmem import`."
        ) from exc
    return conn


CHECKPOINT_BUSY_MS = 2000


def checkpoint(conn: sqlite3.Connection, busy_ms: int = CHECKPOINT_BUSY_MS) -> bool:
    """``wal_checkpoint(TRUNCATE)``, waiting up to ``busy_ms`` for other connections; False when a
    reader or writer kept it from completing (old page images then stay in the WAL until a later one)."""
    previous = conn.execute("PRAGMA busy_timeout").fetchone()[0]
    conn.execute(f"PRAGMA busy_timeout = {int(busy_ms)}")
    try:
        busy, _log, _done = conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
    finally:
        conn.execute(f"PRAGMA busy_timeout = {int(previous)}")
    return busy == 0


class transaction:
    """``with transaction(conn):`` → BEGIN IMMEDIATE … COMMIT, ROLLBACK on error."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    def __enter__(self) -> sqlite3.Connection:
        self.conn.execute("BEGIN IMMEDIATE")
        return self.conn

    def __exit__(self, exc_type, exc, tb) -> None:
        self.conn.execute("COMMIT" if exc_type is None else "ROLLBACK")


class Store:
    """Queries over one connection. Cheap to create; not shared across threads."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    @classmethod
    def open(cls, path: Path | str, **kwargs) -> "Store":
        return cls(connect(path, **kwargs))

    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> "Store":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def set_synchronous(self, level: str) -> None:
        """``PRAGMA synchronous`` for this connection (``FULL`` by default; ``NORMAL`` for a
        backfill that can be re-run)."""
        if level.upper() not in ("OFF", "NORMAL", "FULL", "EXTRA"):
            raise ValueError(f"not a synchronous level: {level!r}")
        self.conn.execute(f"PRAGMA synchronous={level.upper()}")

    # ------------------------------------------------------------------ events

    def ingest_spool_dir(self, home: Path) -> int:
        """Move events the hook had to spool to files into SQLite; returns how many were
        stored (:func:`offmem.store.spool.ingest_spool_dir`)."""
        return spool.ingest_spool_dir(self.conn, home)

    @staticmethod
    def log_error(home: Path, message: str) -> None:
        log(str(home), message, who="store")

    def store_event(self, record: dict) -> bool:
        """Commit one event record (:func:`offmem.store.events.store_event`)."""
        return events.store_event(self.conn, record)

    def pending_events(self, limit: int = 500, *, redacted_only: bool = False) -> list[EventRecord]:
        """Events waiting for the pipeline; ``redacted_only``: those offmem.privacy has cleaned."""
        return events.pending_events(self.conn, limit, redacted_only=redacted_only)

    def session_events(
        self, session_id: str, kinds: tuple[str, ...] | None = None, *, redacted_only: bool = False
    ) -> list[EventRecord]:
        return events.session_events(self.conn, session_id, kinds, redacted_only=redacted_only)

    def events_by_ids(self, ids: list[int]) -> list[EventRecord]:
        return events.events_by_ids(self.conn, ids)

    def queue_depth(self) -> int:
        return events.count_events(self.conn, pending=True)

    def count_session_events(self, session_id: str) -> int:
        return events.count_events(self.conn, session_id=session_id)

    def mark_events(self, ids: list[int], status: str = "done", error: str | None = None, *,
                    only_pending: bool = False) -> int:
        """Set the status of ``ids``; returns how many rows changed. ``only_pending``: only rows
        still ``pending`` (the pipeline's conditional commit compares the count)."""
        return events.mark_events(self.conn, ids, status, error, only_pending=only_pending)

    def note_attempt(self, ids: list[int], error: str) -> None:
        with transaction(self.conn):
            events.note_attempt(self.conn, ids, error)

    # ------------------------------------------------------------------ observations

    def insert_observation(
        self,
        obs: Observation,
        *,
        session_id: str,
        project: str,
        prompt_number: int | None = None,
        origin: str = "capture",
        created_at: str | None = None,
        search_text: str = "",
        content_hash: str | None = None,
    ) -> int | None:
        """Insert inside the caller's transaction; returns the id, None if a duplicate.

        ``content_hash`` (default: the observation's own) is the per-session dedup key;
        ``offmem import`` passes the one carried by the exported line.
        """
        return observations.insert_observation(
            self.conn, obs, session_id=session_id, project=project, prompt_number=prompt_number, origin=origin,
            created_at=created_at, search_text=search_text, content_hash=content_hash,
        )

    def get_observations(self, ids: list[int]) -> list[dict]:
        return observations.get_observations(self.conn, ids)

    def observation_rows(self, ids: list[int]) -> dict:
        """``{id: row}`` of ``ids`` as stored (list columns still JSON text, search text kept)."""
        return observations.observation_rows(self.conn, ids)

    def recent_observations(self, project: str, limit: int = 50) -> list[dict]:
        return observations.recent_observations(self.conn, project, limit)

    def session_observations(self, session_id: str) -> list[dict]:
        return observations.session_observations(self.conn, session_id)

    def observation_time(self, observation_id: int, project: str) -> str | None:
        return observations.observation_time(self.conn, observation_id, project)

    def around(self, project: str, when: str, anchor_id: int | None, before: int, after: int) -> list[dict]:
        """Compact observations of ``project`` around ``when``, oldest first (the timeline)."""
        return observations.around(self.conn, project, when, anchor_id, before, after)

    def keyword_search(self, expression: str, project: str, types, limit: int) -> list[dict]:
        return observations.keyword_search(self.conn, expression, project, types, limit)

    def newest_observation_ids(self, where: str, args, limit: int) -> list[int]:
        return observations.newest_ids(self.conn, where, args, limit)

    def observations_after(self, after_id: int | None, project: str | None, limit: int, *,
                           newest: bool = False) -> list[dict]:
        return observations.written_after(self.conn, after_id, project, limit, newest=newest)

    def last_observation_id(self, project: str | None = None) -> int:
        return observations.max_id(self.conn, project)

    def type_counts(self) -> list[tuple[str, int]]:
        return observations.type_counts(self.conn)

    # ------------------------------------------------------------------ summaries & sessions

    def upsert_summary(self, session_id: str, project: str, summary: SessionSummary) -> None:
        sessions.upsert_summary(self.conn, session_id, project, summary)

    def recent_summaries(self, project: str, limit: int = 5) -> list[dict]:
        return sessions.recent_summaries(self.conn, project, limit)

    def get_summary(self, session_id: str) -> dict | None:
        row = sessions.summary_row(self.conn, session_id)
        return sessions.summary_dict(row) if row is not None else None

    def has_summary(self, session_id: str) -> bool:
        return sessions.has_summary(self.conn, session_id)

    def changed_since_summary(self, session_id: str) -> bool:
        return sessions.changed_since_summary(self.conn, session_id)

    def summaries_after(self, after: str | None, project: str | None, limit: int, *, newest: bool = False) -> list[dict]:
        return sessions.updated_after(self.conn, after, project, limit, newest=newest)

    def last_summary_update(self, project: str | None = None) -> str:
        return sessions.last_update(self.conn, project)

    def get_session(self, session_id: str) -> dict | None:
        return sessions.get_session(self.conn, session_id)

    def session_prompts(self, session_id: str) -> list[str]:
        return prompts.session_prompts(self.conn, session_id)

    def counts(self, project: str | None = None) -> dict:
        conn = self.conn
        return {
            "sessions": sessions.count_sessions(conn, project),
            "prompts": prompts.count_prompts(conn, project),
            "events": events.count_events(conn, project=project),
            "pending_events": events.count_events(conn, project=project, pending=True),
            "observations": observations.count(conn, project),
            "summaries": sessions.count_summaries(conn, project),
        }

    def projects(self) -> list[dict]:
        return sessions.projects(self.conn)

    def observation_projects(self) -> list[str]:
        return observations.projects(self.conn)

    # ------------------------------------------------------------------ meta & outbox

    def get_meta(self, key: str, default: str | None = None) -> str | None:
        return meta.get_meta(self.conn, key, default)

    def set_meta(self, key: str, value: str) -> None:
        meta.set_meta(self.conn, key, value)

    def delete_meta(self, key: str) -> None:
        meta.delete_meta(self.conn, key)

    def outbox_pending(self) -> bool:
        """Whether observation changes wait for the vector index."""
        return outbox.has_pending(self.conn)


def file_size(path: Path) -> int:
    total = 0
    for suffix in ("", "-wal", "-shm"):
        try:
            total += os.path.getsize(f"{path}{suffix}")
        except OSError:
            pass
    return total
