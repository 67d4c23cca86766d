"""The ``transcript_evidence`` and ``transcript_reads`` tables (migration m004).

What the worker read from a session's transcript (the agent's text between tool
calls, user corrections, compaction summaries), redacted, once per item, and
the reader's resumable state per session. :func:`save_read` writes a read's
items and its state in the caller's transaction, so a read is stored exactly
once or not at all.

An item is ``pending`` until a unit of work takes it (:func:`mark_used`, in the
transaction that stores the unit's observations), then ``used``, with the id of
the observation it went into (``offmem forget`` of that observation removes it).

Standard library only.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from offmem.lean import now_iso

EVIDENCE_COLUMNS = (
    "session_id", "project", "kind", "text", "item_key", "after_tool_use_id", "prompts_since_tool",
    "prompt_index", "agent_id", "meta", "created_at",
)


@dataclass
class EvidenceRecord:
    """A stored transcript item, with the event of the tool call it follows (when offmem has it)."""

    id: int
    session_id: str
    kind: str
    text: str
    project: str = ""
    after_tool_use_id: str | None = None
    prompts_since_tool: int = 0
    prompt_index: int = 0
    anchor_event_id: int | None = None  # events.id of after_tool_use_id in this session
    anchor_prompt: int | None = None  # that event's prompt_number
    created_at: str = ""
    meta: dict = field(default_factory=dict)
    status: str = "pending"
    # set by offmem.summarize.units.place(): the turn it belongs to and the tool event it follows
    turn: int | None = None
    after: int | None = None


def _record(row) -> EvidenceRecord:
    try:
        meta = json.loads(row["meta"] or "{}")
    except ValueError:
        meta = {}
    return EvidenceRecord(
        id=row["id"], session_id=row["session_id"], kind=row["kind"], text=row["text"], project=row["project"],
        after_tool_use_id=row["after_tool_use_id"], prompts_since_tool=int(row["prompts_since_tool"] or 0),
        prompt_index=int(row["prompt_index"] or 0), anchor_event_id=row["anchor_event_id"],
        anchor_prompt=row["anchor_prompt"], created_at=row["created_at"],
        meta=meta if isinstance(meta, dict) else {}, status=row["status"],
    )


# ---------------------------------------------------------------------- reading state


def transcript_targets(conn, session_ids: list[str]) -> list[tuple[str, str, str]]:
    """``(session_id, project, transcript_path)`` of those sessions that have a transcript path."""
    if not session_ids:
        return []
    marks = ",".join("?" * len(session_ids))
    rows = conn.execute(
        f"SELECT id, project, transcript_path FROM sessions WHERE id IN ({marks})"
        " AND transcript_path IS NOT NULL AND transcript_path != ''",
        list(session_ids),
    ).fetchall()
    order = {sid: n for n, sid in enumerate(session_ids)}
    return sorted(((r[0], r[1], r[2]) for r in rows), key=lambda t: order.get(t[0], 0))


def read_state(conn, session_id: str) -> tuple[str, dict] | None:
    """``(path, reader state as JSON data)`` saved for a session, or None."""
    row = conn.execute("SELECT path, state FROM transcript_reads WHERE session_id = ?", (session_id,)).fetchone()
    if row is None:
        return None
    try:
        state = json.loads(row[1])
    except ValueError:
        state = {}
    return row[0], state if isinstance(state, dict) else {}


def save_read(conn, session_id: str, project: str, path: str, state: dict, items, error: str | None = None,
              settled: frozenset[str] | set[str] = frozenset()) -> int:
    """Store a read's ``items`` (reader ``Evidence``) and the state it ended in; inside the caller's
    transaction. Returns how many items were new (an item already stored is kept as it is).
    Items whose key is in ``settled`` are stored as ``used``: no unit of work will take them."""
    added = 0
    for item in items:
        cur = conn.execute(
            f"INSERT OR IGNORE INTO transcript_evidence ({', '.join(EVIDENCE_COLUMNS)}, status)"
            f" VALUES ({', '.join('?' * len(EVIDENCE_COLUMNS))}, ?)",
            (
                session_id, project, item.kind, item.text, item.key, item.after_tool_use_id,
                int(item.prompts_since_tool), int(item.prompt_index), item.agent_id,
                json.dumps(item.meta or {}), _created_at(item.timestamp),
                "used" if item.key in settled else "pending",
            ),
        )
        added += cur.rowcount
    conn.execute(
        "INSERT INTO transcript_reads (session_id, path, state, items, last_error, updated_at)"
        " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT(session_id) DO UPDATE SET path = excluded.path,"
        " state = excluded.state, items = transcript_reads.items + excluded.items,"
        " last_error = excluded.last_error, updated_at = excluded.updated_at",
        (session_id, path, json.dumps(state, separators=(",", ":")), added, error, now_iso()),
    )
    return added


def _created_at(timestamp) -> str:
    if isinstance(timestamp, str) and len(timestamp) >= 19 and timestamp[4] == "-" and timestamp[10] == "T":
        return timestamp[:19] + (timestamp[19:23] if timestamp[19:20] == "." else ".000") + "Z"
    return now_iso()


def reset_read(conn, session_id: str) -> None:
    """Forget where reading stopped (the transcript is read again from its start; items already
    stored stay, and are not stored twice)."""
    conn.execute("DELETE FROM transcript_reads WHERE session_id = ?", (session_id,))


def processed_tool_uses(conn, session_id: str) -> set[str]:
    """Tool calls of a session whose events the pipeline already processed (or set aside)."""
    rows = conn.execute("SELECT tool_use_id FROM events WHERE session_id = ? AND status != 'pending'"
                        " AND tool_use_id IS NOT NULL", (session_id,))
    return {r[0] for r in rows}


def excluded_tool_uses(conn, session_id: str) -> set[str]:
    """Tool calls of a session the privacy stage set aside (a file inside ``capture.excluded_paths``)."""
    rows = conn.execute("SELECT tool_use_id FROM events WHERE session_id = ? AND status = 'excluded'"
                        " AND tool_use_id IS NOT NULL", (session_id,))
    return {r[0] for r in rows}


# ---------------------------------------------------------------------- items

_SELECT = (
    "SELECT e.*, ev.id AS anchor_event_id, ev.prompt_number AS anchor_prompt FROM transcript_evidence e"
    " LEFT JOIN events ev ON ev.session_id = e.session_id AND ev.tool_use_id = e.after_tool_use_id"
)


def pending_evidence(conn, session_id: str) -> list[EvidenceRecord]:
    """A session's items no unit has taken yet, in transcript order."""
    rows = conn.execute(_SELECT + " WHERE e.session_id = ? AND e.status = 'pending' ORDER BY e.id", (session_id,))
    return [_record(r) for r in rows]


