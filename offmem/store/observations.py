"""The ``observations`` table: compressed memories, their writes and every read of them.

Standard library only at import (the SessionStart hook reads its candidates here):
``json`` is imported by the functions that write. List columns (facts, concepts,
files, event ids) are JSON text; :func:`observation_dict` parses them.
"""

from offmem.lean import fastjson

JSON_LIST_COLUMNS = ("facts", "concepts", "files_read", "files_modified", "event_ids")
CHUNK = 500  # ids per ``IN (...)`` query, well under SQLite's variable limit
COMPACT = "id, type, title, subtitle, session_id, origin, created_at"


def _marks(n: int) -> str:
    return ",".join("?" * n)


def loads_list(text: str | None) -> list:
    """A JSON list column as a list ([] when empty or unreadable)."""
    if not text:
        return []
    try:
        value = fastjson.loads(text)
    except ValueError:
        return []
    return value if isinstance(value, list) else []


def observation_dict(row) -> dict:
    """A whole row as a dict, list columns parsed, ``search_text`` left out."""
    data = dict(row)
    for key in JSON_LIST_COLUMNS:
        if key in data:
            data[key] = loads_list(data[key])
    data.pop("search_text", None)
    return data


# ---------------------------------------------------------------------- writes


def insert_observation(conn, obs, *, session_id: str, project: str, prompt_number: int | None = None,
                       origin: str = "capture", created_at: str | None = None, search_text: str = "",
                       content_hash: str | None = None) -> int | None:
    """Insert inside the caller's transaction; returns the id, None if a duplicate.

    ``content_hash`` (default: the observation's own) is the per-session dedup key;
    ``offmem import`` passes the one carried by the exported line.
    """
    import json

    from offmem.lean import now_iso
    from offmem.search_text import expand_identifiers

    text = search_text or expand_identifiers(
        " ".join([obs.title, obs.subtitle, obs.narrative, *obs.facts, *obs.files_read, *obs.files_modified])
    )
    cur = conn.execute(
        "INSERT OR IGNORE INTO observations (session_id, project, type, title, subtitle, narrative, facts,"
        " concepts, files_read, files_modified, search_text, event_ids, prompt_number, backend, origin,"
        " content_hash, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            session_id,
            project,
            obs.type,
            obs.title,
            obs.subtitle,
            obs.narrative,
            json.dumps(obs.facts),
            json.dumps(obs.concepts),
            json.dumps(obs.files_read),
            json.dumps(obs.files_modified),
            text,
            json.dumps(obs.event_ids),
            prompt_number,
            obs.backend,
            origin,
            content_hash or obs.content_hash(),
            created_at or now_iso(),
        ),
    )
    return cur.lastrowid if cur.rowcount else None


# ---------------------------------------------------------------------- by id


def _by_id(conn, ids: list) -> dict:
    found: dict = {}
    for start in range(0, len(ids), CHUNK):
        part = list(ids[start:start + CHUNK])
        for row in conn.execute(f"SELECT * FROM observations WHERE id IN ({_marks(len(part))})", part):
            found[int(row["id"])] = row
    return found


def observation_rows(conn, ids: list[int]) -> dict:
    """``{id: row}`` of the rows of ``ids`` that exist, in the order of ``ids`` (rows as the
    connection's row factory makes them)."""
    found = _by_id(conn, ids)
    return {i: found[i] for i in ids if i in found}


def get_observations(conn, ids: list[int]) -> list[dict]:
    """Whole observations (:func:`observation_dict`) of ``ids``, in that order, missing ones left out."""
    found = _by_id(conn, list(ids))
    return [observation_dict(found[i]) for i in ids if i in found]


def observation_time(conn, observation_id: int, project: str) -> str | None:
    """When observation ``observation_id`` of ``project`` was made; None when there is none."""
    row = conn.execute(
        "SELECT created_at FROM observations WHERE id = ? AND project = ?", (int(observation_id), project)
    ).fetchone()
    return row[0] if row else None


