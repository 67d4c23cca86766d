"""The events table: what a hook payload becomes, and its commit.

Standard library only (no ``sqlite3`` package, no ``json`` module): the hook imports
this on every tool call. The same code builds and stores an event wherever it comes
from: the hook (:mod:`offmem.hooks.capture`), a spooled file the worker ingests
(:mod:`offmem.store.spool`) and an imported transcript (:mod:`offmem.portability.transcripts`).

A record (:func:`build_record`) is the payload as it will be kept: containers nested
deeper than ``MAX_DEPTH`` as JSON text, ``<private>`` spans removed, long texts and lists
clipped, prompts and messages redacted (:mod:`offmem.privacy`), with the project it
belongs to. :func:`store_event` commits it with its session, prompt and event rows in
one transaction, over :func:`connect_durable`'s connection (the hook's other, lighter
connection is :func:`offmem.store.meta.connect_light`). The reads the pipeline
makes of the events table are at the end.
"""

import os
import sys

from offmem.lean import fastjson, now_iso
from offmem.project import project_root

DB_FILE = "offmem.db"  # in the data directory

HANDLED = frozenset(
    {
        "SessionStart",
        "UserPromptSubmit",
        "PostToolUse",
        "PostToolUseFailure",
        "PreCompact",
        "SubagentStop",
        "Stop",
        "SessionEnd",
    }
)
TOOL_EVENTS = frozenset({"PostToolUse", "PostToolUseFailure"})
# offmem's own MCP tools would otherwise be remembered as memories of memories.
OWN_TOOL_PREFIX = "mcp__offmem__"

# Containers nested deeper than this are stored as their JSON text, so nothing after the
# hook (clipping, redaction, the pipeline) recurses deeper than this into a payload.
MAX_DEPTH = 64
# Recursion headroom to parse and serialize a deeply nested payload (the C stack it takes
# at this depth is a few MB at most); a deeper one is spooled raw (offmem.store.spool).
RECURSION_LIMIT = 5000
MAX_LIST_ITEMS = 200
PRIVATE_OPEN, PRIVATE_CLOSE = "<private>", "</private>"
NOTIFICATION_OPEN = "<task-notification>"  # how Claude Code (2.1.332) opens the prompt a background agent's end makes
# Payload fields that are identifiers, never text a person or the model wrote.
PRIVATE_KEEP = frozenset({"session_id", "transcript_path", "cwd", "hook_event_name", "tool_name", "tool_use_id",
                          "prompt_id", "permission_mode", "agent_id", "agent_type", "agent_transcript_path"})
CUT_WINDOW = 200  # how far clip looks for whitespace to cut at


# --------------------------------------------------------------------------- records


def clip(value, limit: int):
    """Truncate oversized strings and lists, keeping head and tail with a marker.

    The cuts move to the nearest whitespace (up to ``CUT_WINDOW`` characters), so a
    token is kept whole or dropped whole: half a key left at a cut is not a key the
    redactor can recognize any more.
    """
    if isinstance(value, str):
        if len(value) <= limit:
            return value
        head = limit * 2 // 3
        start = len(value) - (limit - head)  # where the kept tail starts
        for i in range(head, max(0, head - CUT_WINDOW), -1):
            if value[i - 1].isspace():
                head = i
                break
        for i in range(start, min(len(value), start + CUT_WINDOW)):
            if value[i].isspace():
                start = i + 1
                break
        return f"{value[:head]}\n…[offmem: {start - head} chars truncated]…\n{value[start:]}"
    if isinstance(value, dict):
        return {k: clip(v, limit) for k, v in value.items()}
    if isinstance(value, list):
        if len(value) > MAX_LIST_ITEMS:
            keep_head = MAX_LIST_ITEMS * 3 // 4
            keep_tail = MAX_LIST_ITEMS - keep_head
            cut = len(value) - keep_head - keep_tail
            value = value[:keep_head] + [f"…[offmem: {cut} items truncated]…"] + value[-keep_tail:]
        return [clip(v, limit) for v in value]
    return value


def strip_private_fields(payload: dict) -> dict:
    """``payload`` with ``<private>…</private>`` removed from every text in it but the
    identifiers Claude Code assigns: prompts, /compact instructions, Stop messages, tool
    inputs, and tool outputs (Write and Edit echo their input there). Runs before
    :func:`clip`, which could otherwise cut an opening tag away and keep what it hid."""
    return {k: (v if k in PRIVATE_KEEP else _strip_private_value(v)) for k, v in payload.items()}


