"""Connections for the hook path: ``_sqlite3`` directly, no ``sqlite3`` package, no pathlib.

The ``sqlite3`` package (datetime adapters, its dbapi layer) and :mod:`offmem.store.db`
(pathlib, file modes) cost a hook several milliseconds; these two do what a hook
needs with the C module alone. Rows come back as tuples unless the caller sets
``row_factory`` (``_sqlite3.Row``).
"""

import os

DB_FILE = "offmem.db"


def connect_durable(db_path: str, timeout_s: float):
    """A connection for committing events: migrated when it has to be (WAL, then the
    migrations), ``synchronous=FULL`` so a commit is on disk before the hook exits."""
    import _sqlite3

    from offmem.store.version import SCHEMA_VERSION

    conn = _sqlite3.connect(db_path, timeout=timeout_s, isolation_level=None)
    try:
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        if version < SCHEMA_VERSION:
            conn.execute("PRAGMA journal_mode=WAL")
            from offmem.store.migrations import migrate

            migrate(conn)
        conn.execute("PRAGMA synchronous=FULL")
    except BaseException:
        conn.close()
        raise
    return conn


def connect_light(home: str, timeout_s: float = 2.0):
    """A connection to the store of ``home`` for reads and bookkeeping writes.

    ``synchronous=NORMAL``: in WAL mode a commit then skips the fsync; losing the
    last bookkeeping write to a power cut costs at most one repeated memory.
    """
    import _sqlite3

    conn = _sqlite3.connect(os.path.join(home, DB_FILE), timeout=timeout_s, isolation_level=None)
    conn.execute("PRAGMA synchronous=NORMAL")
    return conn


def schema_current(conn) -> bool:
    """Whether the database has every migration this code knows (one pragma)."""
    from offmem.store.version import SCHEMA_VERSION

    return conn.execute("PRAGMA user_version").fetchone()[0] >= SCHEMA_VERSION
