"""Numbered schema migrations.

Each ``mNNN_*`` function runs in its own transaction together with its row in
``schema_migrations``; ``PRAGMA user_version`` mirrors the highest applied number
so the hook can check the schema with one pragma and no table scan.
"""

from __future__ import annotations

import time

MIGRATIONS: list = []


def run_script(conn, script: str) -> None:
    """Execute ``script`` statement by statement inside the caller's transaction.

    ``Connection.executescript`` would COMMIT first, breaking per-migration atomicity.
    """
    import sqlite3

    buf = ""
    for piece in script.split(";"):
        buf += piece + ";"
        if sqlite3.complete_statement(buf):
            if buf.strip(" \n\t;"):
                conn.execute(buf)
            buf = ""
    if buf.strip(" \n\t;"):
        conn.execute(buf)


def migration(fn):
    MIGRATIONS.append(fn)
    return fn


def _fts(table: str, columns: list[str]) -> str:
    """An external-content FTS5 table over ``table`` kept in sync by triggers."""
    cols = ", ".join(columns)
    new = ", ".join(f"new.{c}" for c in columns)
    old = ", ".join(f"old.{c}" for c in columns)
    # unicode61 splits on punctuation and '_', so `vat.py`, `compute_vat` and
    # `cart/vat.py` index their parts; camelCase parts go into search_text.
    return f"""
    CREATE VIRTUAL TABLE {table}_fts USING fts5(
        {cols}, content='{table}', content_rowid='id',
        tokenize = 'unicode61 remove_diacritics 2'
    );
    CREATE TRIGGER {table}_ai AFTER INSERT ON {table} BEGIN
        INSERT INTO {table}_fts(rowid, {cols}) VALUES (new.id, {new});
    END;
    CREATE TRIGGER {table}_ad AFTER DELETE ON {table} BEGIN
        INSERT INTO {table}_fts({table}_fts, rowid, {cols}) VALUES ('delete', old.id, {old});
    END;
    CREATE TRIGGER {table}_au AFTER UPDATE ON {table} BEGIN
        INSERT INTO {table}_fts({table}_fts, rowid, {cols}) VALUES ('delete', old.id, {old});
        INSERT INTO {table}_fts(rowid, {cols}) VALUES (new.id, {new});
    END;
    """


@migration
def m001_initial(conn) -> None:
    run_script(
        conn,
        """
        CREATE TABLE sessions (
            id TEXT PRIMARY KEY,
            project TEXT NOT NULL,
            cwd TEXT,
            transcript_path TEXT,
            source TEXT,
            model TEXT,
            started_at TEXT NOT NULL,
            last_activity_at TEXT NOT NULL,
            stopped_at TEXT,
            ended_at TEXT,
            end_reason TEXT,
            last_assistant_message TEXT,
            prompt_count INTEGER NOT NULL DEFAULT 0,
            event_count INTEGER NOT NULL DEFAULT 0,
            status TEXT NOT NULL DEFAULT 'active'
        );
        CREATE INDEX sessions_project ON sessions(project, started_at);

        CREATE TABLE prompts (
            id INTEGER PRIMARY KEY,
            session_id TEXT NOT NULL,
            project TEXT NOT NULL,
            prompt_number INTEGER NOT NULL,
            prompt_id TEXT,
            text TEXT NOT NULL,
            created_at TEXT NOT NULL,
            UNIQUE (session_id, prompt_number)
        );
        CREATE INDEX prompts_project ON prompts(project, created_at);

        -- The durable spool: every accepted hook event, in arrival order.
        CREATE TABLE events (
            id INTEGER PRIMARY KEY,
            session_id TEXT NOT NULL,
            project TEXT NOT NULL,
            kind TEXT NOT NULL,
            tool_name TEXT,
            tool_use_id TEXT,
            prompt_number INTEGER,
            payload TEXT NOT NULL,
            created_at TEXT NOT NULL,
            status TEXT NOT NULL DEFAULT 'pending',
            processed_at TEXT,
            attempts INTEGER NOT NULL DEFAULT 0,
            last_error TEXT,
            redacted INTEGER NOT NULL DEFAULT 0
        );
        CREATE UNIQUE INDEX events_tool_use ON events(session_id, tool_use_id)
            WHERE tool_use_id IS NOT NULL;
        CREATE INDEX events_status ON events(status, id);
        CREATE INDEX events_session ON events(session_id, id);

        CREATE TABLE observations (
            id INTEGER PRIMARY KEY,
            session_id TEXT NOT NULL,
            project TEXT NOT NULL,
            type TEXT NOT NULL,
            title TEXT NOT NULL,
            subtitle TEXT NOT NULL DEFAULT '',
            narrative TEXT NOT NULL DEFAULT '',
            facts TEXT NOT NULL DEFAULT '[]',
            concepts TEXT NOT NULL DEFAULT '[]',
            files_read TEXT NOT NULL DEFAULT '[]',
            files_modified TEXT NOT NULL DEFAULT '[]',
            search_text TEXT NOT NULL DEFAULT '',
            event_ids TEXT NOT NULL DEFAULT '[]',
            prompt_number INTEGER,
            backend TEXT NOT NULL DEFAULT 'rules',
            origin TEXT NOT NULL DEFAULT 'capture',
            content_hash TEXT,
            created_at TEXT NOT NULL
        );
        CREATE INDEX observations_project ON observations(project, created_at);
        CREATE INDEX observations_session ON observations(session_id, id);
        CREATE UNIQUE INDEX observations_hash ON observations(session_id, content_hash)
            WHERE content_hash IS NOT NULL;

        CREATE TABLE summaries (
            id INTEGER PRIMARY KEY,
            session_id TEXT NOT NULL UNIQUE,
            project TEXT NOT NULL,
            request TEXT NOT NULL DEFAULT '',
            investigated TEXT NOT NULL DEFAULT '',
            learned TEXT NOT NULL DEFAULT '',
            completed TEXT NOT NULL DEFAULT '',
            next_steps TEXT NOT NULL DEFAULT '',
            files_read TEXT NOT NULL DEFAULT '[]',
            files_modified TEXT NOT NULL DEFAULT '[]',
            backend TEXT NOT NULL DEFAULT 'rules',
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL
        );
        CREATE INDEX summaries_project ON summaries(project, updated_at);

        CREATE TABLE meta (
            key TEXT PRIMARY KEY,
            value TEXT NOT NULL
        );
        """
    )
    run_script(
        conn,
        _fts(
            "observations",
            ["title", "subtitle", "narrative", "facts", "concepts", "files_read", "files_modified", "search_text"],
        )
    )
    run_script(
        conn,
        _fts("summaries", ["request", "investigated", "learned", "completed", "next_steps"])
    )
    run_script(conn, _fts("prompts", ["text"]))


