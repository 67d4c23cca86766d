"""The schema version the hook checks with one pragma is the last migration's number."""

from __future__ import annotations

import sqlite3

from conftest import fixture_payloads, run_hook
from offmem.store import SCHEMA_VERSION
from offmem.store.migrations import LATEST, MIGRATIONS


def test_the_hooks_schema_version_is_the_last_migration():
    assert SCHEMA_VERSION == LATEST == len(MIGRATIONS)


def test_the_hook_brings_an_older_database_up_to_date(offmem_home):
    offmem_home.mkdir(parents=True)
    conn = sqlite3.connect(offmem_home / "offmem.db", isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    MIGRATIONS[0](conn)  # an offmem of the first schema made it
    conn.execute("CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL,"
                 " applied_at TEXT NOT NULL)")
    conn.execute("INSERT INTO schema_migrations VALUES (1, ?, '2026-01-01T00:00:00.000Z')", (MIGRATIONS[0].__name__,))
    conn.execute("PRAGMA user_version = 1")
    conn.close()
    assert run_hook({**fixture_payloads()[0]}, env={"OFFMEM_WORKER_AUTOSTART": "0"}).returncode == 0
    conn = sqlite3.connect(offmem_home / "offmem.db")
    try:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == LATEST
        assert conn.execute("SELECT max(version) FROM schema_migrations").fetchone()[0] == LATEST
        assert conn.execute("SELECT count(*) FROM events").fetchone()[0] == 1
    finally:
        conn.close()
