"""The ``sessions`` and ``summaries`` tables: one row per Claude Code session, one summary each.

Standard library only at import (the SessionStart hook reads summaries here).
"""

from offmem.lean import now_iso
from offmem.store.observations import loads_list

SUMMARY_LIST_COLUMNS = ("files_read", "files_modified")


def _project(project: str | None, alias: str = "") -> tuple[str, list]:
    return (f" AND {alias}project = ?", [project]) if project else ("", [])


def summary_dict(row) -> dict:
    """A summaries row as a dict, file lists parsed."""
    data = dict(row)
    for key in SUMMARY_LIST_COLUMNS:
        if key in data:
            data[key] = loads_list(data[key])
    return data


# ---------------------------------------------------------------------- sessions


def get_session(conn, session_id: str) -> dict | None:
    row = conn.execute("SELECT * FROM sessions WHERE id = ?", (session_id,)).fetchone()
    return dict(row) if row else None


def count_sessions(conn, project: str | None = None) -> int:
    where, args = _project(project)
    return int(conn.execute(f"SELECT count(*) FROM sessions WHERE 1{where}", args).fetchone()[0])


def projects(conn) -> list[dict]:
    """``{project, sessions, last_activity}`` per project with sessions, most recently active first."""
    rows = conn.execute(
        "SELECT project, count(*) AS sessions, max(last_activity_at) AS last_activity"
        " FROM sessions GROUP BY project ORDER BY last_activity DESC"
    ).fetchall()
    return [dict(r) for r in rows]


def touch_session(conn, session_id: str, project: str, at: str, prompt_count: int = 0) -> None:
    """Make sure an (ended) session row exists for something imported at ``at``, widening its
    time span and prompt count to take it in."""
    conn.execute(
        "INSERT INTO sessions (id, project, started_at, last_activity_at, prompt_count, status)"
        " VALUES (?, ?, ?, ?, ?, 'ended') ON CONFLICT(id) DO UPDATE SET"
        " started_at = min(sessions.started_at, excluded.started_at),"
        " last_activity_at = max(sessions.last_activity_at, excluded.last_activity_at),"
        " prompt_count = max(sessions.prompt_count, excluded.prompt_count)",
        (session_id, project, at, at, prompt_count),
    )


# ---------------------------------------------------------------------- summaries


def upsert_summary(conn, session_id: str, project: str, summary) -> None:
    """Write the summary of ``session_id`` (a :class:`offmem.records.SessionSummary`), replacing its last one."""
    import json

    ts = now_iso()
    conn.execute(
        "INSERT INTO summaries (session_id, project, request, investigated, learned, completed, next_steps,"
        " files_read, files_modified, backend, created_at, updated_at)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
        " ON CONFLICT(session_id) DO UPDATE SET request = excluded.request,"
        " investigated = excluded.investigated, learned = excluded.learned,"
        " completed = excluded.completed, next_steps = excluded.next_steps,"
        " files_read = excluded.files_read, files_modified = excluded.files_modified,"
        " backend = excluded.backend, updated_at = excluded.updated_at",
        (
            session_id,
            project,
            summary.request,
            summary.investigated,
            summary.learned,
            summary.completed,
            summary.next_steps,
            json.dumps(summary.files_read),
            json.dumps(summary.files_modified),
            summary.backend,
            ts,
            ts,
        ),
    )


def summary_row(conn, session_id: str):
    """The summaries row of ``session_id`` as stored (None when it has none)."""
    return conn.execute("SELECT * FROM summaries WHERE session_id = ?", (session_id,)).fetchone()