@migration
def m002_vector_outbox(conn) -> None:
    """The outbox that keeps Chroma (derived) in step with SQLite (the truth).

    Triggers queue every insert, content update and delete of an observation in
    the same transaction as the change itself, so a crash before Chroma is written
    leaves the work queued; offmem.search.indexer drains it. Existing observations
    are queued once here.
    """
    watched = "type, title, subtitle, narrative, facts, concepts, files_read, files_modified, project, session_id, created_at"
    run_script(
        conn,
        f"""
        CREATE TABLE vector_outbox (
            seq INTEGER PRIMARY KEY,
            kind TEXT NOT NULL,
            ref_id INTEGER NOT NULL,
            op TEXT NOT NULL CHECK (op IN ('upsert', 'delete'))
        );
        CREATE INDEX vector_outbox_ref ON vector_outbox(kind, ref_id);
        CREATE TRIGGER observations_vec_ai AFTER INSERT ON observations BEGIN
            INSERT INTO vector_outbox(kind, ref_id, op) VALUES ('observation', new.id, 'upsert');
        END;
        CREATE TRIGGER observations_vec_au AFTER UPDATE OF {watched} ON observations BEGIN
            INSERT INTO vector_outbox(kind, ref_id, op) VALUES ('observation', new.id, 'upsert');
        END;
        CREATE TRIGGER observations_vec_ad AFTER DELETE ON observations BEGIN
            INSERT INTO vector_outbox(kind, ref_id, op) VALUES ('observation', old.id, 'delete');
        END;
        INSERT INTO vector_outbox(kind, ref_id, op) SELECT 'observation', id, 'upsert' FROM observations ORDER BY id;
        """,
    )


@migration
def m003_spool_ingested(conn) -> None:
    """Names of spool files whose event is stored, written in the same transaction as the event.

    A process killed after that commit but before it removed the file finds the
    name here on its next pass and only removes the file (no second copy of the event).
    """
    run_script(
        conn,
        """
        CREATE TABLE spool_ingested (
            name TEXT PRIMARY KEY,
            ingested_at TEXT NOT NULL
        );
        """,
    )


@migration
def m004_transcript_evidence(conn) -> None:
    """What the worker read from session transcripts (issue 14 item 1), and where it stopped.

    ``transcript_evidence`` holds the redacted items of :mod:`offmem.transcript`
    that memories are built from (the agent's text between tool calls, user
    corrections, compaction summaries), once each: ``(session_id, item_key)`` is
    unique. ``transcript_reads`` holds, per session, the reader's resumable state
    (byte offsets, inode, keys seen), written in the same transaction as the items
    it produced, so a crash repeats a read instead of losing or doubling it.
    ``status`` is ``pending`` until a unit of work takes the item (``used``, with
    the observation it went into).
    """
    run_script(
        conn,
        """
        CREATE TABLE transcript_evidence (
            id INTEGER PRIMARY KEY,
            session_id TEXT NOT NULL,
            project TEXT NOT NULL,
            kind TEXT NOT NULL,
            text TEXT NOT NULL,
            item_key TEXT NOT NULL,
            after_tool_use_id TEXT,
            prompts_since_tool INTEGER NOT NULL DEFAULT 0,
            prompt_index INTEGER NOT NULL DEFAULT 0,
            agent_id TEXT,
            meta TEXT NOT NULL DEFAULT '{}',
            created_at TEXT NOT NULL,
            status TEXT NOT NULL DEFAULT 'pending',
            observation_id INTEGER,
            UNIQUE (session_id, item_key)
        );
        CREATE INDEX transcript_evidence_pending ON transcript_evidence(session_id, status, id);
        CREATE INDEX transcript_evidence_project ON transcript_evidence(project, created_at);
        CREATE TABLE transcript_reads (
            session_id TEXT PRIMARY KEY,
            path TEXT NOT NULL,
            state TEXT NOT NULL,
            items INTEGER NOT NULL DEFAULT 0,
            last_error TEXT,
            updated_at TEXT NOT NULL
        );
        """,
    )



