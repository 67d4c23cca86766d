"""The ``meta`` table: small named values (vector index identity, what each session was given,
the transcript import ledger), and the hook path's light connection.

Standard library only: the SessionStart and prompt-time hooks read memories over
:func:`connect_light` (``_sqlite3`` directly: the ``sqlite3`` package and
:mod:`offmem.store.db` cost a hook several milliseconds) and record here what the
session was given.
"""

import os

from offmem.lean import fastjson
from offmem.store.events import DB_FILE


def get_meta(conn, key: str, default: str | None = None) -> str | None:
    row = conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
    return row[0] if row else default


def set_meta(conn, key: str, value: str) -> None:
    """Set ``key`` (inside the caller's transaction, or on its own in autocommit)."""
    conn.execute(
        "INSERT INTO meta(key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
        (key, value),
    )


def delete_meta(conn, key: str) -> None:
    conn.execute("DELETE FROM meta WHERE key = ?", (key,))


def injected_key(session_id: str) -> str:
    return f"injected:{session_id}"


def add_injected(conn, session_id: str, ids) -> None:
    """Add ``ids`` to meta ``injected:<session_id>`` (what the session was given), in one transaction."""
    key = injected_key(session_id)
    conn.execute("BEGIN IMMEDIATE")
    try:
        row = conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        seen = set(fastjson.loads(row[0])) if row else set()
        seen.update(int(i) for i in ids)
        set_meta(conn, key, fastjson.dumps(sorted(seen)))
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise


def take_injected(conn, session_id: str) -> list:
    """Read and clear, in one transaction, what the session was given: meta ``injected:<id>`` (its
    prompts' memories, returned as recorded) and the SessionStart block's ``start:`` and
    ``summaries:`` entries (after a compaction the context that held them is gone)."""
    key = injected_key(session_id)
    conn.execute("BEGIN IMMEDIATE")
    try:
        row = conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        try:
            given = fastjson.loads(row[0]) if row else []
        except ValueError:
            given = []
        for name in (session_id, "start:" + session_id, "summaries:" + session_id):
            delete_meta(conn, injected_key(name))
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    return given if isinstance(given, list) else []


def connect_light(home: str, timeout_s: float = 2.0):
    """A ``_sqlite3`` connection to the store of ``home`` for the hook's reads and bookkeeping writes
    (rows are tuples unless the caller sets ``row_factory``, e.g. ``_sqlite3.Row``).

    ``synchronous=NORMAL``: in WAL mode a commit then skips the fsync; losing the
    last bookkeeping write to a power cut costs at most one repeated memory.
    """
    import _sqlite3

    conn = _sqlite3.connect(os.path.join(home, DB_FILE), timeout=timeout_s, isolation_level=None)
    conn.execute("PRAGMA synchronous=NORMAL")
    return conn


def schema_current(conn) -> bool:
    """Whether the database has every migration this code knows (one pragma)."""
    from offmem.store import SCHEMA_VERSION

    return conn.execute("PRAGMA user_version").fetchone()[0] >= SCHEMA_VERSION