def write_summary_row(conn, session_id: str, project: str, fields: dict, files_read: list, files_modified: list,
                      backend: str, at: str, *, update: bool) -> None:
    """Insert (or, with ``update``, overwrite) the summary of ``session_id`` as of ``at`` from
    ``fields`` (request, investigated, learned, completed, next_steps, in that order)."""
    import json

    values = (*fields.values(), json.dumps(files_read), json.dumps(files_modified), backend)
    if not update:
        conn.execute(
            "INSERT INTO summaries (session_id, project, request, investigated, learned, completed, next_steps,"
            " files_read, files_modified, backend, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (session_id, project, *values, at, at),
        )
    else:
        conn.execute(
            "UPDATE summaries SET request = ?, investigated = ?, learned = ?, completed = ?, next_steps = ?,"
            " files_read = ?, files_modified = ?, backend = ?, updated_at = ? WHERE session_id = ?",
            (*values, at, session_id),
        )


def has_summary(conn, session_id: str) -> bool:
    return conn.execute("SELECT 1 FROM summaries WHERE session_id = ?", (session_id,)).fetchone() is not None


def changed_since_summary(conn, session_id: str) -> bool:
    """Whether ``session_id`` has an observation newer than its summary."""
    row = conn.execute(
        "SELECT (SELECT max(created_at) FROM observations WHERE session_id = ?) >"
        " (SELECT updated_at FROM summaries WHERE session_id = ?)",
        (session_id, session_id),
    ).fetchone()
    return bool(row and row[0])


def recent_summaries(conn, project: str, limit: int = 5) -> list[dict]:
    rows = conn.execute(
        "SELECT s.*, se.started_at FROM summaries s LEFT JOIN sessions se ON se.id = s.session_id"
        " WHERE s.project = ? ORDER BY s.updated_at DESC LIMIT ?",
        (project, limit),
    ).fetchall()
    return [summary_dict(r) for r in rows]


def latest_summaries(conn, project: str, limit: int) -> list[dict]:
    """For SessionStart: the newest summary first, then the newest ones that still list next steps."""
    rows = conn.execute(
        "SELECT s.id, s.session_id, s.request, s.learned, s.completed, s.next_steps, s.files_modified, s.updated_at,"
        " se.started_at FROM summaries s LEFT JOIN sessions se ON se.id = s.session_id"
        " WHERE s.project = ? ORDER BY s.updated_at DESC, s.id DESC LIMIT ?",
        (project, max(limit * 3, 6)),
    ).fetchall()
    rows = [dict(r) for r in rows]
    if not rows or limit <= 0:
        return []
    chosen = [rows[0]] + [r for r in rows[1:] if (r.get("next_steps") or "").strip()]
    chosen += [r for r in rows[1:] if r not in chosen]
    return chosen[:limit]


def updated_after(conn, after: str | None, project: str | None, limit: int, *, newest: bool = False) -> list[dict]:
    """Summaries (:func:`summary_dict`) updated after ``after`` (None: all) of ``project``, oldest
    first (``newest``: newest first), at most ``limit``."""
    where, args = _project(project)
    if after is not None:
        where, args = " AND updated_at > ?" + where, [after, *args]
    rows = conn.execute(
        f"SELECT * FROM summaries WHERE 1{where} ORDER BY updated_at{' DESC' if newest else ''} LIMIT ?",
        [*args, limit],
    ).fetchall()
    return [summary_dict(r) for r in rows]


def last_update(conn, project: str | None = None) -> str:
    """The newest ``updated_at`` of the summaries (of ``project``); "" when there is none."""
    where, args = _project(project)
    return conn.execute(f"SELECT max(updated_at) FROM summaries WHERE 1{where}", args).fetchone()[0] or ""


def count_summaries(conn, project: str | None = None) -> int:
    where, args = _project(project)
    return int(conn.execute(f"SELECT count(*) FROM summaries WHERE 1{where}", args).fetchone()[0])


def iter_rows(conn, project: str | None = None):
    """Every summaries row (of ``project``), oldest first: what ``offmem export`` writes."""
    where, args = _project(project)
    yield from conn.execute(f"SELECT * FROM summaries WHERE 1{where} ORDER BY id", args)
