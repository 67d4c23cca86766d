"""The local side of team memory: joined projects, the team outbox, and the mirror.

Tables (migration ``m005_team``):

* ``team_projects``: the local projects shared with the team, each with its
  portable key and how far the mirror has pulled (``pulled_txid``).
* ``team_outbox``: what the worker has to publish or forget on the team store,
  queued by triggers in the same transaction as the change to ``observations``
  or ``summaries`` (only for joined projects, never for pulled rows), so a crash
  or an unreachable server never loses it. ``op = 'delete'`` carries the content
  id, since the row is gone.
* ``team_links``: which local row is which team memory (``content_id``): rows
  this machine published (``mirrored = 0``) and rows pulled from the team
  (``mirrored = 1``, with their author). Deleting a linked row (``offmem
  forget``) queues its deletion from the team store; the mirror's own pruning
  removes the link first, so it queues nothing.

Pulled memories are ordinary rows of ``observations`` (``origin = 'team'``,
session ``team:<content id>``, title prefixed with ``[author]``) and ``summaries``
(session ``team:<content id>``) of the local project: every reader of the local
store (the SessionStart hook, prompt-time memories, search, the MCP tools, the
UI) sees them within its own budget, and the hooks never touch the network.

Standard library only.
"""

from __future__ import annotations

from offmem.lean import fastjson

TEAM_ORIGIN = "team"
TEAM_SESSION_PREFIX = "team:"


def _now() -> str:
    from offmem.lean import now_iso

    return now_iso()


# ---------------------------------------------------------------------- joined projects


def joined(conn) -> list[dict]:
    rows = conn.execute("SELECT project, team_key, joined_at, pulled_txid FROM team_projects ORDER BY project")
    return [{"project": r[0], "team_key": r[1], "joined_at": r[2], "pulled_txid": r[3]} for r in rows]


def joined_project(conn, project: str) -> dict | None:
    return next((p for p in joined(conn) if p["project"] == project), None)


def join(conn, project: str, team_key: str) -> int:
    """Share ``project`` under ``team_key`` (inside the caller's transaction); queue what it already
    holds for publishing. Returns how many memories were queued (0 when it was joined already)."""
    row = conn.execute("SELECT team_key FROM team_projects WHERE project = ?", (project,)).fetchone()
    if row is not None:
        if row[0] == team_key:
            return 0
        conn.execute("UPDATE team_projects SET team_key = ?, pulled_txid = '0' WHERE project = ?", (team_key, project))
    else:
        conn.execute("INSERT INTO team_projects (project, team_key, joined_at) VALUES (?, ?, ?)",
                     (project, team_key, _now()))
    queued = conn.execute(
        "INSERT INTO team_outbox (kind, ref_id, op) SELECT 'observation', id, 'upsert' FROM observations"
        " WHERE project = ? AND origin != ? ORDER BY id", (project, TEAM_ORIGIN)).rowcount
    queued += conn.execute(
        "INSERT INTO team_outbox (kind, ref_id, op) SELECT 'summary', id, 'upsert' FROM summaries"
        " WHERE project = ? AND session_id NOT LIKE 'team:%' ORDER BY id", (project,)).rowcount
    return queued


def leave(conn, project: str) -> dict:
    """Stop sharing ``project`` (inside the caller's transaction): nothing more is published or
    pulled, unpublished changes are dropped and the mirrored memories removed. What was
    published stays on the team store (``offmem forget`` removes it)."""
    if conn.execute("DELETE FROM team_projects WHERE project = ?", (project,)).rowcount == 0:
        return {"left": False, "unpublished_dropped": 0, "mirror_removed": 0}
    dropped = conn.execute(
        "DELETE FROM team_outbox WHERE op = 'upsert' AND ("
        " (kind = 'observation' AND ref_id IN (SELECT id FROM observations WHERE project = ?))"
        " OR (kind = 'summary' AND ref_id IN (SELECT id FROM summaries WHERE project = ?)))",
        (project, project)).rowcount
    removed = prune_mirror(conn, project, keep=0)
    return {"left": True, "unpublished_dropped": dropped, "mirror_removed": removed}


def set_pulled(conn, project: str, txid: str) -> None:
    conn.execute("UPDATE team_projects SET pulled_txid = ? WHERE project = ?", (str(txid), project))


# ---------------------------------------------------------------------- outbox


def outbox_count(conn) -> int:
    return int(conn.execute("SELECT count(*) FROM team_outbox").fetchone()[0])


def outbox_batch(conn, limit: int) -> list[dict]:
    rows = conn.execute("SELECT seq, kind, ref_id, op, content_id, attempts FROM team_outbox ORDER BY seq LIMIT ?",
                        (limit,))
    return [{"seq": r[0], "kind": r[1], "ref_id": r[2], "op": r[3], "content_id": r[4], "attempts": r[5]}
            for r in rows]


def outbox_done(conn, seqs) -> None:
    conn.executemany("DELETE FROM team_outbox WHERE seq = ?", [(int(s),) for s in seqs])