def _strip_private_value(value):
    if isinstance(value, str):
        return strip_private(value) if PRIVATE_OPEN in value else value
    if isinstance(value, dict):
        return {k: _strip_private_value(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_strip_private_value(v) for v in value]
    return value


def strip_private(text: str) -> str:
    """Remove ``<private>…</private>`` spans (an unclosed tag hides the rest)."""
    out = []
    pos = 0
    while True:
        start = text.find(PRIVATE_OPEN, pos)
        if start < 0:
            out.append(text[pos:])
            break
        out.append(text[pos:start])
        end = text.find(PRIVATE_CLOSE, start)
        if end < 0:
            break
        pos = end + len(PRIVATE_CLOSE)
    return "".join(out).strip()


class NotAPayload(ValueError):
    """Input that is not a hook payload (not JSON, not an object, no session id): logged and dropped."""


def _int_or_digits(text: str):
    try:
        return int(text)
    except ValueError:  # more digits than Python converts (4300): keep them, as text
        return text


class headroom:
    """``with headroom():`` the recursion limit raised to RECURSION_LIMIT, restored after."""

    def __enter__(self) -> None:
        self.previous = sys.getrecursionlimit()
        if self.previous < RECURSION_LIMIT:
            sys.setrecursionlimit(RECURSION_LIMIT)

    def __exit__(self, *exc) -> None:
        if self.previous < RECURSION_LIMIT:
            sys.setrecursionlimit(self.previous)


def parse(raw: bytes) -> dict:
    """The payload object; NotAPayload when the input is not a JSON object. Any other failure
    (a payload nested too deep, no memory) propagates: the caller keeps the raw bytes."""
    text = raw.decode("utf-8", errors="replace")
    try:
        payload = fastjson.loads(text)
    except ValueError:  # malformed, or an integer over the digit limit: the json module tells which
        import json

        try:
            payload = json.loads(text, parse_int=_int_or_digits)
        except json.JSONDecodeError as exc:
            raise NotAPayload(str(exc)) from None
    if not isinstance(payload, dict):
        raise NotAPayload(f"expected a JSON object, got {type(payload).__name__}")
    return payload


def _bounded(value, depth: int = MAX_DEPTH):
    """``value`` with the containers nested deeper than ``depth`` replaced by their compact JSON text."""
    if isinstance(value, dict):
        if depth <= 0:
            return fastjson.dumps(value)
        return {k: _bounded(v, depth - 1) for k, v in value.items()}
    if isinstance(value, list):
        if depth <= 0:
            return fastjson.dumps(value)
        return [_bounded(v, depth - 1) for v in value]
    return value


def _clean(value):
    """Text SQLite can take: a lone surrogate (which a JSON escape can carry, real text never
    does) is not valid UTF-8 and becomes '?'."""
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return value.encode("utf-8", "replace").decode("utf-8")
    return value


def _text(payload: dict, key: str) -> str | None:
    value = payload.get(key)
    if value is None:
        return None
    return _clean(value) if isinstance(value, str) else fastjson.dumps(value)


def _string(payload: dict, key: str) -> str | None:
    """A field that must be text to be stored as such (a payload may carry anything)."""
    value = payload.get(key)
    return _clean(value) if isinstance(value, str) else None


def _is_excluded(project: str, cwd: str, settings: dict) -> bool:
    for pattern in settings["excluded_projects"] + settings["excluded_paths"]:
        pattern = os.path.expanduser(str(pattern)).rstrip("/")
        if not pattern:
            continue
        for path in (project, cwd):
            if path == pattern or path.startswith(pattern + "/"):
                return True
    return False


def build_record(payload: dict, settings: dict, fallback_cwd: str | None = None) -> dict | None:
    """Normalize a payload into a spool record, or None when it is not captured.

    A ``cwd`` that cannot name a directory (missing, empty, holding a NUL) gives way
    to ``fallback_cwd``: the hook's own working directory when None (Claude Code runs
    hooks in the session's), the one recorded with a raw spool file for the worker.
    """
    kind = payload.get("hook_event_name")
    if not isinstance(kind, str) or kind not in HANDLED:
        return None
    session_id = _clean(payload.get("session_id"))
    if not isinstance(session_id, str) or not session_id:
        raise NotAPayload(f"{kind} payload without a session_id")
    tool_name = _clean(payload.get("tool_name"))
    tool_name = tool_name if isinstance(tool_name, str) else None
    if kind == "SubagentStop" and not payload.get("agent_type"):
        return None  # the compaction's own generation: the transcript's summary record is read instead
    if kind in TOOL_EVENTS:
        if not tool_name:
            raise NotAPayload(f"{kind} payload without a tool_name")
        if tool_name in settings["skip_tools"] or tool_name.startswith(OWN_TOOL_PREFIX):
            return None
    given = payload.get("cwd")
    cwd = _clean(given) if isinstance(given, str) and given else None
    if cwd is not None and "\x00" not in cwd:
        where = cwd
    elif fallback_cwd is None:
        where = os.getcwd()
    elif fallback_cwd:
        where = fallback_cwd
    else:
        raise ValueError("the payload names no usable working directory, and none was recorded with it")
    project = project_root(where)
    if _is_excluded(project, cwd or where, settings):
        return None
    payload = _bounded(payload)
    payload = strip_private_fields(payload)  # first: a clipped-away opening tag would expose the rest
    if kind == "UserPromptSubmit":
        prompt = payload.get("prompt") if isinstance(payload.get("prompt"), str) else ""
        if not prompt.strip():
            return None  # an all-private prompt records nothing for that turn
        if prompt.lstrip().startswith(NOTIFICATION_OPEN):
            return None  # Claude Code's word that a background task ended, not typed (an agent's SubagentStop has its report)
        payload["prompt"] = prompt.strip()
    payload = clip(payload, max(256, int(settings["max_field_chars"])))
    if kind in ("UserPromptSubmit", "Stop", "PreCompact"):
        # Prompts and Stop messages are redacted here, before they reach the prompts
        # table's FTS index; tool events are redacted by the worker's first step
        # (offmem.privacy.stage), which keeps `re` off the PostToolUse path.
        # SessionStart/SessionEnd carry no user text (ids, paths, source, reason).
        from offmem.privacy import redact_hook_payload

        payload = redact_hook_payload(payload)
    tool_use_id = _clean(payload.get("tool_use_id"))
    return {
        "session_id": session_id,
        "project": project,
        "kind": kind,
        "tool_name": tool_name,
        "tool_use_id": tool_use_id if isinstance(tool_use_id, str) and tool_use_id else None,
        "created_at": now_iso(),
        "payload": payload,
    }


# --------------------------------------------------------------------------- commit


def connect_durable(db_path: str, timeout_s: float):
    """A ``_sqlite3`` connection for committing events (no ``sqlite3`` package: the hook
    imports this): migrated when it has to be (WAL, then the migrations),
    ``synchronous=FULL`` so a commit is on disk before the hook exits."""
    import _sqlite3

    from offmem.store import SCHEMA_VERSION

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


_SESSION_UPSERT = """
INSERT INTO sessions (id, project, cwd, transcript_path, started_at, last_activity_at, event_count)
VALUES (?, ?, ?, ?, ?, ?, 1)
ON CONFLICT(id) DO UPDATE SET
    last_activity_at = excluded.last_activity_at,
    transcript_path = COALESCE(excluded.transcript_path, sessions.transcript_path),
    event_count = sessions.event_count + 1
"""


def store_event(conn, record: dict, spool_name: str | None = None) -> bool:
    """Commit one event; returns False when it was a repeated delivery.

    ``spool_name`` (the worker ingesting a spool file) is recorded in the same
    transaction, and a name already recorded makes this a repeated delivery.
    """
    sid, kind, ts = record["session_id"], record["kind"], record["created_at"]
    payload = record["payload"]
    conn.execute("BEGIN IMMEDIATE")
    try:
        if spool_name is not None and not conn.execute(
            "INSERT OR IGNORE INTO spool_ingested (name, ingested_at) VALUES (?, ?)", (spool_name, now_iso())
        ).rowcount:
            conn.execute("ROLLBACK")  # stored by an earlier pass that did not get to remove the file
            return False
        conn.execute(
            _SESSION_UPSERT,
            (sid, record["project"], _string(payload, "cwd"), _string(payload, "transcript_path"), ts, ts),
        )
        prompt_number = conn.execute(
            "SELECT prompt_count FROM sessions WHERE id = ?", (sid,)
        ).fetchone()[0]
        if kind == "UserPromptSubmit":
            prompt_number += 1
            conn.execute(
                "UPDATE sessions SET prompt_count = ?, status = 'active' WHERE id = ?",
                (prompt_number, sid),
            )
            conn.execute(
                "INSERT OR IGNORE INTO prompts (session_id, project, prompt_number, prompt_id, text, created_at)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (sid, record["project"], prompt_number, _text(payload, "prompt_id"), _text(payload, "prompt") or "", ts),
            )
        elif kind == "SessionStart":
            conn.execute(
                "UPDATE sessions SET source = ?, model = COALESCE(?, model), status = 'active' WHERE id = ?",
                (_text(payload, "source"), _text(payload, "model"), sid),
            )
        elif kind == "Stop":
            conn.execute(
                "UPDATE sessions SET stopped_at = ?, status = 'stopped',"
                " last_assistant_message = COALESCE(?, last_assistant_message) WHERE id = ?",
                (ts, _text(payload, "last_assistant_message"), sid),
            )
        elif kind == "SessionEnd":
            conn.execute(
                "UPDATE sessions SET ended_at = ?, end_reason = ?, status = 'ended' WHERE id = ?",
                (ts, _text(payload, "reason"), sid),
            )
        cur = conn.execute(
            "INSERT OR IGNORE INTO events"
            " (session_id, project, kind, tool_name, tool_use_id, prompt_number, payload, created_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (
                sid,
                record["project"],
                kind,
                record["tool_name"],
                record["tool_use_id"],
                prompt_number,
                fastjson.dumps(payload),
                ts,
            ),
        )
        if cur.rowcount == 0:  # same tool_use_id delivered again: keep the first
            conn.execute("ROLLBACK")
            return False
        conn.execute("COMMIT")
        return True
    except BaseException:
        try:
            conn.execute("ROLLBACK")
        except Exception:  # noqa: BLE001 - the connection may already be unusable
            pass
        raise


