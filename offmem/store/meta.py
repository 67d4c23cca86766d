"""The ``meta`` table: small named values (vector index identity, what each session was given,
the transcript import ledger). Standard library only: the hook records injected ids here."""

from offmem.lean import fastjson


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
