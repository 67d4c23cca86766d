"""The team store's schema in PostgreSQL: numbered migrations, roles and row-level security.

Everything lives in the schema ``offmem``. The administrator applies the
migrations (:func:`offmem.team.admin.migrate`); members only read the version.

* ``memories``: one row per shared memory (an observation or a session summary),
  keyed by ``content_id`` (publishing the same memory twice changes nothing).
  ``tsv`` (generated, GIN-indexed) serves full-text search; ``txid`` (the writing
  transaction's id) orders pulls without missing a late commit.
* ``tombstones``: content ids forgotten, for the members' mirrors.
* ``grants``: which member (a PostgreSQL login role) may read which project;
  ``maintainer`` lets them forget others' memories of it.

Row-level security: a member sees the memories and tombstones of the projects
granted to them, writes only as themselves (``author_role = current_user``) into
granted projects, and deletes only their own memories, or any memory of a
project they maintain. Members are members of the role ``offmem_member``, which
holds the table privileges; no member owns a table, so the policies bind them.
"""

from __future__ import annotations

SCHEMA = "offmem"
MEMBER_ROLE = "offmem_member"

MIGRATIONS: list[tuple[int, str, str]] = [
    (
        1,
        "initial",
        f"""
        DO $$ BEGIN
            IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{MEMBER_ROLE}') THEN
                CREATE ROLE {MEMBER_ROLE} NOLOGIN;
            END IF;
        END $$;
        CREATE SCHEMA IF NOT EXISTS {SCHEMA};
        GRANT USAGE ON SCHEMA {SCHEMA} TO {MEMBER_ROLE};

        CREATE TABLE {SCHEMA}.grants (
            project_key text NOT NULL,
            member name NOT NULL,
            maintainer boolean NOT NULL DEFAULT false,
            granted_at timestamptz NOT NULL DEFAULT now(),
            PRIMARY KEY (project_key, member)
        );
        CREATE INDEX grants_member ON {SCHEMA}.grants (member);

        CREATE TABLE {SCHEMA}.memories (
            id bigserial PRIMARY KEY,
            content_id text NOT NULL UNIQUE,
            project_key text NOT NULL,
            kind text NOT NULL CHECK (kind IN ('observation', 'summary')),
            type text NOT NULL,
            title text NOT NULL,
            body text NOT NULL DEFAULT '',
            facts jsonb NOT NULL DEFAULT '[]',
            files jsonb NOT NULL DEFAULT '[]',
            fields jsonb NOT NULL DEFAULT '{{}}',
            search_text text NOT NULL DEFAULT '',
            author text NOT NULL,
            author_role name NOT NULL DEFAULT current_user,
            machine_id text NOT NULL,
            created_at timestamptz NOT NULL,
            published_at timestamptz NOT NULL DEFAULT now(),
            txid xid8 NOT NULL DEFAULT pg_current_xact_id(),
            tsv tsvector GENERATED ALWAYS AS (
                setweight(to_tsvector('simple', title), 'A') || to_tsvector('simple', body || ' ' || search_text)
            ) STORED
        );
        CREATE INDEX memories_tsv ON {SCHEMA}.memories USING gin (tsv);
        CREATE INDEX memories_pull ON {SCHEMA}.memories (project_key, txid);
        CREATE INDEX memories_recent ON {SCHEMA}.memories (project_key, created_at DESC);

        CREATE TABLE {SCHEMA}.tombstones (
            content_id text PRIMARY KEY,
            project_key text NOT NULL,
            txid xid8 NOT NULL DEFAULT pg_current_xact_id(),
            deleted_at timestamptz NOT NULL DEFAULT now()
        );
        CREATE INDEX tombstones_pull ON {SCHEMA}.tombstones (project_key, txid);

        -- A forgotten memory leaves a tombstone for the mirrors (the function runs as the
        -- schema's owner: members cannot write tombstones themselves).
        CREATE FUNCTION {SCHEMA}.bury() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER
            SET search_path = pg_catalog, pg_temp AS $$
        BEGIN
            INSERT INTO {SCHEMA}.tombstones (content_id, project_key) VALUES (OLD.content_id, OLD.project_key)
            ON CONFLICT (content_id) DO UPDATE SET txid = pg_current_xact_id(), deleted_at = now();
            RETURN OLD;
        END $$;
        CREATE TRIGGER memories_bury AFTER DELETE ON {SCHEMA}.memories FOR EACH ROW EXECUTE FUNCTION {SCHEMA}.bury();
        -- A memory published again after it was forgotten is alive again.
        CREATE FUNCTION {SCHEMA}.unbury() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER
            SET search_path = pg_catalog, pg_temp AS $$
        BEGIN
            DELETE FROM {SCHEMA}.tombstones WHERE content_id = NEW.content_id;
            RETURN NEW;
        END $$;
        CREATE TRIGGER memories_unbury AFTER INSERT ON {SCHEMA}.memories FOR EACH ROW EXECUTE FUNCTION {SCHEMA}.unbury();

        ALTER TABLE {SCHEMA}.grants ENABLE ROW LEVEL SECURITY;
        ALTER TABLE {SCHEMA}.memories ENABLE ROW LEVEL SECURITY;
        ALTER TABLE {SCHEMA}.tombstones ENABLE ROW LEVEL SECURITY;

        CREATE POLICY own_grants ON {SCHEMA}.grants FOR SELECT USING (member = current_user);
        CREATE POLICY read_granted ON {SCHEMA}.memories FOR SELECT
            USING (project_key IN (SELECT g.project_key FROM {SCHEMA}.grants g WHERE g.member = current_user));
        CREATE POLICY write_own ON {SCHEMA}.memories FOR INSERT
            WITH CHECK (author_role = current_user
                        AND project_key IN (SELECT g.project_key FROM {SCHEMA}.grants g WHERE g.member = current_user));
        CREATE POLICY update_own ON {SCHEMA}.memories FOR UPDATE
            USING (author_role = current_user)
            WITH CHECK (author_role = current_user
                        AND project_key IN (SELECT g.project_key FROM {SCHEMA}.grants g WHERE g.member = current_user));
        CREATE POLICY forget_own_or_maintained ON {SCHEMA}.memories FOR DELETE
            USING (author_role = current_user
                   OR project_key IN (SELECT g.project_key FROM {SCHEMA}.grants g
                                      WHERE g.member = current_user AND g.maintainer));
        CREATE POLICY read_granted_tombstones ON {SCHEMA}.tombstones FOR SELECT
            USING (project_key IN (SELECT g.project_key FROM {SCHEMA}.grants g WHERE g.member = current_user));

        GRANT SELECT ON {SCHEMA}.grants TO {MEMBER_ROLE};
        GRANT SELECT, INSERT, UPDATE, DELETE ON {SCHEMA}.memories TO {MEMBER_ROLE};
        GRANT USAGE ON SEQUENCE {SCHEMA}.memories_id_seq TO {MEMBER_ROLE};
        GRANT SELECT ON {SCHEMA}.tombstones TO {MEMBER_ROLE};
        GRANT SELECT ON {SCHEMA}.migrations TO {MEMBER_ROLE};
        """,
    ),
]