def outbox_failed(conn, seqs, error: str) -> None:
    conn.executemany("UPDATE team_outbox SET attempts = attempts + 1, last_error = ? WHERE seq = ?",
                     [(error[:500], int(s)) for s in seqs])


def queue_delete(conn, kind: str, ref_id: int, content_id: str) -> None:
    conn.execute("INSERT INTO team_outbox (kind, ref_id, op, content_id) VALUES (?, ?, 'delete', ?)",
                 (kind, int(ref_id), content_id))


def last_error(conn) -> str | None:
    row = conn.execute("SELECT last_error FROM team_outbox WHERE last_error IS NOT NULL ORDER BY seq LIMIT 1"
                       ).fetchone()
    return row[0] if row else None


def observation_to_publish(conn, ref_id: int) -> dict | None:
    """The local observation ``ref_id`` with its project's team key; None when it is gone, pulled,
    or its project is no longer joined."""
    row = conn.execute(
        "SELECT o.id, o.project, o.type, o.title, o.subtitle, o.narrative, o.facts, o.files_read, o.files_modified,"
        " o.search_text, o.origin, o.created_at, o.session_id, p.team_key FROM observations o"
        " JOIN team_projects p ON p.project = o.project WHERE o.id = ? AND o.origin != ?",
        (int(ref_id), TEAM_ORIGIN)).fetchone()
    if row is None:
        return None
    keys = ("id", "project", "type", "title", "subtitle", "narrative", "facts", "files_read", "files_modified",
            "search_text", "origin", "created_at", "session_id", "team_key")
    data = dict(zip(keys, row))
    for key in ("facts", "files_read", "files_modified"):
        data[key] = _list(data[key])
    return data


def summary_to_publish(conn, ref_id: int) -> dict | None:
    row = conn.execute(
        "SELECT s.id, s.project, s.session_id, s.request, s.investigated, s.learned, s.completed, s.next_steps,"
        " s.files_read, s.files_modified, s.created_at, s.updated_at, p.team_key FROM summaries s"
        " JOIN team_projects p ON p.project = s.project WHERE s.id = ? AND s.session_id NOT LIKE 'team:%'",
        (int(ref_id),)).fetchone()
    if row is None:
        return None
    keys = ("id", "project", "session_id", "request", "investigated", "learned", "completed", "next_steps",
            "files_read", "files_modified", "created_at", "updated_at", "team_key")
    data = dict(zip(keys, row))
    for key in ("files_read", "files_modified"):
        data[key] = _list(data[key])
    return data


def row_exists(conn, kind: str, ref_id: int) -> bool:
    table = "observations" if kind == "observation" else "summaries"
    return conn.execute(f"SELECT 1 FROM {table} WHERE id = ?", (int(ref_id),)).fetchone() is not None


def link(conn, kind: str, ref_id: int, content_id: str, *, mirrored: bool, author: str = "",
         project_key: str = "") -> None:
    conn.execute(
        "INSERT OR REPLACE INTO team_links (kind, ref_id, content_id, mirrored, author, project_key)"
        " VALUES (?, ?, ?, ?, ?, ?)",
        (kind, int(ref_id), content_id, 1 if mirrored else 0, author, project_key))


def linked(conn, content_id: str) -> tuple[str, int] | None:
    row = conn.execute("SELECT kind, ref_id FROM team_links WHERE content_id = ?", (content_id,)).fetchone()
    return (row[0], int(row[1])) if row else None


def published_count(conn) -> int:
    return int(conn.execute("SELECT count(*) FROM team_links WHERE mirrored = 0").fetchone()[0])


def mirror_count(conn, project: str | None = None) -> int:
    if project is None:
        return int(conn.execute("SELECT count(*) FROM team_links WHERE mirrored = 1").fetchone()[0])
    return int(conn.execute(
        "SELECT (SELECT count(*) FROM observations WHERE project = ? AND origin = ?)"
        " + (SELECT count(*) FROM summaries WHERE project = ? AND session_id LIKE 'team:%')",
        (project, TEAM_ORIGIN, project)).fetchone()[0])


# ---------------------------------------------------------------------- mirror


def _list(text) -> list:
    if isinstance(text, list):
        return text
    try:
        value = fastjson.loads(text or "[]")
    except ValueError:
        return []
    return value if isinstance(value, list) else []


def _dumps(value) -> str:
    import json

    return json.dumps(value, ensure_ascii=False)


def label(author: str, text: str) -> str:
    """``text`` labelled with its author, as every face shows a teammate's memory."""
    return f"[{author}] {text}" if author else text