# ---------------------------------------------------------------------- lists


def recent_observations(conn, project: str, limit: int = 50) -> list[dict]:
    rows = conn.execute(
        "SELECT * FROM observations WHERE project = ? ORDER BY created_at DESC, id DESC LIMIT ?",
        (project, limit),
    ).fetchall()
    return [observation_dict(r) for r in rows]


def session_observations(conn, session_id: str) -> list[dict]:
    rows = conn.execute("SELECT * FROM observations WHERE session_id = ? ORDER BY id", (session_id,)).fetchall()
    return [observation_dict(r) for r in rows]


def around(conn, project: str, when: str, anchor_id: int | None, before: int, after: int) -> list[dict]:
    """Compact rows of ``project`` just before and from ``when`` (the anchor included), oldest first."""
    key = anchor_id if anchor_id is not None else -1
    older = conn.execute(
        f"SELECT {COMPACT} FROM observations WHERE project = ? AND (created_at < ? OR (created_at = ? AND id < ?))"
        " ORDER BY created_at DESC, id DESC LIMIT ?", (project, when, when, key, before)
    ).fetchall()
    newer = conn.execute(
        f"SELECT {COMPACT} FROM observations WHERE project = ? AND (created_at > ? OR (created_at = ? AND id >= ?))"
        " ORDER BY created_at, id LIMIT ?", (project, when, when, key, after + (1 if anchor_id is not None else 0))
    ).fetchall()
    return [dict(r) for r in reversed(older)] + [dict(r) for r in newer]


def matching_ids(conn, where: str = "", args=(), *, order: str = "", limit: int | None = None,
                 among: list[int] | None = None) -> list[int]:
    """Ids of observations (alias ``o``) passing ``where`` (SQL that starts with `` AND``, as
    :meth:`offmem.search.filters.SearchFilters.sql` writes it), optionally only ``among`` some ids."""
    sql, params = "SELECT o.id FROM observations o WHERE 1", []
    if among is not None:
        if not among:
            return []
        sql += f" AND o.id IN ({_marks(len(among))})"
        params.extend(among)
    sql += where
    params.extend(args)
    if order:
        sql += f" ORDER BY {order}"
    if limit is not None:
        sql += " LIMIT ?"
        params.append(limit)
    return [r[0] for r in conn.execute(sql, params)]


def newest_ids(conn, where: str, args, limit: int) -> list[int]:
    """The newest observations passing ``where``: sorting ids only (whole rows make the sort 7x slower)."""
    return matching_ids(conn, where, args, order="o.created_at DESC, o.id DESC", limit=limit)


def written_after(conn, after_id: int | None, project: str | None, limit: int, *, newest: bool = False) -> list[dict]:
    """Whole observations with an id over ``after_id`` (None: all) of ``project``, in the order they
    were written (``newest``: the newest first), at most ``limit``."""
    where, args = _project(project)
    if after_id is not None:
        where, args = " AND id > ?" + where, [after_id, *args]
    rows = conn.execute(
        f"SELECT * FROM observations WHERE 1{where} ORDER BY id{' DESC' if newest else ''} LIMIT ?", [*args, limit]
    ).fetchall()
    return [observation_dict(r) for r in rows]


def max_id(conn, project: str | None = None) -> int:
    where, args = _project(project)
    return int(conn.execute(f"SELECT max(id) FROM observations WHERE 1{where}", args).fetchone()[0] or 0)


def _project(project: str | None) -> tuple[str, list]:
    return (" AND project = ?", [project]) if project else ("", [])


def type_counts(conn) -> list[tuple[str, int]]:
    rows = conn.execute("SELECT type, count(*) FROM observations GROUP BY type ORDER BY count(*) DESC")
    return [(r[0], r[1]) for r in rows]


def projects(conn) -> list[str]:
    """Every project with at least one observation."""
    return [r[0] for r in conn.execute("SELECT DISTINCT project FROM observations")]


