"""Looking at a database file without changing it: no creation, no migration.

For ``offmem doctor`` and the commands that only report; an unmigrated or damaged
file raises ``sqlite3.DatabaseError`` here, for the caller to explain.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path


def open_plain(path: Path | str, *, readonly: bool = False) -> sqlite3.Connection:
    """A connection that neither creates nor migrates the database."""
    return sqlite3.connect(f"file:{path}?mode={'ro' if readonly else 'rw'}", uri=True,
                           timeout=10.0 if readonly else 5.0)


def integrity_problems(conn, limit: int = 5) -> list[str]:
    """``PRAGMA quick_check``: ``["ok"]``, or up to ``limit`` problems."""
    return [row[0] for row in conn.execute(f"PRAGMA quick_check({int(limit)})")]


def schema_version(conn) -> int:
    """The highest applied migration (what ``migrate`` goes by), else ``user_version``."""
    try:
        row = conn.execute("SELECT max(version) FROM schema_migrations").fetchone()
    except sqlite3.OperationalError:  # no migrations table: never migrated
        row = None
    if row and row[0] is not None:
        return int(row[0])
    return int(conn.execute("PRAGMA user_version").fetchone()[0])


def queue_depth(conn) -> int | None:
    """Events waiting for the pipeline; None when there is no events table (an empty, unmigrated file)."""
    try:
        return conn.execute("SELECT count(*) FROM events WHERE status = 'pending'").fetchone()[0]
    except sqlite3.OperationalError:
        return None


def outbox_size(path: Path | str, *, readonly: bool = True) -> int:
    """Observation changes waiting for the vector index in the database at ``path``."""
    from offmem.store.outbox import pending_count

    conn = open_plain(path, readonly=readonly)
    try:
        return pending_count(conn)
    finally:
        conn.close()