def mirror_memory(conn, project: str, memory: dict) -> int | None:
    """Insert or refresh the pulled team memory ``memory`` (a row of :mod:`offmem.team.server`) as a
    row of local ``project``, inside the caller's transaction. Returns the local id, None when the
    memory is this machine's own (already local)."""
    content_id = memory["content_id"]
    known = conn.execute("SELECT kind, ref_id, mirrored FROM team_links WHERE content_id = ?",
                         (content_id,)).fetchone()
    if known is not None and not known[2]:
        return None  # published from here
    author = str(memory.get("author") or "")
    session_id = TEAM_SESSION_PREFIX + content_id
    created = str(memory.get("created_at") or _now())
    files = [str(f) for f in memory.get("files") or []]
    if memory["kind"] == "summary":
        fields = memory.get("fields") or {}
        values = (project, label(author, str(fields.get("request") or memory.get("title") or "")),
                  str(fields.get("investigated") or ""), str(fields.get("learned") or memory.get("body") or ""),
                  str(fields.get("completed") or ""), str(fields.get("next_steps") or ""),
                  _dumps(list(fields.get("files_read") or [])), _dumps(list(fields.get("files_modified") or files)),
                  created)
        if known is not None:
            conn.execute(
                "UPDATE summaries SET project = ?, request = ?, investigated = ?, learned = ?, completed = ?,"
                " next_steps = ?, files_read = ?, files_modified = ?, updated_at = ? WHERE id = ?",
                (*values, known[1]))
            return int(known[1])
        cur = conn.execute(
            "INSERT INTO summaries (session_id, project, request, investigated, learned, completed, next_steps,"
            " files_read, files_modified, backend, created_at, updated_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 'team', ?, ?)",
            (session_id, *values[:-1], created, created))
        ref_id = int(cur.lastrowid)
        link(conn, "summary", ref_id, content_id, mirrored=True, author=author, project_key=memory["project_key"])
        return ref_id
    facts = [str(f) for f in memory.get("facts") or []]
    title = label(author, str(memory.get("title") or ""))
    words = str(memory.get("search_text") or "").split()  # less the team store's own bucket lexeme
    search_text = " ".join([author, *(w for w in words if not w.startswith("zzbucket"))])
    values = (project, str(memory.get("type") or "discovery"), title, str(memory.get("body") or ""), _dumps(facts),
              _dumps(files), search_text, created)
    if known is not None:
        conn.execute(
            "UPDATE observations SET project = ?, type = ?, title = ?, narrative = ?, facts = ?, files_modified = ?,"
            " search_text = ?, created_at = ? WHERE id = ?", (*values, known[1]))
        return int(known[1])
    cur = conn.execute(
        "INSERT INTO observations (session_id, project, type, title, subtitle, narrative, facts, files_modified,"
        " search_text, backend, origin, content_hash, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 'team', ?, ?, ?)",
        (session_id, values[0], values[1], values[2], f"shared by {author}" if author else "shared", values[3],
         values[4], values[5], values[6], TEAM_ORIGIN, content_id, values[7]))
    ref_id = int(cur.lastrowid)
    link(conn, "observation", ref_id, content_id, mirrored=True, author=author, project_key=memory["project_key"])
    return ref_id


def unmirror(conn, content_id: str) -> bool:
    """Remove the pulled memory ``content_id`` (forgotten on the team store) without queueing
    anything: the link goes first, so the delete triggers find none."""
    known = conn.execute("SELECT kind, ref_id FROM team_links WHERE content_id = ? AND mirrored = 1",
                         (content_id,)).fetchone()
    if known is None:
        return False
    conn.execute("DELETE FROM team_links WHERE content_id = ?", (content_id,))
    table = "observations" if known[0] == "observation" else "summaries"
    conn.execute(f"DELETE FROM {table} WHERE id = ?", (known[1],))
    return True


def prune_mirror(conn, project: str, keep: int) -> int:
    """Keep the newest ``keep`` pulled observations (and summaries) of ``project``; the rest leave
    the local store (not the team's). Returns how many were removed."""
    removed = 0
    for table, where in (("observations", "origin = 'team'"), ("summaries", "session_id LIKE 'team:%'")):
        kind = "observation" if table == "observations" else "summary"
        order = "created_at" if table == "observations" else "updated_at"
        old = [r[0] for r in conn.execute(
            f"SELECT id FROM {table} WHERE project = ? AND {where} ORDER BY {order} DESC, id DESC LIMIT -1 OFFSET ?",
            (project, max(0, int(keep))))]
        for ref_id in old:
            conn.execute("DELETE FROM team_links WHERE kind = ? AND ref_id = ?", (kind, ref_id))
            conn.execute(f"DELETE FROM {table} WHERE id = ?", (ref_id,))
        removed += len(old)
    return removed


def mirrored_ids(conn, content_ids) -> dict:
    """``{content_id: local observation id}`` of the pulled observations among ``content_ids``."""
    found = {}
    ids = list(content_ids)
    for start in range(0, len(ids), 500):
        part = ids[start:start + 500]
        marks = ",".join("?" * len(part))
        for cid, ref in conn.execute(
                f"SELECT content_id, ref_id FROM team_links WHERE kind = 'observation' AND content_id IN ({marks})",
                part):
            found[cid] = int(ref)
    return found
