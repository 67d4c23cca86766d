"""The ``vector_outbox`` table: observation changes waiting to reach the vector index.

Triggers (migration ``m002_vector_outbox``) queue every observation insert, update
and delete in the same transaction as the change; :mod:`offmem.search.indexer`
drains the queue.
"""


def pending_count(conn) -> int:
    return conn.execute("SELECT count(*) FROM vector_outbox").fetchone()[0]


def has_pending(conn) -> bool:
    return conn.execute("SELECT 1 FROM vector_outbox LIMIT 1").fetchone() is not None


def enqueue_all(conn, kind: str) -> int:
    """Queue every observation for (re)embedding as ``kind``; call inside a transaction."""
    conn.execute("DELETE FROM vector_outbox WHERE kind = ?", (kind,))
    cur = conn.execute(
        "INSERT INTO vector_outbox(kind, ref_id, op) SELECT ?, id, 'upsert' FROM observations ORDER BY id", (kind,)
    )
    return cur.rowcount


def next_batch(conn, limit: int) -> list:
    """The oldest ``limit`` queue entries as ``(seq, kind, ref_id, op)``."""
    return conn.execute("SELECT seq, kind, ref_id, op FROM vector_outbox ORDER BY seq LIMIT ?", (limit,)).fetchall()


def remove(conn, seqs: list[int]) -> None:
    """Drop the queue entries ``seqs`` (applied); inside the caller's transaction."""
    conn.executemany("DELETE FROM vector_outbox WHERE seq = ?", [(s,) for s in seqs])