@migration
def m005_team(conn) -> None:
    """Team memory, local side (issue 17; :mod:`offmem.store.team`): the projects shared with the
    team, the outbox of what to publish or forget there (queued by triggers in the transaction of
    the change, only for joined projects and never for pulled rows), and the links between local
    rows and team memories (published from here, or pulled into the mirror)."""
    joined = "EXISTS (SELECT 1 FROM team_projects WHERE project = new.project)"
    parts = ["""
        CREATE TABLE team_projects (
            project TEXT PRIMARY KEY,
            team_key TEXT NOT NULL,
            joined_at TEXT NOT NULL,
            pulled_txid TEXT NOT NULL DEFAULT '0'
        );
        CREATE TABLE team_outbox (
            seq INTEGER PRIMARY KEY,
            kind TEXT NOT NULL CHECK (kind IN ('observation', 'summary')),
            ref_id INTEGER NOT NULL,
            op TEXT NOT NULL CHECK (op IN ('upsert', 'delete')),
            content_id TEXT,
            attempts INTEGER NOT NULL DEFAULT 0,
            last_error TEXT
        );
        CREATE TABLE team_links (
            kind TEXT NOT NULL,
            ref_id INTEGER NOT NULL,
            content_id TEXT NOT NULL UNIQUE,
            mirrored INTEGER NOT NULL DEFAULT 0,
            author TEXT NOT NULL DEFAULT '',
            project_key TEXT NOT NULL DEFAULT '',
            PRIMARY KEY (kind, ref_id)
        );
        """]
    for table, kind, own, watched in (
        ("observations", "observation", "new.origin != 'team'",
         "type, title, subtitle, narrative, facts, files_read, files_modified"),
        ("summaries", "summary", "new.session_id NOT LIKE 'team:%'",
         "request, investigated, learned, completed, next_steps, files_read, files_modified"),
    ):
        parts.append(f"""
        CREATE TRIGGER {table}_team_ai AFTER INSERT ON {table} WHEN {own} AND {joined} BEGIN
            INSERT INTO team_outbox(kind, ref_id, op) VALUES ('{kind}', new.id, 'upsert');
        END;
        CREATE TRIGGER {table}_team_au AFTER UPDATE OF {watched} ON {table} WHEN {own} AND {joined} BEGIN
            INSERT INTO team_outbox(kind, ref_id, op) VALUES ('{kind}', new.id, 'upsert');
        END;
        CREATE TRIGGER {table}_team_ad AFTER DELETE ON {table} BEGIN
            INSERT INTO team_outbox(kind, ref_id, op, content_id)
                SELECT '{kind}', old.id, 'delete', content_id FROM team_links WHERE kind = '{kind}' AND ref_id = old.id;
            DELETE FROM team_links WHERE kind = '{kind}' AND ref_id = old.id;
        END;
        """)
    run_script(conn, "".join(parts))

def _number(fn) -> int:
    return int(fn.__name__[1:4])


LATEST = _number(MIGRATIONS[-1])


def applied(conn) -> set[int]:
    conn.execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations ("
        " version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)"
    )
    return {row[0] for row in conn.execute("SELECT version FROM schema_migrations")}


def pending(conn) -> list:
    done = applied(conn)
    return [fn for fn in MIGRATIONS if _number(fn) not in done]


def migrate(conn) -> list[str]:
    """Apply every pending migration; returns the names applied.

    Safe to call from several processes at once: each migration takes the write
    lock (BEGIN IMMEDIATE) and re-checks that it is still pending.
    """
    names = []
    for fn in MIGRATIONS:
        conn.execute("BEGIN IMMEDIATE")
        try:
            if _number(fn) in applied(conn):
                conn.execute("COMMIT")
                continue
            fn(conn)
            conn.execute(
                "INSERT INTO schema_migrations(version, name, applied_at) VALUES (?, ?, ?)",
                (_number(fn), fn.__name__, time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())),
            )
            conn.execute(f"PRAGMA user_version = {_number(fn)}")
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        names.append(fn.__name__)
    return names