def session_evidence(conn, session_id: str, kinds: tuple[str, ...] | None = None) -> list[EvidenceRecord]:
    """All of a session's items (any status), in transcript order; only ``kinds`` when given."""
    sql, args = _SELECT + " WHERE e.session_id = ?", [session_id]
    if kinds:
        sql += f" AND e.kind IN ({','.join('?' * len(kinds))})"
        args.extend(kinds)
    return [_record(r) for r in conn.execute(sql + " ORDER BY e.id", args)]


def mark_used(conn, ids: list[int], observation_id: int | None) -> int:
    """Mark still-pending items taken (inside the caller's transaction); returns how many changed."""
    if not ids:
        return 0
    cur = conn.executemany(
        "UPDATE transcript_evidence SET status = 'used', observation_id = ? WHERE id = ? AND status = 'pending'",
        [(observation_id, i) for i in ids],
    )
    return cur.rowcount


def count_evidence(conn, session_id: str | None = None) -> dict:
    """Items by status (for one session, or all)."""
    where, args = ("WHERE session_id = ?", [session_id]) if session_id else ("", [])
    rows = conn.execute(f"SELECT status, count(*) FROM transcript_evidence {where} GROUP BY status", args)
    return {status: n for status, n in rows}


# ---------------------------------------------------------------------- forgetting


def forget_where(conn, *, session: str | None = None, project: str | None = None, before: str | None = None,
                 observation_ids: list[int] | None = None, count_only: bool = False) -> int:
    """Delete (or count) the items of a session, a project, older than ``before``, or taken by those
    observations; selectors narrow each other down. The reading state is kept: a session that goes
    on after a forget is read on from where it was, so what was forgotten is not read back."""
    clauses, args = [], []
    if session:
        clauses.append("session_id = ?")
        args.append(session)
    if project:
        clauses.append("project = ?")
        args.append(project)
    if before:  # like events: an age alone never takes what still waits for its unit of work
        clauses.append("created_at < ? AND status != 'pending'")
        args.append(before)
    if observation_ids:
        clauses.append(f"observation_id IN ({','.join('?' * len(observation_ids))})")
        args.extend(observation_ids)
    if not clauses:
        return 0
    where = " AND ".join(clauses)
    if count_only:
        return int(conn.execute(f"SELECT count(*) FROM transcript_evidence WHERE {where}", args).fetchone()[0])
    return conn.execute(f"DELETE FROM transcript_evidence WHERE {where}", args).rowcount