def count(conn, project: str | None = None) -> int:
    where, args = _project(project)
    return int(conn.execute(f"SELECT count(*) FROM observations WHERE 1{where}", args).fetchone()[0])


def iter_rows(conn, project: str | None = None):
    """Every row (of ``project``), oldest first: what ``offmem export`` writes."""
    where, args = _project(project)
    yield from conn.execute(f"SELECT * FROM observations WHERE 1{where} ORDER BY id", args)


def keyword_search(conn, expression: str, project: str, types, limit: int) -> list[dict]:
    """bm25 over ``observations_fts`` for an FTS5 ``expression`` (already quoted), best first."""
    sql = (
        "SELECT o.id, o.type, o.title, o.subtitle, o.project, o.session_id, o.created_at,"
        " -bm25(observations_fts) AS score FROM observations_fts"
        " JOIN observations o ON o.id = observations_fts.rowid WHERE observations_fts MATCH ? AND o.project = ?"
    )
    args: list = [expression, project]
    if types:
        sql += f" AND o.type IN ({_marks(len(types))})"
        args.extend(types)
    return [dict(r) for r in conn.execute(sql + " ORDER BY score DESC, o.id DESC LIMIT ?", [*args, limit])]


# ---------------------------------------------------------------------- SessionStart candidates

# Candidates carry their first file (modified, else read) for scoring; facts and
# file lists stay raw JSON text until a memory is actually shown.
_CANDIDATE = (
    "id, session_id, type, title, subtitle, facts, files_read, files_modified, narrative, origin, created_at,"
    " julianday(created_at) AS jd,"
    " coalesce(json_extract(files_modified, '$[0]'), json_extract(files_read, '$[0]')) AS main_file"
)


def _dicts(conn, sql: str, args) -> list[dict]:
    return [dict(r) for r in conn.execute(sql, args)]


def recent_candidates(conn, project: str, limit: int) -> list[dict]:
    """The newest ``limit`` observations of ``project`` as SessionStart candidates."""
    sql = f"SELECT {_CANDIDATE} FROM observations WHERE project = ? ORDER BY created_at DESC, id DESC LIMIT ?"
    return _dicts(conn, sql, (project, limit))


def important_candidates(conn, project: str, limit: int) -> list[dict]:
    """The newest bugfixes, decisions and remembered notes of ``project``, however old."""
    sql = (
        f"SELECT {_CANDIDATE} FROM observations WHERE project = ?"
        " AND (type IN ('bugfix', 'decision') OR origin = 'remember')"
        " ORDER BY created_at DESC, id DESC LIMIT ?"
    )
    return _dicts(conn, sql, (project, limit))


def file_heat(conn, project: str, window: int) -> dict[str, int]:
    """How often each file was modified (2 points) or read (1) in the newest ``window`` memories."""
    sql = (
        "SELECT f, sum(w) FROM ("
        " SELECT j.value AS f, 2 AS w FROM recent, json_each(recent.files_modified) j"
        " UNION ALL SELECT j.value, 1 FROM recent, json_each(recent.files_read) j)"
        " GROUP BY f ORDER BY 2 DESC LIMIT 64"
    )
    cte = (
        "WITH recent AS (SELECT files_modified, files_read FROM observations WHERE project = ?"
        " ORDER BY created_at DESC LIMIT ?) "
    )
    return {str(f): int(n) for f, n in conn.execute(cte + sql, (project, window)) if f}


def hot_file_candidates(conn, project: str, files: list[str], per_file: int = 2) -> list[dict]:
    """The newest memories that modified each of ``files``."""
    sql = (
        f"SELECT {_CANDIDATE} FROM observations o WHERE project = ? AND EXISTS"
        " (SELECT 1 FROM json_each(o.files_modified) j WHERE j.value = ?)"
        " ORDER BY created_at DESC, id DESC LIMIT ?"
    )
    found: list[dict] = []
    for name in files:
        found.extend(_dicts(conn, sql, (project, name, per_file)))
    return found