# --------------------------------------------------------------------------- reads


def event_record(row):
    """An ``events`` row as an :class:`offmem.records.EventRecord` (payload parsed; {} when unreadable)."""
    import json

    from offmem.records import EventRecord

    try:
        payload = json.loads(row["payload"])
    except ValueError:
        payload = {}
    return EventRecord(
        id=row["id"],
        session_id=row["session_id"],
        project=row["project"],
        kind=row["kind"],
        tool_name=row["tool_name"],
        payload=payload if isinstance(payload, dict) else {},
        created_at=row["created_at"],
        prompt_number=row["prompt_number"],
    )


def pending_events(conn, limit: int = 500, *, redacted_only: bool = False) -> list:
    """Events waiting for the pipeline; ``redacted_only``: those offmem.privacy has cleaned."""
    where = " AND redacted = 1" if redacted_only else ""
    rows = conn.execute(
        f"SELECT * FROM events WHERE status = 'pending'{where} ORDER BY id LIMIT ?", (limit,)
    ).fetchall()
    return [event_record(row) for row in rows]


def session_events(conn, session_id: str, kinds: tuple[str, ...] | None = None, *,
                   redacted_only: bool = False) -> list:
    sql = "SELECT * FROM events WHERE session_id = ?" + (" AND redacted = 1" if redacted_only else "")
    args: list = [session_id]
    if kinds:
        sql += f" AND kind IN ({','.join('?' * len(kinds))})"
        args.extend(kinds)
    return [event_record(r) for r in conn.execute(sql + " ORDER BY id", args)]