MIGRATIONS.append((
    2,
    "search_function",
    # Full-text search runs in a function owned by the schema's owner that checks the member's
    # grant itself (session_user: the member who logged in). Under row-level security the planner
    # may not use the GIN index for ``tsv @@ query`` (the operator is not leakproof, so it must run
    # after the policy's check, row by row): a search read the whole table (166 ms at 100k, as a
    # member, against 1-50 ms for the same query on the index).
    f"""
    CREATE FUNCTION {SCHEMA}.search_text(query text, key text, lim integer, win integer)
        RETURNS TABLE (cid text, rank real) LANGUAGE plpgsql STABLE SECURITY DEFINER
        SET search_path = pg_catalog, pg_temp AS $$
    BEGIN
        IF NOT EXISTS (SELECT 1 FROM {SCHEMA}.grants g WHERE g.project_key = key AND g.member = session_user) THEN
            RETURN;
        END IF;
        -- Dynamic SQL, planned with the words it searches for: common words walk the newest rows,
        -- rare ones the GIN index (a SQL function's generic plan cannot tell them apart).
        RETURN QUERY EXECUTE
            'SELECT m.content_id, ts_rank_cd(m.tsv, q) FROM (SELECT content_id, tsv FROM {SCHEMA}.memories'
            ' WHERE tsv @@ to_tsquery(''simple'', $1) AND project_key = $2 AND kind = ''observation'''
            ' ORDER BY created_at DESC LIMIT $4) m, to_tsquery(''simple'', $1) q ORDER BY 2 DESC LIMIT $3'
            USING query, key, lim, win;
    END $$;
    REVOKE ALL ON FUNCTION {SCHEMA}.search_text(text, text, integer, integer) FROM PUBLIC;
    GRANT EXECUTE ON FUNCTION {SCHEMA}.search_text(text, text, integer, integer) TO {MEMBER_ROLE};
    """,
))