def events_by_ids(conn, ids: list[int]) -> list:
    if not ids:
        return []
    rows = conn.execute(
        f"SELECT * FROM events WHERE id IN ({','.join('?' * len(ids))}) ORDER BY id", ids
    ).fetchall()
    return [event_record(r) for r in rows]


def count_events(conn, *, project: str | None = None, session_id: str | None = None, pending: bool = False) -> int:
    """How many events (of one project, of one session; only those still pending)."""
    where, args = ["1"], []
    if project:
        where.append("project = ?")
        args.append(project)
    if session_id is not None:
        where.append("session_id = ?")
        args.append(session_id)
    if pending:
        where.append("status = 'pending'")
    return conn.execute(f"SELECT count(*) FROM events WHERE {' AND '.join(where)}", args).fetchone()[0]


def mark_events(conn, ids: list[int], status: str = "done", error: str | None = None, *,
                only_pending: bool = False) -> int:
    """Set the status of ``ids``; returns how many rows changed. ``only_pending``: only rows
    still ``pending`` (the pipeline's conditional commit compares the count)."""
    ts = now_iso()
    cur = conn.executemany(
        "UPDATE events SET status = ?, processed_at = ?, last_error = ? WHERE id = ?"
        + (" AND status = 'pending'" if only_pending else ""),
        [(status, ts, error, i) for i in ids],
    )
    return cur.rowcount


def note_attempt(conn, ids: list[int], error: str) -> None:
    """Count a failed attempt on ``ids`` (inside the caller's transaction)."""
    conn.executemany(
        "UPDATE events SET attempts = attempts + 1, last_error = ? WHERE id = ?",
        [(error[:500], i) for i in ids],
    )