MIGRATIONS.append((
    3,
    "recent_first_search",
    # Full text, newest first without reading every match: a memory's tsv also holds the lexeme of
    # its 30-day bucket ("zzbucket<n>", added by a trigger to search_text, so the generated tsv
    # has it), and offmem.search_text asks first for the words AND the newest bucket, then the
    # newest 3, then 12, then any time, until it has enough. Without it, words that occur together
    # in many memories (an error message: 30,000 of 1M) made PostgreSQL read every match (its
    # estimate treats words as independent) to keep the newest: 60-300 ms at 1M.
    f"""
    CREATE FUNCTION {SCHEMA}.bucket_lexeme() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        NEW.search_text := regexp_replace(NEW.search_text, ' ?zzbucket[0-9]+$', '')
            || ' zzbucket' || floor(extract(epoch FROM NEW.created_at) / 2592000)::bigint;
        RETURN NEW;
    END $$;
    CREATE TRIGGER memories_bucket BEFORE INSERT OR UPDATE OF search_text, created_at ON {SCHEMA}.memories
        FOR EACH ROW EXECUTE FUNCTION {SCHEMA}.bucket_lexeme();
    UPDATE {SCHEMA}.memories SET search_text = search_text;

    CREATE OR REPLACE FUNCTION {SCHEMA}.search_text(query text, key text, lim integer, win integer)
        RETURNS TABLE (cid text, rank real) LANGUAGE plpgsql VOLATILE SECURITY DEFINER
        SET search_path = pg_catalog, pg_temp SET enable_seqscan = off SET enable_indexscan = on AS $$
    DECLARE
        newest bigint;
        span integer;
        buckets text;
        found integer;
        ranked text := 'SELECT m.content_id, ts_rank_cd(m.tsv, to_tsquery(''simple'', $1)) FROM'
            ' (SELECT content_id, tsv FROM {SCHEMA}.memories WHERE tsv @@ to_tsquery(''simple'', $5)'
            ' AND project_key = $2 AND kind = ''observation'' ORDER BY created_at DESC LIMIT $4) m'
            ' ORDER BY 2 DESC LIMIT $3';
    BEGIN
        IF NOT EXISTS (SELECT 1 FROM {SCHEMA}.grants g WHERE g.project_key = key AND g.member = session_user) THEN
            RETURN;
        END IF;
        SELECT floor(extract(epoch FROM m.created_at) / 2592000)::bigint INTO newest
            FROM {SCHEMA}.memories m WHERE m.project_key = key ORDER BY m.created_at DESC LIMIT 1;
        IF newest IS NULL THEN
            RETURN;
        END IF;
        -- From here on, the GIN index only (restored when the function returns): PostgreSQL's
        -- estimate for several words is often far off, and then it preferred a sequential scan
        -- or a walk of the newest rows that read the whole project when the words were rare.
        PERFORM set_config('enable_indexscan', 'off', true);
        FOREACH span IN ARRAY ARRAY[1, 3, 12] LOOP
            SELECT string_agg('''zzbucket' || b || '''', ' | ') INTO buckets
                FROM generate_series(newest - span + 1, newest) b;
            EXECUTE 'SELECT count(*) FROM (SELECT 1 FROM {SCHEMA}.memories WHERE tsv @@ to_tsquery(''simple'', $1)'
                    ' AND project_key = $2 AND kind = ''observation'' LIMIT $3) s'
                INTO found USING '(' || query || ') & (' || buckets || ')', key, lim;
            IF found >= lim THEN
                RETURN QUERY EXECUTE ranked USING query, key, lim, win, '(' || query || ') & (' || buckets || ')';
                RETURN;
            END IF;
        END LOOP;
        RETURN QUERY EXECUTE ranked USING query, key, lim, win, query;
    END $$;
    """,
))

LATEST = MIGRATIONS[-1][0]

VERSION_TABLE = f"""
CREATE SCHEMA IF NOT EXISTS {SCHEMA};
CREATE TABLE IF NOT EXISTS {SCHEMA}.migrations (
    version integer PRIMARY KEY,
    name text NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now()
);
"""
